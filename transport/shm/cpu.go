//go:build linux

package shm

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// moveGap is the least time between two moves of one end (unshare): a move costs a migration,
// tens of microseconds, and where the kernel keeps putting the ranks back together it should
// not cost more than a small share of the time.
const moveGap = time.Millisecond

// currentCPU returns the CPU that the calling thread runs on (getcpu), or -1.
func currentCPU() int {
	var cpu uint32
	if _, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); errno != 0 {
		return -1
	}
	return int(cpu)
}

// moveOff moves the calling thread off cpu, to another CPU of its affinity, and leaves the
// affinity as it was. It reports whether the thread moved: not where cpu is the only CPU it
// may run on. The kernel migrates a thread at once when its affinity excludes the CPU it runs
// on, and restoring the affinity does not move it back.
func moveOff(cpu int) bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was unix.CPUSet
	if unix.SchedGetaffinity(0, &was) != nil || !was.IsSet(cpu) || was.Count() < 2 || currentCPU() != cpu {
		return false
	}
	away := was
	away.Clear(cpu)
	if unix.SchedSetaffinity(0, &away) != nil {
		return false
	}
	_ = unix.SchedSetaffinity(0, &was) // the same set as a moment ago: it cannot be refused
	return true
}

// unshare is called by a waiter of this end, during its spin, once it yields its CPU: it
// publishes the CPU it polls on, and when the peer's waiter polls on that same CPU, one of the
// two ends (the mover) moves its thread to another CPU. That happens where the kernel wakes a
// rank on its waker's CPU (it does where it sees no cache shared between the CPUs, as in VMs
// that do not describe their caches) and then both ranks spin there, taking turns, while
// another CPU idles. Not on a crowded host, where ranks must share CPUs. It reports whether
// it published a CPU, which the waiter withdraws (unpublish) when it stops polling.
func (c *Conn) unshare() bool {
	if c.crowded.Load() {
		return false
	}
	cpu := currentCPU()
	if cpu < 0 {
		return false
	}
	c.out.ctrl.waitCPU.Store(uint32(cpu) + 1)
	if !c.mover || c.in.ctrl.waitCPU.Load() != uint32(cpu)+1 {
		return true
	}
	now := int64(time.Since(epoch))
	last := c.lastMove.Load()
	if now-last < int64(moveGap) || !c.lastMove.CompareAndSwap(last, now) {
		return true
	}
	if moveOff(cpu) {
		c.stats.moves.Add(1)
		if cpu := currentCPU(); cpu >= 0 {
			c.out.ctrl.waitCPU.Store(uint32(cpu) + 1)
		}
	}
	return true
}

// unpublish withdraws the CPU that unshare published, if it did.
func (c *Conn) unpublish(published *bool) {
	if *published {
		c.out.ctrl.waitCPU.Store(0)
		*published = false
	}
}
