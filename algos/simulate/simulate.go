// Package simulate is a deterministic interpreter of schedules (package plan). It runs every rank's
// program in one goroutine, moves real bytes between ranks, and reports what each rank ended with,
// how much it sent, and the length of the critical path in messages. It is how the algorithms of
// package algos are tested without a network.
//
// The simulator follows the semantics of plan's package doc in the least forgiving way the engine
// may run them:
//
//   - Each rank runs its steps in order. Recv, RecvReduce, Copy and ReduceLocal are synchronous.
//   - A Send is posted without waiting and completes only when the receiver takes the message
//     (rendezvous). The receiver reads the sender's memory at that moment, so a schedule that
//     changes a region between posting its send and the send's completion would be seen.
//   - A step that writes (the Dst of Recv, RecvReduce, Copy, ReduceLocal) a region overlapping the
//     Src of an incomplete Send of the same rank waits for that Send to complete. Overlap is
//     decided on real memory: when the request is in place, In and Out share memory as
//     plan.Request.InPlaceOffset says, and the simulator really allocates them that way.
//   - A program ends only when all its sends have completed.
//   - A Copy whose Src and Dst are the same memory (as Copy In to Out in place often is) does
//     nothing and waits for nothing: the engine skips it.
//   - Messages from rank a to rank b are matched in FIFO order.
//
// Ranks are scheduled round robin, each run as far as it can go, until every rank is done or no
// rank can move; the latter is a deadlock, reported as a *DeadlockError that names every blocked
// rank, the step it is blocked on, and the rank it waits for. Out buffers and scratch start filled
// with a garbage pattern, so an algorithm that assumes zeroed memory fails its results check.
package simulate

