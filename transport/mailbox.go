package transport

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
)

// Mailbox matches the messages arriving on one connection with their receivers by Tag. Every
// backend shares it: the receiving end of a connection owns one Mailbox, its receivers call Recv,
// and whatever brings messages in (the peer's Send in memory, a network reader) calls Deliver or
// DeliverOwned.
//
// A tag is matched once: a message and a receiver with the same tag meet, fn runs once with the
// message's bytes, and the tag is forgotten. While a tag is pending (a receiver waits for it, or
// a message waits for its receiver), a second receiver or a second message with that tag fails
// with ErrDuplicateTag and leaves the pending one untouched. The Mailbox does not remember tags
// that were already matched (that would grow without bound): a tag delivered again after its
// receiver got the first message is a new message. Tags carry sequence numbers so that this
// does not happen.
//
// Who copies: when the receiver waits first, Deliver runs the receiver's fn in the delivering
// goroutine with the sender's bytes (no copy by the Mailbox). When the message comes first, a
// message of at most the eager limit is copied into a pooled buffer and Deliver returns at once
// (eager); a larger one makes Deliver wait until a receiver has run fn over the sender's bytes in
// the receiving goroutine (rendezvous, no copy by the Mailbox). DeliverOwned hands over a buffer
// that the Mailbox keeps and releases, whatever its size, without waiting.
//
// The methods of a Mailbox may be called from many goroutines at once. The paths "receiver
// first", "rendezvous" and "eager" do not allocate in steady state: entries, their wake-up
// channels and eager buffers come from pools. (A Recv whose fn is a closure literal pays for the
// closure, which escapes into the table; callers on a hot path reuse one fn.)
type Mailbox struct {
	mu         sync.Mutex
	entries    map[Tag]*entry // pending receivers and messages; nil once closed
	closed     error          // non-nil once closed; wraps ErrClosed and the cause
	eagerLimit int

	// pendHook, when set (by tests, before any use), runs after a receiver or a rendezvous
	// message has been entered into the table and before its caller starts waiting.
	pendHook func()
}

// NewMailbox returns an empty Mailbox. Messages of at most eagerLimit bytes that arrive before
// their receiver are copied and queued; larger ones wait for their receiver. A negative
// eagerLimit is taken as 0 (only empty messages are queued).
func NewMailbox(eagerLimit int) *Mailbox {
	return &Mailbox{entries: make(map[Tag]*entry), eagerLimit: max(eagerLimit, 0)}
}

// entryKind says what a pending entry holds.
type entryKind uint8

const (
	kindRecv       entryKind = iota + 1 // a receiver waits: fn
	kindQueued                          // a message waits, held by the Mailbox: buf (bufp or release)
	kindRendezvous                      // a message waits, its sender too: buf is the sender's
)

// entry is one pending receiver or message. The goroutine that waits on an entry (a receiver,
// a rendezvous sender) owns it and returns it to the pool; the side that completes it writes err
// and then signals done, and touches it no more. Queued messages belong to the Mailbox.
type entry struct {
	kind    entryKind
	fn      func(p []byte) error
	buf     []byte
	bufp    *[]byte      // the pooled buffer under buf, or nil
	release func([]byte) // the owner's release of an owned buf, or nil
	err     error
	done    chan struct{} // capacity 1; signalled once per use, drained by the owner
}

var entryPool = sync.Pool{New: func() any { return &entry{done: make(chan struct{}, 1)} }}

func getEntry(kind entryKind) *entry {
	e := entryPool.Get().(*entry)
	e.kind = kind
	return e
}

func putEntry(e *entry) {
	done := e.done
	*e = entry{done: done}
	entryPool.Put(e)
}

// bufPools[c] holds *[]byte of capacity 1<<c, for eager copies.
var bufPools [64]sync.Pool

const minBufClass = 6 // 64 bytes

func bufClass(n int) int {
	return max(bits.Len(uint(n-1)), minBufClass)
}

func getBuf(n int) *[]byte {
	c := bufClass(n)
	if v := bufPools[c].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 1<<c)
	return &b
}

