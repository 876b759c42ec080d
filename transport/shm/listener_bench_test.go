//go:build linux

package shm

import (
	"context"
	"testing"

	"github.com/chorus-cc/chorus/transport"
)

// BenchmarkPingPongWithListener is BenchmarkPingPong/4096B with one more Recv pending on each
// end for a tag that never comes, as the communicator's abort listener keeps one.
func BenchmarkPingPongWithListener(b *testing.B) {
	a, c := testPair(b, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	never := transport.Tag{Seq: 1 << 60}
	for _, conn := range []transport.Conn{a, c} {
		go func() { _ = conn.Recv(ctx, never, func([]byte) error { return nil }) }()
	}
	benchPingPong(b, 4<<10, a, c, true)
}
