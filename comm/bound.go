package comm

import (
	"context"
	"sync"
	"time"
)

// bound is the context of the collective running: it ends when the caller's context ends, when
// the timeout has passed since the collective started, or when the communicator is aborted or
// closed. A communicator makes one and reuses it for every collective, with one timer, instead
// of a fresh context and timer per call; the timer fires at the deadline of the collective that
// set it, and expire sets it again for the rest of the running one's, so that a collective costs
// no timer operation. Arming a new runtime timer wakes an idle thread of the Go scheduler, which
// on a busy machine takes the CPU from the peer process that the collective waits for. (A 4 KiB
// exchange between two processes over shared memory averaged 2.2 us without a timer per call and
// 5-7 us with one, the difference all in a tail of 30-100 us waits.)
//
// Collectives run one at a time, so one bound serves them all; sends and receives, which run
// concurrently, use Comm.opContext.
type bound struct {
	parent  context.Context // the communicator's
	timeout time.Duration

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelCauseFunc
	active  bool
	expires time.Time
	timer   *time.Timer
	queued  bool // timer is set to fire
	closed  bool

	// The watch on the caller's context: made for the first collective that passes a context
	// with a Done channel, and kept while the following ones pass a context with the same
	// channel (a program usually passes one context to every call), so that a call costs no
	// allocation then either.
	watched <-chan struct{} // the Done channel watched, or nil; under mu
	caller  <-chan struct{} // the running collective's caller's Done channel; under mu
	stop    func() bool     // ends the watch
}

// begin starts a collective bounded by caller and returns its context; finish ends it.
func (b *bound) begin(caller context.Context) context.Context {
	b.mu.Lock()
	if b.ctx == nil || b.ctx.Err() != nil {
		b.ctx, b.cancel = context.WithCancelCause(b.parent)
	}
	b.active = true
	b.expires = time.Now().Add(b.timeout)
	switch {
	case b.closed:
	case b.timer == nil:
		b.timer = time.AfterFunc(b.timeout, b.expire)
		b.queued = true
	case !b.queued:
		b.timer.Reset(b.timeout)
		b.queued = true
	}
	ctx := b.ctx
	done := caller.Done()
	b.caller = done
	if caller.Err() != nil {
		b.cancel(context.Cause(caller))
	}
	watch := done != nil && done != b.watched && !b.closed
	b.mu.Unlock()
	if watch {
		b.watch(caller, done)
	}
	return ctx
}

// watch ends the running collective whenever it is caller's and caller ends.
func (b *bound) watch(caller context.Context, done <-chan struct{}) {
	stop := context.AfterFunc(caller, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.watched == done {
			b.watched, b.stop = nil, nil // it has fired: the next call with it watches again
		}
		if b.active && b.caller == done {
			b.cancel(context.Cause(caller))
		}
	})
	b.mu.Lock()
	old := b.stop
	b.watched, b.stop = done, stop
	if b.closed {
		old, b.watched, b.stop = stop, nil, nil
	}
	b.mu.Unlock()
	if old != nil {
		old()
	}
}

// finish ends the collective that begin started.
func (b *bound) finish() {
	b.mu.Lock()
	b.active = false
	b.caller = nil
	b.mu.Unlock()
}

// expire ends the running collective once its time is up.
func (b *bound) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queued = false
	if !b.active || b.closed {
		return
	}
	if d := time.Until(b.expires); d > 0 {
		b.timer.Reset(d) // the timer fired for an earlier collective's time
		b.queued = true
		return
	}
	b.cancel(ErrTimeout)
}

// close stops the timer and the watch for good.
func (b *bound) close() {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	stop := b.stop
	b.watched, b.stop = nil, nil
	b.mu.Unlock()
	if stop != nil {
		stop()
	}
}