func putBuf(bp *[]byte) {
	bufPools[bufClass(cap(*bp))].Put(bp)
}

// free gives back what a queued entry holds, and the entry.
func (e *entry) free() {
	if e.bufp != nil {
		putBuf(e.bufp)
	}
	if e.release != nil {
		e.release(e.buf)
	}
	putEntry(e)
}

// complete runs a waiting receiver's fn over p, hands its error to the receiver and wakes it.
// e must have been removed from the table by the caller.
func complete(e *entry, p []byte) {
	e.err = e.fn(p)
	e.done <- struct{}{}
}

// Deliver hands over one message. When a receiver waits for tag, its fn runs in this goroutine
// over p, fn's error goes to the receiver, and Deliver returns nil. Otherwise, a message of at
// most the eager limit is copied and queued and Deliver returns nil at once; a larger one waits
// until a receiver has taken it (nil), ctx is done, or the Mailbox is closed. Deliver returns nil
// exactly when the message was or will be received; p may be reused once Deliver returns. When
// Deliver returns an error, no receiver ever sees the message.
func (m *Mailbox) Deliver(ctx context.Context, tag Tag, p []byte) error {
	m.mu.Lock()
	if e, ok := m.entries[tag]; ok {
		if e.kind != kindRecv {
			m.mu.Unlock()
			return fmt.Errorf("transport: deliver %v: %w (a message is pending)", tag, ErrDuplicateTag)
		}
		delete(m.entries, tag)
		m.mu.Unlock()
		complete(e, p)
		return nil
	}
	if m.closed != nil {
		err := m.closed
		m.mu.Unlock()
		return fmt.Errorf("transport: deliver %v: %w", tag, err)
	}
	if len(p) <= m.eagerLimit {
		m.mu.Unlock()
		return m.deliverEager(tag, p)
	}
	e := getEntry(kindRendezvous)
	e.buf = p
	m.entries[tag] = e
	m.mu.Unlock()
	if m.pendHook != nil {
		m.pendHook()
	}
	return m.wait(ctx, tag, e, "deliver")
}

// deliverEager copies p outside the lock, then queues the copy, unless a receiver came in the
// meantime.
func (m *Mailbox) deliverEager(tag Tag, p []byte) error {
	var bp *[]byte
	var buf []byte
	if len(p) > 0 {
		bp = getBuf(len(p))
		buf = (*bp)[:len(p)]
		copy(buf, p)
	}
	m.mu.Lock()
	if e, ok := m.entries[tag]; ok {
		if e.kind != kindRecv {
			m.mu.Unlock()
			if bp != nil {
				putBuf(bp)
			}
			return fmt.Errorf("transport: deliver %v: %w (a message is pending)", tag, ErrDuplicateTag)
		}
		delete(m.entries, tag)
		m.mu.Unlock()
		complete(e, p)
		if bp != nil {
			putBuf(bp)
		}
		return nil
	}
	if m.closed != nil {
		err := m.closed
		m.mu.Unlock()
		if bp != nil {
			putBuf(bp)
		}
		return fmt.Errorf("transport: deliver %v: %w", tag, err)
	}
	e := getEntry(kindQueued)
	e.buf, e.bufp = buf, bp
	m.entries[tag] = e
	m.mu.Unlock()
	return nil
}

// DeliverOwned hands over a message whose buffer the Mailbox takes: it never copies p and never
// waits. When a receiver waits, its fn runs in this goroutine over p; otherwise p is queued for
// its receiver, whatever its size. The Mailbox calls release(p) exactly once when it no longer
// needs p (after fn ran, when the Mailbox is closed with p queued, or before an error return);
// release may be nil. This is the call for a network reader that has read a frame into a pooled
// buffer. It returns nil exactly when the message was or will be received (queued messages are
// dropped by Close).
func (m *Mailbox) DeliverOwned(tag Tag, p []byte, release func([]byte)) error {
	m.mu.Lock()
	if e, ok := m.entries[tag]; ok {
		if e.kind != kindRecv {
			m.mu.Unlock()
			if release != nil {
				release(p)
			}
			return fmt.Errorf("transport: deliver %v: %w (a message is pending)", tag, ErrDuplicateTag)
		}
		delete(m.entries, tag)
		m.mu.Unlock()
		complete(e, p)
		if release != nil {
			release(p)
		}
		return nil
	}
	if m.closed != nil {
		err := m.closed
		m.mu.Unlock()
		if release != nil {
			release(p)
		}
		return fmt.Errorf("transport: deliver %v: %w", tag, err)
	}
	e := getEntry(kindQueued)
	e.buf, e.release = p, release
	m.entries[tag] = e
	m.mu.Unlock()
	return nil
}

