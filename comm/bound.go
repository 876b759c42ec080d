package comm

import (
	"context"
	"sync"
	"time"
)

// bound is the context of the collective running: it ends when the caller's context ends, when
// the timeout has passed since the collective started, or when the communicator is aborted or
// closed. A communicator makes one and reuses it for every collective, with one timer that each
// collective pushes back, instead of a fresh context and timer per call: arming a new runtime
// timer wakes an idle thread of the Go scheduler, which on a busy machine takes the CPU from the
// peer process that the collective waits for. (A 4 KiB exchange between two processes over
// shared memory averaged 2.2 us without a timer per call and 5-7 us with one, the difference
// all in a tail of 30-100 us waits.)
//
// Collectives run one at a time, so one bound serves them all; sends and receives, which run
// concurrently, use Comm.opContext.
type bound struct {
	parent  context.Context // the communicator's
	timeout time.Duration

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelCauseFunc
	gen     uint64 // counts collectives, so that a late expiry or caller cancel hits nobody
	active  bool
	expires time.Time
	timer   *time.Timer
	closed  bool

	stop func() bool // stops the watch on the caller's context, or nil; used by the runner only
}

// begin starts a collective bounded by caller and returns its context; finish ends it.
func (b *bound) begin(caller context.Context) context.Context {
	b.mu.Lock()
	if b.ctx == nil || b.ctx.Err() != nil {
		b.ctx, b.cancel = context.WithCancelCause(b.parent)
	}
	b.gen++
	gen := b.gen
	b.active = true
	b.expires = time.Now().Add(b.timeout)
	switch {
	case b.closed:
	case b.timer == nil:
		b.timer = time.AfterFunc(b.timeout, b.expire)
	default:
		b.timer.Reset(b.timeout) // later than before: the timer stays queued, nobody is woken
	}
	ctx := b.ctx
	if caller.Err() != nil {
		b.cancel(context.Cause(caller))
	}
	b.mu.Unlock()
	if caller.Done() != nil {
		b.stop = context.AfterFunc(caller, func() { b.cancelGen(gen, context.Cause(caller)) })
	}
	return ctx
}

// finish ends the collective that begin started.
func (b *bound) finish() {
	if b.stop != nil {
		b.stop()
		b.stop = nil
	}
	b.mu.Lock()
	b.active = false
	b.mu.Unlock()
}

func (b *bound) cancelGen(gen uint64, cause error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active && b.gen == gen {
		b.cancel(cause)
	}
}

// expire ends the running collective once its time is up.
func (b *bound) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active || b.closed {
		return
	}
	if d := time.Until(b.expires); d > 0 {
		b.timer.Reset(d) // the timer fired for an earlier collective's time
		return
	}
	b.cancel(ErrTimeout)
}

// close stops the timer for good.
func (b *bound) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
}
