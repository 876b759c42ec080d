//go:build linux

package shm

import "sync/atomic"

// A doorbell is what a waiter that stopped polling sleeps on: a channel that the next ring
// closes, which wakes every goroutine waiting on it. Ringing replaces the channel.
//
// A goroutine parked on a channel is not a thread in a system call. That matters to the Go
// runtime's monitor thread (sysmon): when every P of a process is idle it sleeps deeply, and a
// thread leaving a blocking system call wakes it into polling every 20 us (doubling the gap
// every 50 polls), which on a rank bound to one CPU took that CPU from the rank for the first
// 10-20 ms after every wait: small collectives then ran 2-10x slower. A futex sleep is such a
// system call; a channel woken by the socket's reader (through the netpoller) is not.
type doorbell struct {
	ch atomic.Pointer[chan struct{}]
}

func (d *doorbell) init() {
	ch := make(chan struct{})
	d.ch.Store(&ch)
}

// current returns the channel that the next ring closes.
func (d *doorbell) current() <-chan struct{} { return *d.ch.Load() }

// ring wakes every goroutine waiting on the current channel.
func (d *doorbell) ring() {
	ch := make(chan struct{})
	close(*d.ch.Swap(&ch))
}

// wake calls ring when a sleeper has raised flag since the last wake, and lowers the flag: one
// ring per sleep, however often the waker passes by.
//
// The sleeping protocol: a sleeper takes the doorbell's current channel, raises the flag,
// checks its condition, and only then waits on the channel; a waker changes the condition, and
// then calls wake. Go's atomics are sequentially consistent, so either the sleeper sees the
// new condition or the waker sees the flag; in the second case the ring closes the channel the
// sleeper took, or a later one after a ring that closed it already. Several sleepers share the
// flag: all are woken, and each raises it again before it sleeps again. A sleeper that does not
// sleep after all leaves the flag up, which costs one needless ring.
func wake(flag *atomic.Uint32, ring func()) {
	if flag.Load() != 0 && flag.Swap(0) != 0 {
		ring()
	}
}
