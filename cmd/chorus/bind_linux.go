package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// usableCPUs returns the CPUs this process may run on, in the order ranks are bound to them
// (spreadOverCores, with the cores that sysfs reports).
func usableCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return spreadOverCores(cpus, sysfsCore), nil
}

// sysfsCore reads the package and core of cpu from /sys/devices/system/cpu.
func sysfsCore(cpu int) (cpuCore, bool) {
	read := func(name string) (int, bool) {
		b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu%d/topology/%s", cpu, name))
		if err != nil {
			return 0, false
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(b)))
		return v, err == nil
	}
	pkg, ok1 := read("physical_package_id")
	core, ok2 := read("core_id")
	return cpuCore{pkg: pkg, core: core}, ok1 && ok2
}

// startOn starts cmd bound to cpu. The child inherits the CPU affinity of the thread that
// forks it, so cmd starts from a thread of its own that is bound first: every thread the
// program ever makes inherits the binding, with no window where one runs elsewhere. That
// thread is never unlocked, so it ends with the goroutine instead of going back to the
// scheduler with a narrowed affinity.
func startOn(cmd *exec.Cmd, cpu int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("binding to cpu %d: sched_setaffinity: %w", cpu, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
