//go:build linux

package shm

import (
	"math"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations without FUTEX_PRIVATE_FLAG: the word lives in memory that another process
// maps too, so the kernel must key it by the file page, not by this process's address space.
const (
	futexWait = 0 // FUTEX_WAIT
	futexWake = 1 // FUTEX_WAKE
)

// sleep blocks the calling thread while *bell == val, until a wake, a signal, or timeout
// (nil: none). Every return means "look again": the caller re-checks its condition.
func sleep(bell *atomic.Uint32, val uint32, timeout *unix.Timespec) {
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(bell)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(timeout)), 0, 0)
}

// ring bumps bell and wakes every thread asleep on it.
func ring(bell *atomic.Uint32) {
	bell.Add(1)
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(bell)), futexWake, math.MaxInt32, 0, 0, 0)
}

// wake rings bell when a sleeper has raised flag since the last wake, and lowers the flag: one
// system call per sleep, however often the waker passes by.
//
// The sleeping protocol: a sleeper reads the bell, raises the flag, checks its condition, and
// only then sleeps on the bell value it read; a waker changes the condition, and then calls
// wake. Go's atomics are sequentially consistent, so either the sleeper sees the new condition
// or the waker sees the flag; in the second case the bell moved after the sleeper read it, and
// FUTEX_WAIT returns at once or is woken. Several sleepers share the flag: all are woken, and
// each raises it again before it sleeps again. A sleeper that does not sleep after all leaves
// the flag up, which costs one needless wake.
func wake(flag, bell *atomic.Uint32) {
	if flag.Load() != 0 && flag.Swap(0) != 0 {
		ring(bell)
	}
}
