// Package exec is the engine of Chorus: it runs one rank's plan.Program over transport
// connections. It is the only place where schedules meet I/O.
//
// Each message of a program is cut into chunks of at most ChunkBytes; the chunks of a send are
// written by a per-peer sender goroutine while the program goes on, and the chunks of a receive
// are copied or reduced as each one arrives, so sending, receiving and reducing overlap. A local
// copy of the region a send reads may ride with the send (teeCopy): the sender goroutine copies
// each chunk right after sending it, while it is in the cache. A message in memory that the
// connection can lend (transport.Lender: shared memory from shm.Alloc) is not copied at all: the
// program's goroutine lends it, the receiver reads it where it lies, and the send is done once
// the receiver has (see complete). In steady state a chunk costs no allocation: sends travel as
// values over a channel, and receives use one reusable callback.
package exec

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/transport"
)

// ChunkBytes is the largest piece a message is cut into on the wire. Both ends cut a message the
// same way, so it must be the same on every rank; it is a constant for that reason.
const ChunkBytes = 256 << 10

// Chunks returns how many chunks a message of n bytes travels in (at least one, so that a
// zero-length message still carries its tag).
func Chunks(n int) int {
	if n <= 0 {
		return 1
	}
	return (n + ChunkBytes - 1) / ChunkBytes
}

// StepError says which step of a program failed and which peer it was exchanging with.
type StepError struct {
	Peer int     // the peer of the failed step, or -1 for a local step
	Step int     // index of the step in the program
	Op   plan.Op // its kind
	Err  error
}

