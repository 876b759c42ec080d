//go:build linux

package shm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-cc/chorus/transport"
)

// graceDelay is how long the ring stays without an owner while receivers wait, after an owner
// finished: the next Recv of the goroutine that just finished most likely comes sooner and then
// reads the ring itself; after graceDelay a waiting receiver is made owner.
const graceDelay = 100 * time.Microsecond

// rxState is the receiving side of a Conn: receivers waiting by tag, messages moved aside by
// tag, and the ownership of the ring (see the package documentation).
//
// Invariants, under mu: owner is nil, the drainer, or a receiver in waiters, except while that
// receiver (busy) runs the fn of its own message. Only the owner touches cons, asm and the scan
// fields, and only while busy; a Recv may take the ownership from an owner that is not busy.
type rxState struct {
	c *Conn

	mu      sync.Mutex
	waiters map[transport.Tag]*waiter
	stash   map[transport.Tag]stashed
	owner   *waiter
	busy    bool
	wgen    uint64 // counts registrations, so that the owner rescans the ring for new tags
	drainTo uint64 // frames before this ring position that nobody waits for are moved aside
	closed  error
	// grace fires onGrace; it is never stopped, only pushed back (Reset to a later time while
	// it is queued), because arming a stopped runtime timer wakes an idle thread of the Go
	// scheduler, which a receiver that releases the ring at every message cannot afford.
	grace      *time.Timer
	armed      bool          // a waiting receiver is to be made owner at graceUntil
	graceUntil time.Duration // when (since epoch), if armed
	timerAt    time.Duration // when grace fires (since epoch); at or after graceUntil while armed

	ownerPtr atomic.Pointer[waiter] // owner, for polling without mu
	kicks    atomic.Uint64          // bumped when the owner must look again (kickRx)

	cons    consumer
	asm     assembly
	scanPos uint64 // frames from the head frame's end up to scanPos have no waiter (as of scanGen)
	scanGen uint64
	drainer waiter // the owner the control reader uses to drain
}

// waiter is one Recv.
type waiter struct {
	tag  transport.Tag
	fn   func([]byte) error
	err  error         // fn's error, once done is signalled
	done chan struct{} // capacity 1: another goroutine ran fn
	wake chan struct{} // capacity 1: look again (made owner)
}

