package topology

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAffinityMatchesRuntime(t *testing.T) {
	cpus, err := affinity()
	require.NoError(t, err)
	// The Go runtime sizes GOMAXPROCS from the same mask at start.
	require.Len(t, cpus, runtime.NumCPU())
	require.True(t, cpus.valid())
}
