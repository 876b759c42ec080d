//go:build linux

package shm

import (
	"context"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Waiting; see the package documentation.
const (
	// spinDuration is how long a waiter polls the ring before it sleeps (on its doorbell).
	spinDuration = 50 * time.Microsecond
	// spinBatch is how many polls go between looks at the clock, the context, and the scheduler.
	spinBatch = 64
	// drainDelay is how long a Send waits for room before it asks the peer to make some.
	drainDelay = time.Millisecond
	// settleDrain is how long a Settle waits without the peer reading any lent message before
	// it asks the peer to move them aside. Much longer than drainDelay: a peer that reads a
	// collective's lent messages may first spend milliseconds on its own copies and reductions,
	// and moving aside what it was about to read copies every lent byte twice (a 1 ms limit
	// moved 129 chunks of 256 KiB aside in 520 64 MiB all-reduces between two processes). Only a
	// peer that waits for something else first, which the collectives' schedules never do,
	// needs the move.
	settleDrain = 100 * time.Millisecond
	// crowdedSpin replaces spinDuration on a crowded host (SetCrowded), where the waiter yields
	// its CPU at every poll: a poll then mostly lets the other ranks of the CPU run, so it
	// costs little, and the rank waited for is most often one of them, which a sleep would only
	// make slower to answer.
	crowdedSpin = time.Millisecond
)

// SetCrowded says whether this end's host runs more ranks than it has CPUs (see
// transport.Crowdable): a crowded waiter calls sched_yield at every poll and polls for
// crowdedSpin before it sleeps.
func (c *Conn) SetCrowded(crowded bool) { c.crowded.Store(crowded) }

// spinPolicy returns how many polls go between looks at the clock and yields, and how long
// to poll before sleeping.
func (c *Conn) spinPolicy() (batch int, spin, yieldFrom time.Duration) {
	if c.crowded.Load() {
		return 1, crowdedSpin, 0
	}
	return spinBatch, spinDuration, yieldAfter
}

// epoch is the origin of the times the package keeps (time.Since(epoch) reads one clock, where
// time.Now reads two).
var epoch = time.Now()

// waitRoom waits until the ring has need free bytes. It returns nil then, ctx's error, errDead,
// or an error wrapping ErrProtocol. The caller holds txLock.
func (c *Conn) waitRoom(ctx context.Context, need uint64) error {
	if ok, err := c.tx.room(need); ok || err != nil {
		return err
	}
	done := ctx.Done()
	start := time.Since(epoch)
	var ok bool
	var err error
	if c.spin(start, done, func() bool {
		ok, err = c.tx.room(need)
		return ok || err != nil || c.dead.Load()
	}) {
		if !ok && err == nil {
			err = errDead
		}
		return err
	}
	if done != nil {
		stop := context.AfterFunc(ctx, c.kickTxFn)
		defer stop()
	}
	ctrl := c.out.ctrl
	nextDrain := start + c.drainDelay
	for {
		bell := c.txBell.current()
		ctrl.prodSleeping.Store(1)
		ok, err = c.tx.room(need)
		switch {
		case ok || err != nil:
		case c.dead.Load():
			err = errDead
		default:
			err = ctx.Err()
		}
		if ok || err != nil {
			return err
		}
		d := nextDrain - time.Since(epoch)
		if d <= 0 {
			c.requestDrain()
			nextDrain = time.Since(epoch) + c.drainDelay
			d = c.drainDelay
		}
		c.stats.sendSleeps.Add(1)
		if c.txTimer == nil {
			c.txTimer = time.NewTimer(d)
		} else {
			c.txTimer.Reset(d)
		}
		select {
		case <-bell:
		case <-c.txTimer.C:
		}
		c.txTimer.Stop()
	}
}

// spin polls ready, as the package documentation says under Waiting, from start on (a time
// since epoch) until ready reports true (spin returns true), done is closed, or the spin is
// over (false): the caller then sleeps, and looks at ready's condition and done again first.
func (c *Conn) spin(start time.Duration, done <-chan struct{}, ready func() bool) bool {
	batch, spinFor, yieldFrom := c.spinPolicy()
	var published bool // unshare published this end's CPU
	defer c.unpublish(&published)
	for i := 1; ; i++ {
		if ready() {
			return true
		}
		if i%batch == 0 {
			select {
			case <-done:
				return false
			default:
			}
			if time.Since(epoch)-start > spinFor {
				return false
			}
			c.pause(i, start, yieldFrom, &published)
		}
	}
}

// waitRx waits, as the owner, until something may have changed since the owner found nothing
// to do: the producer published past head, kicks moved (a new waiter, a drain request, a
// close, ctx's end), or the ownership was taken. It spins first when spin is set.
func (c *Conn) waitRx(ctx context.Context, w *waiter, head, kicks uint64, spin bool) {
	done := ctx.Done()
	if spin && c.spin(time.Since(epoch), done, func() bool { return c.rxMoved(w, head, kicks) }) {
		return
	}
	if done != nil {
		stop := context.AfterFunc(ctx, c.kickRxFn)
		defer stop()
	}
	ctrl := c.in.ctrl
	for {
		bell := c.rxBell.current()
		ctrl.consSleeping.Store(1)
		if c.rxMoved(w, head, kicks) || ctx.Err() != nil {
			return
		}
		c.stats.recvSleeps.Add(1)
		<-bell
		if c.rxMoved(w, head, kicks) || ctx.Err() != nil {
			return
		}
	}
}

// rxMoved reports whether the owner w, which saw head and kicks, must look again.
func (c *Conn) rxMoved(w *waiter, head, kicks uint64) bool {
	return c.in.ctrl.head.Load() != head || c.rx.kicks.Load() != kicks || c.rx.ownerPtr.Load() != w || c.dead.Load()
}

// yieldAfter is how long an uncrowded waiter spins before it starts to yield its CPU.
const yieldAfter = 5 * time.Microsecond

// pause lets others run during a spin, at poll i: once the spin is older than from, other
// threads (sched_yield), since on a busy machine the peer process may be waiting for this CPU,
// after a look at whether the peer's waiter polls on this very CPU (unshare, which sets
// *published when it publishes this end's CPU); and now and then other goroutines of this P.
// Not at every poll: runtime.Gosched wakes an idle P, whose thread then competes for the CPUs
// with the peer process.
func (c *Conn) pause(i int, start, from time.Duration, published *bool) {
	if from == 0 || time.Since(epoch)-start > from {
		if c.unshare() {
			*published = true
		}
		_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
	if i%(32*spinBatch) == 0 {
		runtime.Gosched()
	}
}