var waiterPool = sync.Pool{New: func() any {
	return &waiter{done: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
}}

func getWaiter(tag transport.Tag, fn func([]byte) error) *waiter {
	w := waiterPool.Get().(*waiter)
	w.tag, w.fn = tag, fn
	return w
}

func putWaiter(w *waiter) {
	select {
	case <-w.wake:
	default:
	}
	w.fn, w.err = nil, nil
	waiterPool.Put(w)
}

// finish hands fn's result to a waiter whose fn another goroutine ran.
func (w *waiter) finish(err error) {
	w.err = err
	w.done <- struct{}{}
}

// stashed is a message moved out of the ring (or assembled) that waits for its receiver.
type stashed struct {
	bp *[]byte // nil for an empty message
	n  int
}

func (s stashed) bytes() []byte {
	if s.bp == nil {
		return nil
	}
	return (*s.bp)[:s.n]
}

// assembly is a streamed message being put together.
type assembly struct {
	active     bool
	tag        transport.Tag
	bp         *[]byte
	total, got int
}

func (r *rxState) init(c *Conn, in *segment) {
	r.c = c
	r.waiters = make(map[transport.Tag]*waiter)
	r.stash = make(map[transport.Tag]stashed)
	r.cons = consumer{seg: in}
	r.grace = time.AfterFunc(time.Hour, r.onGrace)
}

// close fails the receiving side: no more messages are stashed, and the stashed ones are
// dropped. Waiters learn it from the Conn's done channel, the owner from a kick.
func (r *rxState) close(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = err
	for tag, s := range r.stash {
		putBuf(s.bp)
		delete(r.stash, tag)
	}
	r.grace.Stop() // for good: the connection is closed
	r.armed = false
}

// free releases the assembly buffer; the Conn is closed and nobody touches the ring.
func (r *rxState) free() {
	if r.asm.active {
		putBuf(r.asm.bp)
		r.asm = assembly{}
	}
}

func (r *rxState) setOwner(w *waiter) {
	r.owner = w
	r.ownerPtr.Store(w)
	r.armed = false // the timer stays queued and finds nothing to do
}

// releaseLocked gives the ownership up; when receivers still wait, one of them gets it after
// graceDelay unless a Recv takes it first.
func (r *rxState) releaseLocked() {
	r.owner = nil
	r.ownerPtr.Store(nil)
	if len(r.waiters) > 0 && r.closed == nil {
		now := time.Since(epoch) // one clock read, where time.Now makes two
		r.graceUntil = now + graceDelay
		r.armed = true
		if r.timerAt < r.graceUntil {
			// Pushed back by twice the delay, so that a stream of messages moves the timer
			// once per delay, not once per message.
			r.timerAt = now + 2*graceDelay
			r.grace.Reset(2 * graceDelay)
		}
	}
}

// handOffLocked gives the ownership up after the owner got its message: to the receiver whose
// message is at the head of the ring if there is one (it came while the owner was busy), and
// otherwise as releaseLocked does. The caller owns the ring and is not busy.
func (r *rxState) handOffLocked() {
	if len(r.waiters) > 0 && r.closed == nil {
		if avail, err := r.cons.refresh(); err == nil && avail > 0 {
			if f, _, _, err := r.cons.frameAt(r.cons.tail); err == nil && (f.kind == kindWhole || f.kind == kindLent) {
				if x := r.waiters[f.tag]; x != nil {
					r.setOwner(x)
					select {
					case x.wake <- struct{}{}:
					default:
					}
					return
				}
			}
		}
	}
	r.releaseLocked()
}

// leaveLocked takes w out: it no longer waits, and no longer owns the ring.
func (r *rxState) leaveLocked(w *waiter) {
	if r.waiters[w.tag] == w {
		delete(r.waiters, w.tag)
	}
	if r.owner == w {
		r.releaseLocked()
	}
}

// onGrace makes a waiting receiver the owner when nobody took the ring after graceDelay.
func (r *rxState) onGrace() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.armed {
		return // taken since
	}
	if now := time.Since(epoch); now < r.graceUntil {
		if r.timerAt < r.graceUntil { // not queued again by a Reset since it fired
			r.timerAt = r.graceUntil
			r.grace.Reset(r.graceUntil - now)
		}
		return
	}
	r.armed = false
	if r.owner != nil || r.closed != nil {
		return
	}
	for _, x := range r.waiters {
		r.setOwner(x)
		select {
		case x.wake <- struct{}{}:
		default:
		}
		return
	}
}

// Recv waits for the message with the tag and calls fn with its bytes, once; fn's error is
// Recv's error. When the message lies at the head of the ring, p is the ring's memory itself
// (no copy); fn may run in another receiver's goroutine; it must not keep p, block, panic, or
// call Close. When ctx ends first, Recv returns ctx's error and the message stays for a later
// Recv. A second Recv for a tag that a Recv already waits for fails with
// transport.ErrDuplicateTag; on a closed connection Recv fails with an error wrapping
// transport.ErrClosed.
func (c *Conn) Recv(ctx context.Context, tag transport.Tag, fn func(p []byte) error) error {
	if !c.acquire() {
		return c.failed("recv", tag)
	}
	defer c.release()
	r := &c.rx
	r.mu.Lock()
	if r.closed != nil {
		r.mu.Unlock()
		return c.failed("recv", tag)
	}
	if s, ok := r.stash[tag]; ok {
		delete(r.stash, tag)
		r.mu.Unlock()
		err := fn(s.bytes())
		putBuf(s.bp)
		return err
	}
	if _, dup := r.waiters[tag]; dup {
		r.mu.Unlock()
		return fmt.Errorf("shm: recv %v: %w (a receiver is waiting)", tag, transport.ErrDuplicateTag)
	}
	if err := ctx.Err(); err != nil {
		r.mu.Unlock()
		return fmt.Errorf("shm: recv %v from %s: %w", tag, c.peer, err)
	}
	w := getWaiter(tag, fn)
	r.waiters[tag] = w
	r.wgen++
	if r.owner == nil || !r.busy {
		r.setOwner(w) // the previous owner, only waiting, notices and waits on its channel
		r.mu.Unlock()
		return c.await(ctx, w, true)
	}
	r.mu.Unlock()
	c.kickRx() // the busy owner looks for w's message before it sleeps
	return c.await(ctx, w, false)
}

