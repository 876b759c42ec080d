package comm_test

import (
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
	const n = 3
	secret := "3f1e-test-secret"
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: []byte(secret)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for r := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			"CHORUS_TEST_CHILD=allreduce",
			"CHORUS_RANK="+strconv.Itoa(r),
			"CHORUS_SIZE="+strconv.Itoa(n),
			"CHORUS_RDZV="+ln.Addr().String(),
			"CHORUS_SECRET="+secret,
		)
		outs[r] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[r], outs[r]
		require.NoError(t, cmd.Start())
		cmds[r] = cmd
	}
	for r, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "rank %d: %s", r, outs[r])
		require.Contains(t, outs[r].String(), "rank "+strconv.Itoa(r)+" of 3 ok")
	}
}
