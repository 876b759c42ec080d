//go:build !linux

package topology

// affinity returns nil where the system has no sched_getaffinity: the set is unknown.
func affinity() (CPUSet, error) { return nil, nil }