// await waits until w's message was received, reading the ring while w owns it.
func (c *Conn) await(ctx context.Context, w *waiter, spin bool) error {
	r := &c.rx
	for {
		r.mu.Lock()
		if r.owner != w {
			r.mu.Unlock()
			if finished, err := c.waitTurn(ctx, w); finished {
				return err
			}
			spin = false
			continue
		}
		if r.closed != nil || ctx.Err() != nil {
			r.leaveLocked(w)
			r.mu.Unlock()
			err := c.recvErr(ctx, w.tag)
			putWaiter(w)
			return err
		}
		r.busy = true
		r.mu.Unlock()
		kicks := r.kicks.Load()
		done, err := r.process(w)
		r.mu.Lock()
		r.busy = false
		head := r.cons.head
		if done {
			r.handOffLocked()
			r.mu.Unlock()
			putWaiter(w)
			return err
		}
		if err != nil {
			r.leaveLocked(w)
			r.mu.Unlock()
			c.fail(fmt.Errorf("shm: ring from %s: %w", c.peer, err))
			putWaiter(w)
			return c.failed("recv", w.tag)
		}
		r.mu.Unlock()
		c.waitRx(ctx, w, head, kicks, spin)
	}
}

// recvErr is the error of a Recv that gives up: the Conn's, or ctx's.
func (c *Conn) recvErr(ctx context.Context, tag transport.Tag) error {
	if c.dead.Load() {
		return c.failed("recv", tag)
	}
	return fmt.Errorf("shm: recv %v from %s: %w", tag, c.peer, ctx.Err())
}

// waitTurn waits, not owning the ring, until w's message was received by another goroutine
// (finished), w was made owner (not finished), ctx ends or the Conn dies (finished).
func (c *Conn) waitTurn(ctx context.Context, w *waiter) (finished bool, err error) {
	select {
	case <-w.done:
		err = w.err
		putWaiter(w)
		return true, err
	case <-w.wake:
		return false, nil
	case <-ctx.Done():
	case <-c.done:
	}
	r := &c.rx
	r.mu.Lock()
	if r.waiters[w.tag] == w {
		r.leaveLocked(w)
		r.mu.Unlock()
		err = c.recvErr(ctx, w.tag)
		putWaiter(w)
		return true, err
	}
	r.mu.Unlock()
	// The owner took the message and runs fn: the result is fn's.
	<-w.done
	err = w.err
	putWaiter(w)
	return true, err
}

