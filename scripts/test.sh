#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, vet, and every test under the race detector.
# It needs Go (1.26) and the Go module proxy; the tests that need more install it themselves with
# apt-get when run as root (gcc for the C ABI, python3-torch for the PyTorch backend, about 2.5
# minutes the first time) and skip, saying why, where they cannot. Run it from anywhere inside
# the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
go version
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# Under the race detector with -short: every test, with the largest matrices trimmed (the race
# detector makes the 1M-element and 33-rank cases take minutes and finds nothing more in them).
go test -race -short -timeout 20m ./...
# Then everything in full, without the race detector.
go test -timeout 20m ./...
