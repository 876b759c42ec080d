package main

import (
	"cmp"
	"fmt"
	"slices"
)

// bindMode says whether chorus run binds each local rank to a CPU of its own (--bind).
type bindMode string

const (
	// bindNone leaves the ranks where the system puts them, with the launcher's CPU affinity.
	bindNone bindMode = "none"
	// bindCore gives each local rank one CPU, one physical core per rank while cores last, and
	// fails when there are more ranks than CPUs.
	bindCore bindMode = "core"
	// bindAuto is bindCore when every local rank can have a CPU, and bindNone otherwise.
	bindAuto bindMode = "auto"
)

// parseBind parses the value of --bind.
func parseBind(s string) (bindMode, error) {
	switch m := bindMode(s); m {
	case bindNone, bindCore, bindAuto:
		return m, nil
	}
	return "", fmt.Errorf("--bind %q: want none, core or auto", s)
}

// bindCPUs returns the CPU of each of n local ranks under mode, or nil when they are not bound
// (bindNone, or the zero mode).
func bindCPUs(mode bindMode, n int) ([]int, error) {
	if mode != bindCore && mode != bindAuto {
		return nil, nil
	}
	cpus, err := usableCPUs()
	if err == nil && n > len(cpus) {
		err = fmt.Errorf("%d ranks on this node but only %d CPUs to bind them to (this process's affinity)", n, len(cpus))
	}
	if err != nil {
		if mode == bindAuto {
			return nil, nil
		}
		return nil, fmt.Errorf("--bind core: %w", err)
	}
	return cpus[:n], nil
}

// cpuCore locates a CPU: its package (socket) and its core in that package.
type cpuCore struct{ pkg, core int }

// spreadOverCores orders cpus so that each physical core gives its first CPU before any core
// gives its second (hyperthread siblings last), cores in (package, core) order: binding rank i
// to the i-th CPU then puts ranks on distinct cores while there are enough. A CPU whose core is
// unknown (coreOf reports false) counts as a core of its own.
func spreadOverCores(cpus []int, coreOf func(cpu int) (cpuCore, bool)) []int {
	type slot struct {
		cpu, sibling int // sibling: how many CPUs of its core come before it
		at           cpuCore
	}
	seen := map[cpuCore]int{}
	slots := make([]slot, 0, len(cpus))
	for _, c := range slices.Sorted(slices.Values(cpus)) {
		at, ok := coreOf(c)
		if !ok {
			at = cpuCore{pkg: -1, core: c}
		}
		slots = append(slots, slot{cpu: c, sibling: seen[at], at: at})
		seen[at]++
	}
	slices.SortStableFunc(slots, func(a, b slot) int {
		return cmp.Or(cmp.Compare(a.sibling, b.sibling), cmp.Compare(a.at.pkg, b.at.pkg), cmp.Compare(a.at.core, b.at.core))
	})
	out := make([]int, len(slots))
	for i, s := range slots {
		out[i] = s.cpu
	}
	return out
}