import (
	"fmt"
	"strings"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Result is what a run of a schedule produced.
type Result struct {
	Out      [][]byte       // per rank, the Out buffer after the run (Out size × ElemSize bytes)
	Sent     []int64        // per rank, elements sent
	Recvd    []int64        // per rank, elements received
	Msgs     []int          // per rank, messages sent
	Rounds   int            // length of the critical path in messages (see Run)
	ElemSize int            // bytes per element of the run
	PairSent map[Pair]int64 // elements sent from one rank to another, for every pair that sent any
}

// Blocked describes one rank that cannot move in a deadlock.
type Blocked struct {
	Rank     int    // the blocked rank
	Step     int    // index of the step it is blocked on; len(Steps) when it waits to end
	WaitsFor int    // the rank it waits for
	Reason   string // what it waits for, in words
}

// DeadlockError is returned by Run when no rank can move and some have not finished.
type DeadlockError struct {
	Algo    string
	Blocked []Blocked // every rank not finished, in rank order
}

func (e *DeadlockError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simulate: %s: deadlock:", e.Algo)
	for _, bl := range e.Blocked {
		fmt.Fprintf(&b, "\n\trank %d at step %d: %s", bl.Rank, bl.Step, bl.Reason)
	}
	return b.String()
}

// span is a range of element indexes in a rank's memory: [lo, hi).
type span struct{ lo, hi int }

func (a span) overlaps(b span) bool { return a.lo < b.hi && b.lo < a.hi }

// message is a posted send.
type message struct {
	from, to int
	step     int // index of the Send in the sender's program
	src      span
	elems    int
	depth    int // 1 + the deepest message the sender had received before posting it
	taken    bool
}

// rankState is one rank's memory and progress.
type rankState struct {
	rank    int
	prog    plan.Program
	mem     []byte // In, Out and Scratch, laid out (and aliased) as the request says
	base    [3]int // element index in mem of the start of In, Out, Scratch
	outLen  int
	pc      int
	pending []*message // own sends posted and not yet taken, in posting order
	depth   int        // deepest message received so far
	done    bool
}

func (st *rankState) span(r plan.Region) span {
	lo := st.base[r.Buf] + r.Off
	return span{lo, lo + r.Len}
}

// sim is one run.
type sim struct {
	s      *plan.Schedule
	es     int
	reduce func(dst, src []byte)
	ranks  []*rankState
	queues map[int][]*message // key from*n+to: messages posted and not yet taken, in order
	res    *Result
}

// Run runs s over len(in) ranks in one goroutine and returns what every rank ended with.
//
// in[r] holds rank r's In buffer: In size × s.Req.ElemSize bytes (nil or empty when the size is 0).
// Run does not modify in. When s.Req.InPlace is set, In and Out share memory as
// plan.Request.InPlaceOffset says: in[r] is copied into its place inside Out (or Out is a window of
// the copy of in[r]) before the run, so algorithms that clobber their input are caught.
//
// reduce(dst, src) computes dst = dst op src for the run's dtype and op, over len(dst) bytes; it
// may be nil when the schedule has no RecvReduce or ReduceLocal step.
//
// Result.Rounds is the critical path in messages: a message's depth is one more than the deepest
// message its sender had received before posting it, and Rounds is the largest depth (0 when no
// message is sent). It is what the latency term of a cost formula counts.
//
// Run calls plan.Validate first, which rejects unmatched messages and length mismatches before the
// run. It fails on a deadlock (a *DeadlockError); were Validate skipped, a message whose length
// differs from the receive that takes it fails the run, and an unmatched send shows as a deadlock
// of its sender, which cannot end, waiting for a rank that has finished.
func Run(s *plan.Schedule, in [][]byte, reduce func(dst, src []byte)) (*Result, error) {
	if err := plan.Validate(s); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	return run(s, in, reduce)
}

// run is Run without plan.Validate, so that the run-time checks can be tested on their own.
func run(s *plan.Schedule, in [][]byte, reduce func(dst, src []byte)) (*Result, error) {
	req := s.Req
	n := req.Ranks
	if len(s.Progs) != n {
		return nil, fmt.Errorf("simulate: %s: %d programs for %d ranks", s.Algo, len(s.Progs), n)
	}
	if len(in) != n {
		return nil, fmt.Errorf("simulate: %s: %d inputs for %d ranks", s.Algo, len(in), n)
	}
	m := &sim{
		s:      s,
		es:     req.ElemSize,
		reduce: reduce,
		ranks:  make([]*rankState, n),
		queues: make(map[int][]*message),
		res: &Result{
			Out:      make([][]byte, n),
			Sent:     make([]int64, n),
			Recvd:    make([]int64, n),
			Msgs:     make([]int, n),
			ElemSize: req.ElemSize,
			PairSent: make(map[Pair]int64),
		},
	}
	for r := range n {
		st, err := m.newRank(r, in[r])
		if err != nil {
			return nil, err
		}
		m.ranks[r] = st
	}
	for {
		progress, finished := false, true
		for _, st := range m.ranks {
			for !st.done {
				moved, err := m.step(st)
				if err != nil {
					return nil, err
				}
				if !moved {
					break
				}
				progress = true
			}
			finished = finished && st.done
		}
		if finished {
			break
		}
		if !progress {
			return nil, m.deadlock()
		}
	}
	for r, st := range m.ranks {
		lo := st.base[plan.Out] * m.es
		m.res.Out[r] = make([]byte, st.outLen*m.es)
		copy(m.res.Out[r], st.mem[lo:])
	}
	return m.res, nil
}

// newRank lays out rank r's memory and copies its input in.
func (m *sim) newRank(r int, in []byte) (*rankState, error) {
	req := m.s.Req
	p := m.s.Progs[r]
	inLen, outLen := req.Sizes(r)
	if len(in) != inLen*m.es {
		return nil, fmt.Errorf("simulate: %s: rank %d input has %d bytes, want %d (%d elements of %d bytes)",
			m.s.Algo, r, len(in), inLen*m.es, inLen, m.es)
	}
	if p.Scratch < 0 {
		return nil, fmt.Errorf("simulate: %s: rank %d: negative scratch %d", m.s.Algo, r, p.Scratch)
	}
	st := &rankState{rank: r, prog: p, outLen: outLen}
	var total int
	off, inInOut, ok := req.InPlaceOffset(r)
	switch {
	case !req.InPlace || !ok:
		st.base = [3]int{0, inLen, inLen + outLen}
		total = inLen + outLen + p.Scratch
	case inInOut:
		if off < 0 || off+inLen > outLen {
			return nil, fmt.Errorf("simulate: rank %d: in place offset %d does not fit %d in %d elements", r, off, inLen, outLen)
		}
		st.base = [3]int{off, 0, outLen}
		total = outLen + p.Scratch
	default:
		if off < 0 || off+outLen > inLen {
			return nil, fmt.Errorf("simulate: rank %d: in place offset %d does not fit %d in %d elements", r, off, outLen, inLen)
		}
		st.base = [3]int{0, off, inLen}
		total = inLen + p.Scratch
	}
	st.mem = make([]byte, total*m.es)
	fillGarbage(st.mem, r)
	copy(st.mem[st.base[plan.In]*m.es:], in)
	return st, nil
}

func (m *sim) bytes(st *rankState, sp span) []byte {
	return st.mem[sp.lo*m.es : sp.hi*m.es]
}

// blockingSend returns the first incomplete send of st whose source overlaps sp, or nil.
func (st *rankState) blockingSend(sp span) *message {
	for _, msg := range st.pending {
		if !msg.taken && msg.src.overlaps(sp) {
			return msg
		}
	}
	return nil
}

// prune drops completed sends from st.pending.
func (st *rankState) prune() {
	k := 0
	for _, msg := range st.pending {
		if !msg.taken {
			st.pending[k] = msg
			k++
		}
	}
	clear(st.pending[k:])
	st.pending = st.pending[:k]
}

// step runs st's next step if it can. It reports whether st moved.
func (m *sim) step(st *rankState) (bool, error) {
	st.prune()
	steps := st.prog.Steps
	if st.pc == len(steps) {
		if len(st.pending) > 0 {
			return false, nil
		}
		st.done = true
		return true, nil
	}
	n := m.s.Req.Ranks
	stp := steps[st.pc]
	fail := func(format string, args ...any) error {
		return fmt.Errorf("simulate: %s: rank %d step %d (%v): %s", m.s.Algo, st.rank, st.pc, stp, fmt.Sprintf(format, args...))
	}
	switch stp.Op {
	case plan.Send:
		msg := &message{
			from: st.rank, to: stp.Peer, step: st.pc,
			src: st.span(stp.Src), elems: stp.Src.Len, depth: st.depth + 1,
		}
		key := st.rank*n + stp.Peer
		m.queues[key] = append(m.queues[key], msg)
		st.pending = append(st.pending, msg)
		m.res.Sent[st.rank] += int64(msg.elems)
		if msg.elems > 0 {
			m.res.PairSent[Pair{From: st.rank, To: stp.Peer}] += int64(msg.elems)
		}
		m.res.Msgs[st.rank]++
		m.res.Rounds = max(m.res.Rounds, msg.depth)

	case plan.Recv, plan.RecvReduce:
		dst := st.span(stp.Dst)
		if st.blockingSend(dst) != nil {
			return false, nil
		}
		key := stp.Peer*n + st.rank
		q := m.queues[key]
		if len(q) == 0 {
			return false, nil
		}
		msg := q[0]
		if msg.elems != stp.Dst.Len {
			return false, fail("message from rank %d step %d has %d elements, want %d", msg.from, msg.step, msg.elems, stp.Dst.Len)
		}
		if stp.Op == plan.RecvReduce && m.reduce == nil {
			return false, fail("no reduce function")
		}
		q[0] = nil
		m.queues[key] = q[1:]
		if len(q) == 1 {
			delete(m.queues, key)
		}
		src := m.bytes(m.ranks[msg.from], msg.src)
		if stp.Op == plan.Recv {
			copy(m.bytes(st, dst), src)
		} else {
			m.reduce(m.bytes(st, dst), src)
		}
		msg.taken = true
		st.depth = max(st.depth, msg.depth)
		m.res.Recvd[st.rank] += int64(msg.elems)

	case plan.Copy, plan.ReduceLocal:
		src, dst := st.span(stp.Src), st.span(stp.Dst)
		if stp.Src.Len != stp.Dst.Len {
			return false, fail("src has %d elements, dst %d", stp.Src.Len, stp.Dst.Len)
		}
		if src != dst && src.overlaps(dst) {
			return false, fail("src and dst partly overlap in memory")
		}
		if stp.Op == plan.Copy && src == dst {
			break // the engine skips a copy onto itself; it writes nothing, so waits for nothing
		}
		if st.blockingSend(dst) != nil {
			return false, nil
		}
		if stp.Op == plan.Copy {
			copy(m.bytes(st, dst), m.bytes(st, src))
		} else {
			if m.reduce == nil {
				return false, fail("no reduce function")
			}
			m.reduce(m.bytes(st, dst), m.bytes(st, src))
		}

	default:
		return false, fail("unknown op")
	}
	st.pc++
	return true, nil
}

// deadlock describes every rank that has not finished.
func (m *sim) deadlock() error {
	e := &DeadlockError{Algo: m.s.Algo}
	state := func(r int) string {
		if m.ranks[r].done {
			return ", but rank has finished: the message is unmatched"
		}
		return ""
	}
	for _, st := range m.ranks {
		if st.done {
			continue
		}
		b := Blocked{Rank: st.rank, Step: st.pc}
		steps := st.prog.Steps
		if st.pc == len(steps) {
			msg := st.pending[0]
			b.WaitsFor = msg.to
			b.Reason = fmt.Sprintf("end of program waits for rank %d to take its send at step %d (%v)%s",
				msg.to, msg.step, steps[msg.step], state(msg.to))
			e.Blocked = append(e.Blocked, b)
			continue
		}
		stp := steps[st.pc]
		if msg := st.blockingSend(st.span(stp.Dst)); msg != nil {
			b.WaitsFor = msg.to
			b.Reason = fmt.Sprintf("%v waits for rank %d to take its overlapping send at step %d (%v)%s",
				stp, msg.to, msg.step, steps[msg.step], state(msg.to))
		} else {
			b.WaitsFor = stp.Peer
			b.Reason = fmt.Sprintf("%v waits for rank %d to send%s", stp, stp.Peer, state(stp.Peer))
		}
		e.Blocked = append(e.Blocked, b)
	}
	return e
}

// fillGarbage fills b with a pattern that depends on seed and repeats every 251 bytes, a prime,
// so that no element of any size reads as zero or as its neighbour.
func fillGarbage(b []byte, seed int) {
	const period = 251
	for i := range min(period, len(b)) {
		b[i] = byte(0xA5 ^ (i * 31) ^ (seed * 7))
	}
	for n := period; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}