// Recv waits for the message with tag and calls fn with its bytes, once; fn's error is Recv's
// error, as it is. fn runs either in this goroutine or in the delivering one; it must not keep p,
// block, or panic. Recv fails with ErrDuplicateTag when another receiver waits for tag, with an
// error wrapping ErrClosed once the Mailbox is closed, and with ctx's error when ctx is done
// before a message came. Recv returns ctx's error only if fn did not run: the message is then
// still there for a later Recv.
func (m *Mailbox) Recv(ctx context.Context, tag Tag, fn func(p []byte) error) error {
	m.mu.Lock()
	if e, ok := m.entries[tag]; ok {
		switch e.kind {
		case kindQueued:
			delete(m.entries, tag)
			m.mu.Unlock()
			err := fn(e.buf)
			e.free()
			return err
		case kindRendezvous:
			delete(m.entries, tag)
			m.mu.Unlock()
			err := fn(e.buf)
			e.err = nil
			e.done <- struct{}{}
			return err
		default:
			m.mu.Unlock()
			return fmt.Errorf("transport: recv %v: %w (a receiver is waiting)", tag, ErrDuplicateTag)
		}
	}
	if m.closed != nil {
		err := m.closed
		m.mu.Unlock()
		return fmt.Errorf("transport: recv %v: %w", tag, err)
	}
	e := getEntry(kindRecv)
	e.fn = fn
	m.entries[tag] = e
	m.mu.Unlock()
	if m.pendHook != nil {
		m.pendHook()
	}
	return m.wait(ctx, tag, e, "recv")
}

// wait waits until the entry e, entered under tag, is completed, or ctx is done. When ctx is
// done first and e is still in the table, it takes e out and returns ctx's error; when e was
// taken by the other side already, that side is running (or has run) fn, so wait waits for it to
// finish and returns the result.
func (m *Mailbox) wait(ctx context.Context, tag Tag, e *entry, op string) error {
	select {
	case <-e.done:
	case <-ctx.Done():
		m.mu.Lock()
		if m.entries[tag] == e {
			delete(m.entries, tag)
			m.mu.Unlock()
			putEntry(e)
			return fmt.Errorf("transport: %s %v: %w", op, tag, ctxErr(ctx))
		}
		m.mu.Unlock()
		<-e.done
	}
	err := e.err
	putEntry(e)
	return err
}

// ctxErr is ctx's error, with its cause when the cause says more.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// Close fails every pending and later call with an error that wraps ErrClosed and cause (which
// may be nil), and drops the queued messages (releasing owned buffers). Receivers and
// rendezvous senders that were already matched finish normally. Later Closes do nothing.
func (m *Mailbox) Close(cause error) {
	m.mu.Lock()
	if m.closed != nil {
		m.mu.Unlock()
		return
	}
	if cause != nil {
		m.closed = fmt.Errorf("%w: %w", ErrClosed, cause)
	} else {
		m.closed = ErrClosed
	}
	closed, entries := m.closed, m.entries
	m.entries = nil
	m.mu.Unlock()
	for tag, e := range entries {
		switch e.kind {
		case kindQueued:
			e.free()
		case kindRecv:
			e.err = fmt.Errorf("transport: recv %v: %w", tag, closed)
			e.done <- struct{}{}
		case kindRendezvous:
			e.err = fmt.Errorf("transport: deliver %v: %w", tag, closed)
			e.done <- struct{}{}
		}
	}
}

// Pending returns how many receivers and messages wait in the Mailbox (zero once closed).
func (m *Mailbox) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
