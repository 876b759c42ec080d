// Package comm is the public face of Chorus: communicators (process groups) and the collectives
// they run.
//
// A Comm is one rank's handle on a group of ranks. Every collective has a blocking method that
// takes a context (c.AllReduce(ctx, ...)) and an asynchronous form, c.Start(ctx, AllReduceOp(...)),
// that returns a *Work. Operations are matched across ranks by the order in which each rank issues
// them: the n-th collective a rank issues is matched with the n-th collective of every other rank,
// and a rank that issues a different one (another op, type, count, root, reduce op or algorithm)
// makes the call fail with ErrMismatch instead of hanging or mixing data.
//
// Any failure of a collective aborts the communicator: every rank learns of it (the cause is sent,
// not waited out), and every pending and later call fails with an error wrapping ErrAborted and the
// cause. Nothing waits forever: each operation is bounded by the context passed to it and by
// Config.Timeout, and the error names the rank that was waited for.
package comm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/comm/internal/exec"
	"github.com/chorus-cc/chorus/topology"
	"github.com/chorus-cc/chorus/transport"
)

// Reserved tag values: a collective's first message (the call description sent to the next rank)
// and the abort notice.
const (
	helloStep = math.MaxUint32
	abortSeq  = math.MaxUint64
	p2pSeqBit = uint64(1) << 62 // point-to-point messages count in their own space
)

// Comm is a communicator: one rank's member of a group. Its methods are safe for concurrent use;
// operations issued concurrently from several goroutines are ordered by issue time, which must be
// the same on every rank, so issue collectives from one goroutine (or order them yourself).
type Comm struct {
	id      uint64
	epoch   uint32
	rank    int
	size    int
	cfg     resolved
	conns   []transport.Conn // by rank, nil at c.rank
	release func()           // called once by Close to release the connections, or nil
	sys     *topology.System // the machines; see System
	force   string           // the transport forced for every pair, or ""
	links   []string         // transport name by peer, "" at c.rank
	hosts   plan.Hosts       // host of each rank, for the algorithms; zero for one host
	// hostsHash is a hash of hosts, carried in every call description so that ranks that see
	// the hosts differently (and so would run different schedules) fail fast, not hang.
	hostsHash uint64
	// crowded says that some host of the communicator (or of the one it was split from) runs
	// more ranks than it has CPUs (topology.System.Oversubscribed): its shared-memory
	// connections yield their CPU while they wait, and all-reduce takes crowdedAllReduce.
	crowded bool

	eng       *exec.Engine
	cache     map[schedKey]*plan.Schedule           // used by the collective running
	hello     helloState                            // of the collective running
	bound     bound                                 // the context of the collective running
	gate      func(context.Context) ([]byte, error) // c.checkHello, made once
	compareFn func([]byte) error                    // c.compareHello, made once

	ctx    context.Context // cancelled on abort or close, with the cause
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	queue   []*Work
	running bool           // a collective runs, on the executor or on its caller's goroutine
	inline  sync.WaitGroup // collectives running on their callers' goroutines
	wake    chan struct{}
	seq     uint64   // collectives issued
	p2pSend []uint64 // per peer, sends issued
	p2pRecv []uint64 // per peer, receives issued
	closed  bool
	aborted error // the abort error, once aborted

	execDone chan struct{}
	bg       sync.WaitGroup // listeners and point-to-point goroutines
}

type schedKey struct {
	req  plan.Request
	algo string
}

// newComm starts a communicator over conns and its goroutines.
func newComm(id uint64, epoch uint32, rank int, conns []transport.Conn, cfg resolved, release func()) *Comm {
	c := &Comm{
		id:       id,
		epoch:    epoch,
		rank:     rank,
		size:     len(conns),
		cfg:      cfg,
		conns:    conns,
		release:  release,
		eng:      exec.New(rank, conns),
		cache:    map[schedKey]*plan.Schedule{},
		wake:     make(chan struct{}, 1),
		p2pSend:  make([]uint64, len(conns)),
		p2pRecv:  make([]uint64, len(conns)),
		execDone: make(chan struct{}),
	}
	c.gate, c.compareFn = c.checkHello, c.compareHello
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.bound = bound{parent: c.ctx, timeout: cfg.timeout}
	for p, conn := range conns {
		if p != rank && conn != nil {
			c.bg.Add(1)
			go c.listenAbort(p, conn)
		}
	}
	go c.executor()
	return c
}

// Rank returns this member's rank, 0..Size()-1.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks.
func (c *Comm) Size() int { return c.size }

// ID returns the communicator's id, the same on every rank.
func (c *Comm) ID() uint64 { return c.id }

// Done returns a channel that is closed when the communicator is aborted (on any rank) or
// closed; Err then says why.
func (c *Comm) Done() <-chan struct{} { return c.ctx.Done() }

// Err returns nil while the communicator works, and the error every call returns once it has been
// aborted or closed.
func (c *Comm) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

func (c *Comm) errLocked() error {
	if c.aborted != nil {
		return c.aborted
	}
	if c.closed {
		return ErrClosed
	}
	return nil
}

