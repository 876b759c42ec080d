package topology

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeNodes writes a sysfs tree with the given cpulist per node directory name.
func fakeNodes(t *testing.T, nodes map[string]string) string {
	t.Helper()
	sys := t.TempDir()
	for name, list := range nodes {
		dir := filepath.Join(sys, "devices/system/node", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cpulist"), []byte(list+"\n"), 0o644))
	}
	return sys
}

func TestNUMANodes(t *testing.T) {
	sys := fakeNodes(t, map[string]string{"node0": "0-3", "node1": "4-7", "node10": "8-9", "node2": "", "nodeX": "0-9"})
	require.Equal(t, []int{0}, numaNodes(sys, CPUSet{1, 2}))
	require.Equal(t, []int{0, 1, 10}, numaNodes(sys, CPUSet{3, 4, 9}))
	require.Equal(t, []int{1}, numaNodes(sys, CPUSet{5}))
	require.Empty(t, numaNodes(sys, CPUSet{12}))
	require.Nil(t, numaNodes(sys, nil), "unknown affinity means unknown nodes")
}

func TestNUMANodesAbsent(t *testing.T) {
	require.Nil(t, numaNodes(t.TempDir(), CPUSet{0}), "a kernel without a node directory has no NUMA information")
	sys := fakeNodes(t, map[string]string{"node0": "garbage", "node1": "0-1"})
	require.Equal(t, []int{1}, numaNodes(sys, CPUSet{0}), "a node with an unreadable list is left out")
}

func TestNUMANodesOfThisMachine(t *testing.T) {
	cpus, err := affinity()
	require.NoError(t, err)
	nodes := numaNodes("/sys", cpus)
	if _, err := os.Stat("/sys/devices/system/node/node0"); err != nil {
		require.Nil(t, nodes)
		return
	}
	require.NotEmpty(t, nodes, "this machine has node0, so the CPUs we run on belong to some node")
}