// process consumes the frames at the head of the ring while it can: it runs the fn of each
// frame's waiter over the frame where it lies, assembles streamed messages, and moves aside a
// frame nobody waits for when something behind it is wanted. It returns done when w's message
// went to w's fn (err is fn's error); otherwise it returns when the ring is empty or its head
// frame must stay, and a non-nil err means the peer broke the protocol.
func (r *rxState) process(w *waiter) (done bool, err error) {
	c := r.c
	for !c.dead.Load() {
		avail, err := r.cons.refresh()
		if err != nil {
			return false, err
		}
		if avail == 0 {
			return false, nil
		}
		f, p, l, err := r.cons.frameAt(r.cons.tail)
		if err != nil {
			return false, err
		}
		switch f.kind {
		case kindWhole, kindLent:
			r.mu.Lock()
			x := r.waiters[f.tag]
			var move bool
			if x != nil {
				delete(r.waiters, f.tag)
			} else {
				move, err = r.mustMoveLocked(l)
			}
			r.mu.Unlock()
			if err != nil {
				return false, err
			}
			if x == nil && !move {
				return false, nil
			}
			var lent *peerRegion // the peer's memory that p lies in (a lent message)
			if f.kind == kindLent {
				if lent, p, err = c.borrow(p, f.total); err != nil {
					if x != nil && x != w {
						x.finish(err) // the Conn fails: x is out of the waiters, so it waits for this
					}
					return false, err
				}
			}
			if x != nil {
				ferr := x.fn(p)
				c.unborrow(lent)
				r.cons.release(l)
				if lent != nil {
					c.stats.lent.Add(1)
				} else {
					c.stats.inPlace.Add(1)
				}
				if x == w {
					return true, ferr
				}
				x.finish(ferr)
				continue
			}
			var bp *[]byte
			if len(p) > 0 {
				bp = getBuf(len(p))
				copy(*bp, p)
			}
			c.unborrow(lent)
			r.cons.release(l)
			c.stats.movedAside.Add(1)
			if done, ferr, err := r.deliver(w, f.tag, bp, len(p)); done || err != nil {
				return done, firstErr(err, ferr)
			}
		case kindFirst:
			if r.asm.active {
				return false, fmt.Errorf("streamed message %v starts inside %v: %w", f.tag, r.asm.tag, ErrProtocol)
			}
			r.asm = assembly{active: true, tag: f.tag, bp: getBuf(f.total), total: f.total}
			if done, err := r.piece(w, p, l); done || err != nil {
				return done, err
			}
		case kindMore:
			if !r.asm.active || f.tag != r.asm.tag || f.total != r.asm.total || f.n > r.asm.total-r.asm.got {
				return false, fmt.Errorf("piece of %d bytes of %v (%d) does not continue %v (%d of %d): %w",
					f.n, f.tag, f.total, r.asm.tag, r.asm.got, r.asm.total, ErrProtocol)
			}
			if done, err := r.piece(w, p, l); done || err != nil {
				return done, err
			}
		case kindCancel:
			if !r.asm.active || f.tag != r.asm.tag {
				return false, fmt.Errorf("cancel of %v, which is not being streamed: %w", f.tag, ErrProtocol)
			}
			putBuf(r.asm.bp)
			r.asm = assembly{}
			r.cons.release(l)
		}
	}
	return false, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// piece adds a frame's payload to the message being assembled and delivers the message once
// it is whole. For done and err, see process.
func (r *rxState) piece(w *waiter, p []byte, l uint64) (done bool, err error) {
	a := &r.asm
	copy((*a.bp)[a.got:], p)
	a.got += len(p)
	r.cons.release(l)
	if a.got < a.total {
		return false, nil
	}
	tag, bp, n := a.tag, a.bp, a.total
	*a = assembly{}
	r.c.stats.assembled.Add(1)
	done, ferr, err := r.deliver(w, tag, bp, n)
	return done, firstErr(err, ferr)
}

// deliver hands a message that is out of the ring (in bp, which deliver takes) to its waiter,
// or stashes it for a later Recv. done and ferr say that w's own fn ran and what it returned;
// err is a second message with a stashed message's tag.
func (r *rxState) deliver(w *waiter, tag transport.Tag, bp *[]byte, n int) (done bool, ferr, err error) {
	r.mu.Lock()
	if r.closed != nil {
		r.mu.Unlock()
		putBuf(bp)
		return false, nil, nil
	}
	if x := r.waiters[tag]; x != nil {
		delete(r.waiters, tag)
		r.mu.Unlock()
		s := stashed{bp, n}
		ferr := x.fn(s.bytes())
		putBuf(bp)
		if x == w {
			return true, ferr, nil
		}
		x.finish(ferr)
		return false, nil, nil
	}
	if _, dup := r.stash[tag]; dup {
		r.mu.Unlock()
		putBuf(bp)
		return false, nil, fmt.Errorf("a second message with tag %v arrived before the first was received: %w", tag, transport.ErrDuplicateTag)
	}
	r.stash[tag] = stashed{bp, n}
	r.mu.Unlock()
	return false, nil, nil
}

// mustMoveLocked says whether the head frame (l bytes, nobody waits for it) must be moved
// aside: the peer asked for room, or a frame further on has a waiter.
func (r *rxState) mustMoveLocked(l uint64) (bool, error) {
	if r.cons.tail < r.drainTo {
		return true, nil
	}
	if len(r.waiters) == 0 {
		return false, nil
	}
	if r.scanGen != r.wgen || r.scanPos < r.cons.tail+l {
		r.scanGen, r.scanPos = r.wgen, r.cons.tail+l
	}
	for r.scanPos < r.cons.head {
		f, _, fl, err := r.cons.frameAt(r.scanPos)
		if err != nil {
			return false, err
		}
		if f.kind != kindMore && f.kind != kindCancel && r.waiters[f.tag] != nil {
			return true, nil
		}
		r.scanPos += fl
	}
	return false, nil
}

// onDrain handles the peer's request for room: frames published so far that nobody waits for
// are moved aside, by the owner if there is one, or else by the control reader, here.
func (c *Conn) onDrain() {
	if !c.acquire() {
		return
	}
	defer c.release()
	r := &c.rx
	r.mu.Lock()
	if h := c.in.ctrl.head.Load(); h > r.drainTo {
		r.drainTo = h
	}
	if r.closed != nil || r.owner != nil {
		r.mu.Unlock()
		c.kickRx()
		return
	}
	d := &r.drainer
	r.setOwner(d)
	r.busy = true
	r.mu.Unlock()
	_, err := r.process(d)
	r.mu.Lock()
	r.busy = false
	r.handOffLocked()
	r.mu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("shm: ring from %s: %w", c.peer, err))
	}
}