func (e *StepError) Error() string {
	if e.Peer < 0 {
		return fmt.Sprintf("step %d (%s): %v", e.Step, e.Op, e.Err)
	}
	dir := "from"
	if e.Op == plan.Send {
		dir = "to"
	}
	return fmt.Sprintf("step %d (%s %s rank %d): %v", e.Step, e.Op, dir, e.Peer, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Task is one program to run, with the memory it works on.
type Task struct {
	Prog  *plan.Program
	In    []byte        // the In buffer (may alias Out)
	Out   []byte        // the Out buffer
	DType reduce.DType  // element type
	Op    reduce.Op     // reduction op for RecvReduce and ReduceLocal
	Tag   transport.Tag // base tag: Comm, Epoch, Seq and Check; Step and Chunk are set per message
	// Gate, when set, is called once before the program's first receive, or at its end when it
	// has none; its error ends the program. The sends before the first receive go out first, so
	// a check that needs a message from a peer (the communicator's call description) costs no
	// extra round trip. Gate may return the program's first message from rank AheadFrom
	// (message 0 of that pair), when it came with what the gate received: the receive of that
	// message then takes it from there instead of from the connection. Not nil means it came,
	// even when it is empty.
	Gate      func(ctx context.Context) (ahead []byte, err error)
	AheadFrom int
	// SentFirst says that the caller has sent the program's first step, a Send, itself (with
	// the call description): the engine counts that message and does not send it again.
	SentFirst bool
}

// FirstSend returns the peer and the bytes of t's first step when it is a Send from In or Out,
// which a caller may send itself (see Task.SentFirst).
func FirstSend(t *Task) (peer int, data []byte, ok bool) {
	if len(t.Prog.Steps) == 0 {
		return 0, nil, false
	}
	st := t.Prog.Steps[0]
	if st.Op != plan.Send || st.Src.Buf == plan.Scratch {
		return 0, nil, false
	}
	return st.Peer, region(t, nil, st.Src), true
}

type sendReq struct {
	ctx   context.Context
	tag   transport.Tag
	data  []byte
	tee   []byte // when set, each chunk of data is also copied here once sent
	first int    // the chunks before it went out already
	idx   int
}

type sendDone struct {
	idx  int
	err  error
	lent bool   // the message was lent: the peer reads its memory until Settle(mark)
	mark uint64 // when lent
}

type sendRec struct {
	lo, hi   uintptr // memory the send reads
	wlo, whi uintptr // memory it writes (its tee), if any
	done     bool    // the send no longer touches its memory
	queued   bool    // with the sender goroutine (counted in pending)
	lent     bool    // lent and not settled yet: done once Settle(mark) returns (see complete)
	mark     uint64
	err      error
	peer     int
	step     int
}

// Engine runs programs for one rank of one communicator. Run calls must not overlap.
type Engine struct {
	conns  []transport.Conn // by rank; nil for self
	rank   int
	queues []chan sendReq // per peer, to its sender goroutine
	// lenders are the connections that lend (transport.Lender), by peer; nil for the others.
	lenders []transport.Lender
	done    chan sendDone
	wg      sync.WaitGroup // the sender goroutines

	scratch []byte
	sends   []sendRec
	// sendCtx bounds the sends handed to the sender goroutines, so that they stop when the task
	// fails; made at the first such send of a task (a task of small messages has none and costs
	// no allocation).
	sendCtx context.Context
	cancel  context.CancelFunc
	nsent   []uint32 // per peer, messages sent in the current task
	pending []int    // per peer, sends with the sender goroutine not yet recorded done (see sendRec.queued)
	nrecv   []uint32 // per peer, messages received in the current task
	teeing  bool     // a send of the current task writes memory (see teeCopy)

	// receive callback state, reused for every chunk
	rDst    []byte
	rReduce bool
	rDType  reduce.DType
	rOp     reduce.Op
	recvFn  func([]byte) error
}

// New returns an engine for rank over conns (indexed by rank, nil at rank). It starts one sender
// goroutine per peer; Close stops them.
func New(rank int, conns []transport.Conn) *Engine {
	e := &Engine{
		conns:   conns,
		rank:    rank,
		queues:  make([]chan sendReq, len(conns)),
		lenders: make([]transport.Lender, len(conns)),
		done:    make(chan sendDone, 64),
		nsent:   make([]uint32, len(conns)),
		pending: make([]int, len(conns)),
		nrecv:   make([]uint32, len(conns)),
	}
	e.recvFn = e.consume
	for p, c := range conns {
		if p == rank || c == nil {
			continue
		}
		q := make(chan sendReq, 16)
		e.queues[p] = q
		e.lenders[p], _ = c.(transport.Lender)
		e.wg.Add(1)
		go e.sender(c, q)
	}
	return e
}

// Close stops the sender goroutines. It must not be called while Run is running.
func (e *Engine) Close() {
	for _, q := range e.queues {
		if q != nil {
			close(q)
		}
	}
	e.wg.Wait()
}

// sender sends the messages posted for one peer, in order. A message that it lent is reported
// with its mark: the program's goroutine settles it when it must (see complete).
func (e *Engine) sender(c transport.Conn, q <-chan sendReq) {
	defer e.wg.Done()
	l, _ := c.(transport.Lender)
	for r := range q {
		mark, lent, err := sendChunks(r.ctx, c, l, r.tag, r.data, r.first, r.tee)
		e.done <- sendDone{idx: r.idx, err: err, lent: lent, mark: mark}
	}
}

func (e *Engine) consume(p []byte) error {
	if len(p) != len(e.rDst) {
		return fmt.Errorf("%w: got %d bytes, want %d", transport.ErrLength, len(p), len(e.rDst))
	}
	if e.rReduce {
		reduce.Reduce(e.rDType, e.rOp, e.rDst, p)
	} else {
		copy(e.rDst, p)
	}
	return nil
}

func span(b []byte) (lo, hi uintptr) {
	if len(b) == 0 {
		return 0, 0
	}
	lo = uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return lo, lo + uintptr(len(b))
}

func (e *Engine) region(t *Task, r plan.Region) []byte { return region(t, e.scratch, r) }

// region returns the bytes of r in t's buffers, with scratch as the Scratch buffer.
func region(t *Task, scratch []byte, r plan.Region) []byte {
	sz := t.DType.Size()
	var b []byte
	switch r.Buf {
	case plan.In:
		b = t.In
	case plan.Out:
		b = t.Out
	case plan.Scratch:
		b = scratch
	}
	return b[r.Off*sz : (r.Off+r.Len)*sz]
}

// Run runs t's program. It returns when the program has finished and every send has completed,
// or on the first error (after the sends in flight have stopped; cancel ctx to stop them sooner).
// Errors are *StepError values.
func (e *Engine) Run(ctx context.Context, t *Task) error {
	sz := t.DType.Size()
	if need := t.Prog.Scratch * sz; need > len(e.scratch) {
		e.scratch = make([]byte, need)
	}
	e.sends = e.sends[:0]
	e.teeing = false
	clear(e.nsent)
	clear(e.nrecv)
	err := e.run(ctx, t)
	if err != nil && e.cancel != nil {
		e.cancel()
	}
	if werr := e.waitAll(); err == nil {
		err = werr
	}
	if e.cancel != nil {
		e.cancel()
		e.sendCtx, e.cancel = nil, nil
	}
	return err
}

func (e *Engine) run(ctx context.Context, t *Task) error {
	gated := t.Gate == nil
	teed := -1       // the Copy step that a send does as it goes (see teeCopy)
	var ahead []byte // message 0 from t.AheadFrom, once the gate has handed it over
	for i := range t.Prog.Steps {
		st := &t.Prog.Steps[i]
		switch st.Op {
		case plan.Send:
			tag := t.Tag
			tag.Step = e.nsent[st.Peer]
			e.nsent[st.Peer]++
			if i == 0 && t.SentFirst {
				continue
			}
			data := e.region(t, st.Src)
			if err := e.waitWritten(data); err != nil {
				return err
			}
			lo, hi := span(data)
			idx := len(e.sends)
			e.sends = append(e.sends, sendRec{lo: lo, hi: hi, peer: st.Peer, step: i})
			if len(data) <= transport.SmallMessage {
				// A small message never waits for its receiver (transport.Conn's contract), so it
				// goes out from here: handing it to the peer's sender goroutine would cost a
				// goroutine wake-up, most of a small collective's latency.
				e.sends[idx].done = true
				if err := SendMessage(ctx, e.conns[st.Peer], tag, data); err != nil {
					return &StepError{Peer: st.Peer, Step: i, Op: st.Op, Err: err}
				}
				continue
			}
			// The Copy that the sender goroutine makes as it sends (see teeCopy), if any. Not
			// where the copy overlaps what it copies (in place): chunk by chunk, it would
			// overwrite chunks not sent yet.
			var tee []byte
			tj := -1
			if j := teeCopy(t, i); j >= 0 && teed < 0 {
				if dst := e.region(t, t.Prog.Steps[j].Dst); !overlap(dst, data) {
					tee, tj = dst, j
				}
			}
			if tee == nil {
				lent, err := e.lend(ctx, st.Peer, idx, tag, data)
				if err != nil {
					e.sends[idx].done = true
					return &StepError{Peer: st.Peer, Step: i, Op: st.Op, Err: err}
				}
				if lent {
					continue
				}
			}
			first, err := e.trySend(st.Peer, tag, data)
			if err != nil {
				e.sends[idx].done = true
				return &StepError{Peer: st.Peer, Step: i, Op: st.Op, Err: err}
			}
			if first == Chunks(len(data)) {
				e.sends[idx].done = true
				continue
			}
			e.startSends(ctx)
			if tee != nil && first == 0 {
				teed = tj
				e.sends[idx].wlo, e.sends[idx].whi = span(tee)
				e.teeing = true
			} else {
				tee = nil
			}
			if err := e.post(ctx, st.Peer, sendReq{ctx: e.sendCtx, tag: tag, data: data, tee: tee, first: first, idx: idx}); err != nil {
				e.sends[idx].done = true
				return &StepError{Peer: st.Peer, Step: i, Op: st.Op, Err: err}
			}
			e.sends[idx].queued = true
			e.pending[st.Peer]++
		case plan.Recv, plan.RecvReduce:
			if !gated {
				gated = true
				var err error
				if ahead, err = t.Gate(ctx); err != nil {
					return err
				}
			}
			dst := e.region(t, st.Dst)
			if err := e.waitOverlap(dst); err != nil {
				return err
			}
			tag := t.Tag
			tag.Step = e.nrecv[st.Peer]
			e.nrecv[st.Peer]++
			var err error
			if ahead != nil && st.Peer == t.AheadFrom && tag.Step == 0 {
				e.rDst, e.rReduce, e.rDType, e.rOp = dst, st.Op == plan.RecvReduce, t.DType, t.Op
				err = e.consume(ahead)
				e.rDst, ahead = nil, nil
			} else {
				err = e.recv(ctx, st.Peer, tag, dst, st.Op == plan.RecvReduce, t)
			}
			if err != nil {
				return &StepError{Peer: st.Peer, Step: i, Op: st.Op, Err: err}
			}
		case plan.Copy, plan.ReduceLocal:
			if i == teed {
				continue
			}
			src, dst := e.region(t, st.Src), e.region(t, st.Dst)
			if err := e.waitWritten(src); err != nil {
				return err
			}
			if st.Op == plan.Copy && (len(dst) == 0 || unsafe.SliceData(dst) == unsafe.SliceData(src)) {
				continue // onto itself (in place): nothing is written, so nothing to wait for
			}
			if err := e.waitOverlap(dst); err != nil {
				return err
			}
			if st.Op == plan.ReduceLocal {
				reduce.Reduce(t.DType, t.Op, dst, src)
			} else {
				copy(dst, src)
			}
		default:
			return &StepError{Peer: -1, Step: i, Op: st.Op, Err: fmt.Errorf("unknown step kind %d", st.Op)}
		}
	}
	if !gated {
		_, err := t.Gate(ctx)
		return err
	}
	return nil
}

func (e *Engine) recv(ctx context.Context, peer int, tag transport.Tag, dst []byte, red bool, t *Task) error {
	c := e.conns[peer]
	n := Chunks(len(dst))
	e.rReduce, e.rDType, e.rOp = red, t.DType, t.Op
	for i := 0; i < n; i++ {
		lo := i * ChunkBytes
		hi := min(lo+ChunkBytes, len(dst))
		e.rDst = dst[lo:hi]
		tag.Chunk = uint32(i)
		if err := c.Recv(ctx, tag, e.recvFn); err != nil {
			e.rDst = nil
			return err
		}
	}
	e.rDst = nil
	return nil
}

// post hands r to the sender of peer, recording completions while the queue is full so that
// senders never stall on a full completion channel.
func (e *Engine) post(ctx context.Context, peer int, r sendReq) error {
	for {
		select {
		case e.queues[peer] <- r:
			return nil
		case d := <-e.done:
			e.record(d)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// startSends makes the context of the sends that go on after the program's goroutine moved on,
// at the first such send of a task.
func (e *Engine) startSends(ctx context.Context) {
	if e.sendCtx == nil {
		e.sendCtx, e.cancel = context.WithCancel(ctx)
	}
}

// record records a completion from a sender goroutine: the send is done, or lent and to be
// settled.
func (e *Engine) record(d sendDone) *sendRec {
	s := &e.sends[d.idx]
	s.err, s.queued = d.err, false
	e.pending[s.peer]--
	if d.lent && d.err == nil {
		s.lent, s.mark = true, d.mark
	} else {
		s.done = true
	}
	return s
}

// complete waits until send s no longer touches its memory: for a sender goroutine to report
// it, and for the peer to have read it where it was lent (Settle, from here: this goroutine
// would wait anyway, and settling here, polling first, takes no wake-up of another goroutine
// when the peer is about done). It returns the send's error as a *StepError.
func (e *Engine) complete(s *sendRec) error {
	for !s.done {
		if s.lent {
			s.err = e.lenders[s.peer].Settle(e.sendCtx, s.mark)
			s.lent, s.done = false, true
			break
		}
		e.record(<-e.done)
	}
	if s.err != nil {
		return &StepError{Peer: s.peer, Step: s.step, Op: plan.Send, Err: s.err}
	}
	return nil
}

// lend lends the message of send idx (data, tag) to peer from the program's goroutine, when the
// connection lends (transport.Lender), the message lies in memory it can lend, and no earlier
// send to the peer is still with the sender goroutine, which it would overtake. Lending costs a
// small notice per chunk, less than waking the sender goroutine, which where the rank has one P
// runs only once the program's goroutine waits. The send is done once settled (see complete).
// lent says whether it lent.
func (e *Engine) lend(ctx context.Context, peer, idx int, tag transport.Tag, data []byte) (lent bool, err error) {
	l := e.lenders[peer]
	if l == nil || len(data) < lendMin || !e.senderIdle(peer) {
		return false, nil
	}
	tag.Chunk = 0
	mark, ok, err := l.Lend(ctx, tag, data[:min(ChunkBytes, len(data))])
	if err != nil || !ok {
		return false, err
	}
	if Chunks(len(data)) > 1 {
		m, more, err := sendChunks(ctx, e.conns[peer], l, tag, data, 1, nil)
		if err != nil {
			return true, err
		}
		if more {
			mark = m
		}
	}
	e.startSends(ctx)
	e.sends[idx].lent, e.sends[idx].mark = true, mark
	return true, nil
}

// lendMin is the smallest message the engine lends (transport.Lender). Below it, a copy through
// the connection's buffers is cheaper than waiting for the receiver to read the message where it
// lies: an all-reduce waits for that in its middle, before it receives into memory it sent
// from. Two bound processes (chorus bench -N 2 -R 1 against -R 0), median per call in place,
// lending every message above 8 KiB against none: all-reduce of 64 KiB 50-68 us against 13, of
// 1 MiB 174-180 against 183, of 4 MiB 0.72-0.78 ms against 0.93-0.95.
const lendMin = ChunkBytes

// inlineSendMax is the largest message trySend sends from the engine's goroutine. Larger ones
// are bandwidth-bound, and the sender goroutine copying them while the engine receives and
// reduces uses two cores where the engine alone would use one.
const inlineSendMax = 4 * ChunkBytes

// trySend sends the chunks of a message from here while the connection can take them at once
// (transport.TrySender) and no earlier send to the peer is still with its sender goroutine,
// which they would overtake: a chunk is copied sooner than a sender goroutine wakes up. It
// returns how many chunks went out; the sender goroutine sends the others.
func (e *Engine) trySend(peer int, tag transport.Tag, data []byte) (int, error) {
	ts, ok := e.conns[peer].(transport.TrySender)
	if !ok || len(data) > inlineSendMax || !e.senderIdle(peer) {
		return 0, nil
	}
	n := Chunks(len(data))
	for i := range n {
		tag.Chunk = uint32(i)
		sent, err := ts.TrySend(tag, data[i*ChunkBytes:min((i+1)*ChunkBytes, len(data))])
		if err != nil || !sent {
			return i, err
		}
	}
	return n, nil
}

// senderIdle reports whether no send to peer is still with its sender goroutine (recording the
// completions that came meanwhile): a message sent from the program's goroutine would overtake
// it.
func (e *Engine) senderIdle(peer int) bool {
	for e.pending[peer] > 0 {
		select {
		case d := <-e.done:
			e.record(d)
		default:
			return false
		}
	}
	return true
}

// waitOverlap waits for every incomplete send whose memory (read or written) overlaps dst.
func (e *Engine) waitOverlap(dst []byte) error {
	lo, hi := span(dst)
	if lo == hi {
		return nil
	}
	for i := range e.sends {
		s := &e.sends[i]
		if !s.done && (meet(s.lo, s.hi, lo, hi) || meet(s.wlo, s.whi, lo, hi)) {
			if err := e.complete(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// meet reports whether the address ranges [alo, ahi) and [blo, bhi) share a byte.
func meet(alo, ahi, blo, bhi uintptr) bool { return alo < bhi && blo < ahi }

// overlap reports whether a and b share memory.
func overlap(a, b []byte) bool {
	alo, ahi := span(a)
	blo, bhi := span(b)
	return meet(alo, ahi, blo, bhi)
}

// waitWritten waits for every incomplete send that writes memory overlapping src.
func (e *Engine) waitWritten(src []byte) error {
	lo, hi := span(src)
	if lo == hi || !e.teeing {
		return nil
	}
	for i := range e.sends {
		s := &e.sends[i]
		if !meet(s.wlo, s.whi, lo, hi) {
			continue
		}
		for s.queued { // the tee is written once the sender goroutine reports, lent or not
			e.record(<-e.done)
		}
		if s.err != nil {
			return &StepError{Peer: s.peer, Step: s.step, Op: plan.Send, Err: s.err}
		}
	}
	return nil
}

// teeCopy returns the index of the Copy step that the Send at step i, handed to a sender
// goroutine, makes as it goes, or -1. That is the first Copy of exactly the send's region after
// it, with only Sends in between (a broadcast's root, an all-gather's own block): the sender
// copies each chunk right after sending it, while the chunk is in the cache, which saves reading
// the region from memory again. It does so where the program's goroutine has other work, the
// receives that follow, or where the process has a single CPU; otherwise the program's
// goroutine makes the copy itself, on another CPU while the sender sends. Measured with 64 MiB
// on the 2-core VM, interleaved: all-gather out of place 2.3-2.5 GB/s busbw without, 3.9-4.1
// with (unbound), 3.2-4.0 and 3.5-4.0 bound; a root's broadcast, which has nothing else to do,
// 5.1-5.3 GB/s with its own copy against 4.3-4.6 teed when unbound, 4.0-6.2 against 5.9-7.1
// bound to one CPU.
func teeCopy(t *Task, i int) int {
	steps := t.Prog.Steps
	j := i + 1
	for j < len(steps) && steps[j].Op == plan.Send {
		j++
	}
	if j == len(steps) || steps[j].Op != plan.Copy || steps[j].Src != steps[i].Src {
		return -1
	}
	if runtime.NumCPU() == 1 {
		return j
	}
	for _, st := range steps[j+1:] {
		if st.Op == plan.Recv || st.Op == plan.RecvReduce {
			return j
		}
	}
	return -1
}

// waitAll waits for every send of the task and returns the first send error.
func (e *Engine) waitAll() error {
	var first error
	for i := range e.sends {
		if err := e.complete(&e.sends[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// SendMessage sends data as one message cut into chunks, like a program's Send. A message of at
// least lendMin bytes is lent where the connection can (see sendChunks): it may wait for its
// receiver anyway.
func SendMessage(ctx context.Context, c transport.Conn, tag transport.Tag, data []byte) error {
	var l transport.Lender
	if len(data) >= lendMin {
		l, _ = c.(transport.Lender)
	}
	mark, lent, err := sendChunks(ctx, c, l, tag, data, 0, nil)
	if lent && err == nil {
		err = l.Settle(ctx, mark)
	}
	return err
}

// sendChunks sends the chunks of data from the first on, and copies each one to tee, when
// set, right after sending it, while it is still in the cache. With a Lender, it lends the
// chunks that the connection can lend (they lie in shared memory: the receiver reads them
// where they are, with no copy on this side) and reports lent with the mark to settle: data
// must not be written until Settle(mark) has returned. A lent message waits for its receiver,
// which a message of at most transport.SmallMessage must never do: the program's goroutine
// sends those without lending.
func sendChunks(ctx context.Context, c transport.Conn, l transport.Lender, tag transport.Tag, data []byte, first int, tee []byte) (mark uint64, lent bool, err error) {
	n := Chunks(len(data))
	for i := first; i < n; i++ {
		lo := i * ChunkBytes
		hi := min(lo+ChunkBytes, len(data))
		tag.Chunk = uint32(i)
		ok := false
		if l != nil {
			var m uint64
			if m, ok, err = l.Lend(ctx, tag, data[lo:hi]); err != nil {
				return mark, lent, err
			}
			if ok {
				mark, lent = m, true
			}
		}
		if !ok {
			if err := c.Send(ctx, tag, data[lo:hi]); err != nil {
				return mark, lent, err
			}
		}
		if tee != nil {
			copy(tee[lo:hi], data[lo:hi])
		}
	}
	return mark, lent, nil
}

// RecvMessage receives into dst one message sent by SendMessage; its length must be len(dst).
func RecvMessage(ctx context.Context, c transport.Conn, tag transport.Tag, dst []byte) error {
	n := Chunks(len(dst))
	for i := 0; i < n; i++ {
		lo := i * ChunkBytes
		part := dst[lo:min(lo+ChunkBytes, len(dst))]
		tag.Chunk = uint32(i)
		err := c.Recv(ctx, tag, func(p []byte) error {
			if len(p) != len(part) {
				return fmt.Errorf("%w: got %d bytes, want %d", transport.ErrLength, len(p), len(part))
			}
			copy(part, p)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
