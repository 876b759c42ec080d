package topology

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHostIDOverride(t *testing.T) {
	t.Setenv(HostIDEnv, "pretend-host-7")
	id, err := HostID()
	require.NoError(t, err)
	require.Equal(t, "pretend-host-7", id)
	p, err := Local(0)
	require.NoError(t, err)
	require.Equal(t, "pretend-host-7", p.Host)

	t.Setenv(HostIDEnv, "bad\nid")
	_, err = HostID()
	require.ErrorContains(t, err, HostIDEnv)
	_, err = Local(0)
	require.Error(t, err)

	t.Setenv(HostIDEnv, strings.Repeat("x", maxHostID+1))
	_, err = HostID()
	require.Error(t, err)
}

func TestHostIDStable(t *testing.T) {
	t.Setenv(HostIDEnv, "")
	a, err := HostID()
	require.NoError(t, err)
	b, err := HostID()
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.NoError(t, checkText(a, maxHostID))
	p, err := Local(1)
	require.NoError(t, err)
	require.Equal(t, a, p.Host)
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err == nil {
			require.Regexp(t, `^boot:[0-9a-f-]{36}/root:[0-9]+\.[0-9]+$`, a)
		}
	}
}

func TestHostIDFallsBackToHostname(t *testing.T) {
	id, err := hostID("", t.TempDir()) // a proc without a boot id
	require.NoError(t, err)
	name, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, printable("hostname:"+name, maxHostID), id)
}
