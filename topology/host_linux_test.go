package topology

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// childPeer runs the test binary as a child in new namespaces (clone flags) and returns the
// description it reports of itself. It skips where the namespaces cannot be made.
func childPeer(t *testing.T, cloneflags uintptr) Peer {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=local", HostIDEnv+"=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("cannot create namespaces here (needs root or CAP_SYS_ADMIN): %v", err)
	}
	require.NoError(t, err, "child: %s", stderr.String())
	p, err := Decode(out)
	require.NoError(t, err)
	require.Equal(t, 3, p.Rank)
	return p
}

func TestHostIDAcrossNamespaces(t *testing.T) {
	t.Setenv(HostIDEnv, "")
	self, err := Local(0)
	require.NoError(t, err)

	t.Run("same namespaces", func(t *testing.T) {
		p := childPeer(t, 0)
		require.Equal(t, self.Host, p.Host)
		require.NotEqual(t, self.PID, p.PID)
	})
	t.Run("network namespace", func(t *testing.T) {
		// Same kernel, same file system: path-named Unix sockets and memfds still work, so one host.
		p := childPeer(t, syscall.CLONE_NEWNET)
		require.Equal(t, self.Host, p.Host)
		// A fresh network namespace has only lo, and it is down.
		require.Empty(t, p.Interfaces)
	})
	t.Run("mount namespace", func(t *testing.T) {
		// A private mount namespace over the same root (as `ip netns exec` makes) still sees the
		// same socket paths: one host.
		p := childPeer(t, syscall.CLONE_NEWNS)
		require.Equal(t, self.Host, p.Host)
	})
}
