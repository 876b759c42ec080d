package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runTopo runs chorus topo with args; getenv is the environment it reads, and the ranks it
// starts act as chorus (see benchMainVar).
func runTopo(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var environ []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "CHORUS_") {
			environ = append(environ, kv)
		}
	}
	environ = append(environ, benchMainVar+"=1", "GORACE=atexit_sleep_ms=0")
	env := topoEnv{
		getenv:  func(k string) string { return vars[k] },
		environ: environ,
		exe:     func() (string, error) { return os.Args[0], nil },
	}
	var out, errOut syncBuffer
	code = topoMain(t.Context(), args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTopoAlone(t *testing.T) {
	code, out, stderr := runTopo(t, nil)
	require.Zero(t, code, stderr)
	require.Contains(t, out, "system: 1 rank on 1 host")
	require.Contains(t, out, "ring: 0 -> (0)")

	code, out, stderr = runTopo(t, map[string]string{"CHORUS_TRANSPORT": "quic"}, "--json")
	require.Zero(t, code, stderr)
	var sum struct {
		Size   int    `json:"size"`
		Forced string `json:"forced_transport"`
		Ring   []int  `json:"ring"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, 1, sum.Size)
	require.Equal(t, "quic", sum.Forced)
	require.Equal(t, []int{0}, sum.Ring)
}

// TestTopoLaunch starts 3 ranks as processes: rank 0 prints the system of all three, on one
// host, without the launcher's rank prefix.
func TestTopoLaunch(t *testing.T) {
	code, out, stderr := runTopo(t, nil, "-N", "3")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "system: 3 ranks on 1 host")
	require.Contains(t, out, "ring: 0 -> 1 -> 2 -> (0)  (0 host crossings)")
	require.NotContains(t, out, "[rank")
	require.Equal(t, 1, strings.Count(out, "system:"), "only rank 0 prints")
}

func TestTopoBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-N", "0"}, {"-N", "-1"}, {"extra"}, {"--nope"}, {"-N", "x"}} {
		code, _, stderr := runTopo(t, nil, args...)
		require.Equal(t, exitUsage, code, "%v", args)
		require.Contains(t, stderr, "Usage: chorus topo", "%v", args)
	}
	code, _, stderr := runTopo(t, map[string]string{"CHORUS_RANK": "0"}, "-N", "2")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "leave it out under a launcher")
}
