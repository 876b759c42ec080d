package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func text(t *testing.T, s *System) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, s.WriteText(&b))
	return b.String()
}

func TestWriteTextRing(t *testing.T) {
	out := text(t, build(t, Options{}, "a", "a", "a", "b", "b", "b"))
	require.Contains(t, out, "\nring: 0 -> 1 -> 2 | 3 -> 4 -> 5 | (0)  (2 host crossings)\n")

	out = text(t, build(t, Options{}, "a", "b", "a", "b", "a", "b"))
	require.Contains(t, out, "\nring: 0 -> 2 -> 4 | 1 -> 3 -> 5 | (0)  (2 host crossings)\n")

	out = text(t, build(t, Options{}, "a", "a", "a"))
	require.Contains(t, out, "\nring: 0 -> 1 -> 2 -> (0)  (0 host crossings)\n")
	require.True(t, strings.HasPrefix(out, "system: 3 ranks on 1 host;"), out)

	out = text(t, build(t, Options{}, "a"))
	require.True(t, strings.HasPrefix(out, "system: 1 rank on 1 host;"), out)
}

func TestWriteTextHostsAndMatrix(t *testing.T) {
	out := text(t, build(t, Options{}, "a", "a", "b", "b"))
	lines := strings.Split(out, "\n")
	require.Equal(t, "system: 4 ranks on 2 hosts; transport by host (shm inside, quic between)", lines[0])
	require.Contains(t, lines, "host 1: b (id b)")
	require.Contains(t, lines, "  rank 3  pid 103  numa 1  cpus 6-7")
	require.Contains(t, lines, "transports (- self, q quic, s shm):")
	require.Contains(t, lines, "     0 1 2 3")
	require.Contains(t, lines, "  0  - s q q")
	require.Contains(t, lines, "  3  q q s -")
}

func TestWriteTextTree(t *testing.T) {
	out := text(t, build(t, Options{}, "a", "a", "b", "b", "c", "c"))
	require.Contains(t, out, strings.Join([]string{
		"tree (root 0):",
		"  0  [host 0]",
		"  |-- 1",
		"  |-- 2  [host 1]",
		"  |   `-- 3",
		"  `-- 4  [host 2]",
		"      `-- 5",
		""}, "\n"))
}

func TestWriteTextForced(t *testing.T) {
	out := text(t, build(t, Options{Transport: "tcp"}, "a", "b"))
	require.Contains(t, out, "transport forced to tcp for every pair")
	require.Contains(t, out, "transports (- self, t tcp):")
	require.Contains(t, out, "\n  1  t -\n")
}

func TestWriteTextUnknownCPUs(t *testing.T) {
	s, err := Build([]Peer{{Rank: 0, Host: "h"}}, Options{})
	require.NoError(t, err)
	require.Contains(t, text(t, s), "host 0: ? (id h)\n  rank 0  pid 0  numa ?  cpus ?\n")
}

func TestWriteTextManyRanks(t *testing.T) {
	hosts := make([]string, 100)
	for r := range hosts {
		hosts[r] = fmt.Sprintf("h%d", r/10)
	}
	out := text(t, build(t, Options{}, hosts...))
	require.Contains(t, out, "transports between hosts (q quic, s shm) (above 64 ranks the rank matrix is left out):")
	require.Contains(t, out, "\n  host 0  s q q q q q q q q q\n")
	require.Contains(t, out, "\n  host 9  q q q q q q q q q s\n")
	require.NotContains(t, out, "- self")
	require.Contains(t, out, "(10 host crossings)")
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after == 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteTextError(t *testing.T) {
	s := build(t, Options{}, "a", "b")
	require.EqualError(t, s.WriteText(&failWriter{after: 3}), "disk full")
}

func TestSummaryJSON(t *testing.T) {
	s := build(t, Options{}, "a", "b", "a")
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	require.EqualValues(t, 3, got["size"])
	require.Equal(t, []any{0.0, 2.0, 1.0}, got["ring"])
	require.EqualValues(t, 2, got["crossings"])
	require.Equal(t, []any{-1.0, 0.0, 0.0}, got["tree"])
	require.Equal(t, []any{0.0, 1.0, 0.0}, got["host_of"])
	require.Equal(t, []any{
		[]any{"shm", "quic", "shm"},
		[]any{"quic", "shm", "quic"},
		[]any{"shm", "quic", "shm"},
	}, got["transports"])
	require.NotContains(t, got, "forced_transport")
	require.Len(t, got["peers"], 3)
	require.Len(t, got["hosts"], 2)

	var back Summary
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s.Summary(), back)
}

func TestWriteTextOversubscribed(t *testing.T) {
	peers := peersOn("a", "a", "a", "b")
	for r := range 3 {
		peers[r].CPUs = NewCPUSet(0, 1)
	}
	s, err := Build(peers, Options{})
	require.NoError(t, err)
	out := text(t, s)
	require.Contains(t, out, "host 0: a (id a)  oversubscribed: 3 processes on 2 CPUs\n")
	require.Contains(t, out, "host 1: b (id b)\n")
}
