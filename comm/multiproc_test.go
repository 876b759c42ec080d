package comm_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// TestInitFromEnvProcesses runs ranks as separate processes (this test binary, re-executed) that
// meet through an authenticated store and all-reduce over QUIC.
func TestInitFromEnvProcesses(t *testing.T) {
	outs, errs := runRanks(t, 3, "allreduce")
	for r := range outs {
		require.NoError(t, errs[r], "rank %d: %s", r, outs[r])
		require.Contains(t, outs[r], "rank "+strconv.Itoa(r)+" of 3 ok")
	}
}

// A rank killed in the middle of an all-reduce makes the others fail with an error that names
// it, found by the transport (the peer's connection ends: QUIC's idle timeout, 10 s by default),
// not by the collective timeout, which the children leave at its 5-minute default.
func TestRankKilledMidAllReduce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the QUIC idle timeout (10 s); runs in the full suite")
	}
	outs, errs := runRanks(t, 3, "sigkill")
	require.Error(t, errs[1], "rank 1 was to kill itself")
	for _, r := range []int{0, 2} {
		require.NoError(t, errs[r], "rank %d: %s", r, outs[r])
		t.Logf("rank %d: %s", r, outs[r])
		require.Contains(t, outs[r], fmt.Sprintf("rank %d failed", r))
		require.Contains(t, outs[r], "rank 1", "rank %d's error does not name the dead rank: %s", r, outs[r])
		require.NotContains(t, outs[r], "timed out after 5m", "rank %d waited for the collective timeout", r)
	}
}

// runRanks runs n ranks as processes (this test binary in child mode) that meet through an
// authenticated store, and returns each one's output and exit error.
func runRanks(t testing.TB, n int, mode string) ([]string, []error) {
	return runRanksAt(t, n, mode, "127.0.0.1:0", func(int) []string { return nil })
}

// runRanksAt is runRanks with the store listening on storeAddr and rank r's command prefixed by
// wrap(r) (such as "ip netns exec NAME").
func runRanksAt(t testing.TB, n int, mode, storeAddr string, wrap func(rank int) []string) ([]string, []error) {
	t.Helper()
	secret := "3f1e-test-secret"
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: []byte(secret)})
	ln, err := net.Listen("tcp", storeAddr)
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cmds := make([]*exec.Cmd, n)
	bufs := make([]*strings.Builder, n)
	for r := range cmds {
		argv := append(wrap(r), os.Args[0], "-test.run=^$")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(),
			"CHORUS_TEST_CHILD="+mode,
			"CHORUS_RANK="+strconv.Itoa(r),
			"CHORUS_SIZE="+strconv.Itoa(n),
			"CHORUS_RDZV="+ln.Addr().String(),
			"CHORUS_SECRET="+secret,
			"GORACE=atexit_sleep_ms=0",
		)
		bufs[r] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = bufs[r], bufs[r]
		require.NoError(t, cmd.Start())
		cmds[r] = cmd
	}
	outs := make([]string, n)
	errs := make([]error, n)
	for r, cmd := range cmds {
		errs[r] = cmd.Wait()
		outs[r] = bufs[r].String()
	}
	return outs, errs
}
