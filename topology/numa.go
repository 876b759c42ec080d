package topology

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// numaNodes returns the NUMA nodes that hold at least one of the CPUs, in ascending order, read
// from <sys>/devices/system/node/node*/cpulist. It returns nil where the kernel shows no nodes
// (no sysfs, or a kernel without NUMA) or the CPUs are unknown; a node whose list cannot be
// read or parsed is left out.
func numaNodes(sys string, cpus CPUSet) []int {
	if len(cpus) == 0 {
		return nil
	}
	dir := filepath.Join(sys, "devices/system/node")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var nodes []int
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "node")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n >= MaxNUMA {
			continue
		}
		list, err := os.ReadFile(filepath.Join(dir, e.Name(), "cpulist"))
		if err != nil {
			continue
		}
		set, err := ParseCPUSet(string(list))
		if err != nil {
			continue
		}
		if len(set.Intersect(cpus)) > 0 {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	return nodes
}