// Abort aborts the communicator on every rank: pending and later calls here fail at once with an
// error wrapping ErrAborted and cause, and the other ranks are told, so theirs fail too. It does
// not wait for them. Aborting twice keeps the first cause.
func (c *Comm) Abort(cause error) {
	if cause == nil {
		cause = errors.New("aborted by the application")
	}
	c.abort(cause, -1)
}

// abort records cause and tells every peer but from (the rank that told us, or -1).
func (c *Comm) abort(cause error, from int) {
	c.mu.Lock()
	if c.aborted != nil || c.closed {
		c.mu.Unlock()
		return
	}
	err := &abortError{cause: cause}
	c.aborted = err
	c.mu.Unlock()
	c.cancel(err)
	c.signal()
	msg := encodeCause(cause)
	for p, conn := range c.conns {
		if p == c.rank || p == from || conn == nil {
			continue
		}
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), abortNoticeTimeout)
			defer cancel()
			_ = conn.Send(ctx, c.abortTag(), msg) // best effort: a peer that is gone cannot be told
		}()
	}
}

// abortNoticeTimeout bounds how long telling one peer of an abort may take.
const abortNoticeTimeout = 10 * time.Second

func (c *Comm) abortTag() transport.Tag {
	return transport.Tag{Comm: c.id, Epoch: c.epoch, Seq: abortSeq, Step: helloStep}
}

// listenAbort waits for an abort notice from peer p.
func (c *Comm) listenAbort(p int, conn transport.Conn) {
	defer c.bg.Done()
	var cause error
	err := conn.Recv(c.ctx, c.abortTag(), func(b []byte) error {
		cause = decodeCause(p, b)
		return nil
	})
	if err == nil {
		c.abort(cause, p)
	}
}

// Close ends the communicator: queued operations fail with ErrClosed, the goroutines stop, and a
// communicator made by NewLocal releases its connections (once every rank of the group has
// closed; then its sub-communicators stop working). Close waits for the operation that is
// running, which the close makes fail promptly.
func (c *Comm) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel(ErrClosed)
	c.signal()
	<-c.execDone
	c.inline.Wait()
	c.bound.close()
	c.eng.Close()
	c.bg.Wait()
	if c.release != nil {
		c.release()
	}
	return nil
}

func (c *Comm) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue gives w its sequence number and queues it, in one step, so issue order is queue order.
func (c *Comm) enqueue(w *Work) {
	c.mu.Lock()
	if err := c.errLocked(); err != nil {
		c.mu.Unlock()
		w.finish(err)
		return
	}
	c.enqueueLocked(w)
}

// enqueueLocked queues w; it unlocks c.mu.
func (c *Comm) enqueueLocked(w *Work) {
	w.seq = c.seq
	c.seq++
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	c.signal()
}

// Run issues op and waits for it: the same as Start(ctx, op).Wait(), and what the blocking
// methods (AllReduce and the others) do. A collective that finds nothing queued or running runs
// on the caller's goroutine, with no hand-off to the communicator's goroutine and back, which on
// a busy machine costs more than a small collective itself (a 4 KiB all-reduce between two
// processes: 3-4 us this way, 40-50 us through Start and Wait); otherwise it waits its turn like
// Start's. Run allocates nothing for a collective of small messages.
func (c *Comm) Run(ctx context.Context, op Operation) error {
	if op.p2p != notP2P {
		return c.Start(ctx, op).Wait()
	}
	req, cl, err := c.prepare(op)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if err := c.errLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	if c.running || len(c.queue) > 0 {
		w := &Work{ctx: ctx, op: op, req: req, call: cl, done: make(chan struct{})}
		c.enqueueLocked(w)
		return w.Wait()
	}
	seq := c.seq
	c.seq++
	c.running = true
	c.inline.Add(1)
	c.mu.Unlock()
	defer c.inline.Done()
	err = c.runCollective(ctx, op, req, cl, seq)
	c.doneRunning()
	return err
}

// popLocked takes the first queued collective.
func (c *Comm) popLocked() *Work {
	w := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	return w
}

// doneRunning ends the running collective and lets the executor start the next one.
func (c *Comm) doneRunning() {
	c.mu.Lock()
	c.running = false
	more := len(c.queue) > 0
	c.mu.Unlock()
	if more {
		c.signal()
	}
}

// executor runs queued collectives one at a time, in issue order, when none runs on a caller's
// goroutine (see run).
func (c *Comm) executor() {
	defer close(c.execDone)
	for {
		c.mu.Lock()
		err := c.errLocked()
		var w *Work
		if len(c.queue) > 0 && (!c.running || err != nil) {
			w = c.popLocked()
			c.running = c.running || err == nil
		}
		closed := c.closed
		c.mu.Unlock()
		if w == nil {
			if closed {
				return
			}
			<-c.wake
			continue
		}
		if err != nil {
			w.finish(err)
			continue
		}
		w.finish(c.runCollective(w.ctx, w.op, w.req, w.call, w.seq))
		c.doneRunning()
	}
}

// newID returns a random communicator id.
func newID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("comm: crypto/rand failed: %v", err))
	}
	return binary.LittleEndian.Uint64(b[:])
}
