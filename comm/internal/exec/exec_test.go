package exec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/inproc"
)

// engines returns n engines over an in-process mesh, closed when the test ends.
func engines(t testing.TB, n int) []*Engine {
	t.Helper()
	mesh := inproc.Mesh(n)
	out := make([]*Engine, n)
	for r := range out {
		conns := make([]transport.Conn, n)
		for p := range conns {
			if p != r {
				conns[p] = mesh[r][p]
			}
		}
		out[r] = New(r, conns)
	}
	t.Cleanup(func() {
		for _, e := range out {
			e.Close()
		}
		for r := range mesh {
			for _, c := range mesh[r] {
				if c != nil {
					c.Close()
				}
			}
		}
	})
	return out
}

// runAll runs tasks[r] on engines[r] at once and returns the errors.
func runAll(ctx context.Context, es []*Engine, tasks []*Task) []error {
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	for r := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = es[r].Run(ctx, tasks[r])
		}()
	}
	wg.Wait()
	return errs
}

func int64s(b []byte) []int64 {
	v := make([]int64, len(b)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

func fill(n int, f func(i int) int64) []byte {
	b := make([]byte, 8*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(f(i)))
	}
	return b
}

func TestChunkedSendRecvReduce(t *testing.T) {
	es := engines(t, 2)
	const n = 3*ChunkBytes/8 + 5 // four chunks, the last short
	in0 := fill(n, func(i int) int64 { return int64(i) })
	out1 := fill(n, func(i int) int64 { return 1000 })
	tasks := []*Task{
		{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Len: n}}}},
			In: in0, DType: reduce.Int64, Op: reduce.Sum},
		{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.RecvReduce, Peer: 0, Dst: plan.Region{Buf: plan.Out, Len: n}}}},
			Out: out1, DType: reduce.Int64, Op: reduce.Sum},
	}
	for _, err := range runAll(context.Background(), es, tasks) {
		require.NoError(t, err)
	}
	for i, v := range int64s(out1) {
		require.Equal(t, int64(1000+i), v, "element %d", i)
	}
}

// A receive into memory that an incomplete send still reads must wait for the send: with a
// rendezvous-sized message, the peer reads the memory only when it takes the message.
func TestWriteWaitsForOwnSend(t *testing.T) {
	es := engines(t, 2)
	const n = 2 * ChunkBytes / 8
	out0 := fill(n, func(i int) int64 { return 7 })
	out1 := fill(n, func(i int) int64 { return 9 })
	tasks := []*Task{
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.Out, Len: n}},
			{Op: plan.Recv, Peer: 1, Dst: plan.Region{Buf: plan.Out, Len: n}},
		}}, Out: out0, DType: reduce.Int64},
		{Prog: &plan.Program{Scratch: n, Steps: []plan.Step{
			{Op: plan.Send, Peer: 0, Src: plan.Region{Buf: plan.Out, Len: n}},
			{Op: plan.Recv, Peer: 0, Dst: plan.Region{Buf: plan.Scratch, Len: n}},
			{Op: plan.Copy, Src: plan.Region{Buf: plan.Scratch, Len: n}, Dst: plan.Region{Buf: plan.Out, Len: n}},
		}}, Out: out1, DType: reduce.Int64},
	}
	for _, err := range runAll(context.Background(), es, tasks) {
		require.NoError(t, err)
	}
	v0, v1 := int64s(out0), int64s(out1)
	for i := 0; i < n; i++ {
		require.Equal(t, int64(9), v0[i])
		require.Equal(t, int64(7), v1[i], "rank 1 got rank 0's memory after it was overwritten")
	}
}

func TestStepErrorNamesPeer(t *testing.T) {
	es := engines(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	task := &Task{Prog: &plan.Program{Steps: []plan.Step{
		{Op: plan.Recv, Peer: 2, Dst: plan.Region{Buf: plan.Out, Len: 1}},
	}}, Out: make([]byte, 8), DType: reduce.Int64}
	err := es[0].Run(ctx, task) // rank 2 never sends
	var se *StepError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 2, se.Peer)
	require.Equal(t, plan.Recv, se.Op)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Contains(t, err.Error(), "from rank 2")
}

func TestLengthMismatch(t *testing.T) {
	es := engines(t, 2)
	tasks := []*Task{
		{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Len: 3}}}},
			In: make([]byte, 24), DType: reduce.Int64},
		{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Recv, Peer: 0, Dst: plan.Region{Buf: plan.Out, Len: 2}}}},
			Out: make([]byte, 16), DType: reduce.Int64},
	}
	errs := runAll(context.Background(), es, tasks)
	require.NoError(t, errs[0]) // a small message is buffered; the receiver refuses it
	require.ErrorIs(t, errs[1], transport.ErrLength)
}

// The engine allocates nothing per chunk: a message of 64 chunks costs what a message of one
// chunk costs.
func TestAllocationsDoNotGrowWithChunks(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocations are counted without it")
	}
	allocs := func(n int) float64 {
		es := engines(t, 2)
		prog := func(op plan.Op, peer int) *plan.Program {
			st := plan.Step{Op: op, Peer: peer, Src: plan.Region{Buf: plan.Out, Len: n}, Dst: plan.Region{Buf: plan.Out, Len: n}}
			return &plan.Program{Steps: []plan.Step{st}}
		}
		t0 := &Task{Prog: prog(plan.Send, 1), Out: make([]byte, 8*n), DType: reduce.Int64, Op: reduce.Sum}
		t1 := &Task{Prog: prog(plan.RecvReduce, 0), Out: make([]byte, 8*n), DType: reduce.Int64, Op: reduce.Sum}
		start := make(chan struct{})
		done := make(chan error)
		go func() {
			for range start {
				done <- es[1].Run(context.Background(), t1)
			}
		}()
		defer close(start)
		run := func() {
			start <- struct{}{}
			require.NoError(t, es[0].Run(context.Background(), t0))
			require.NoError(t, <-done)
		}
		run() // warm the pools
		return testing.AllocsPerRun(20, run)
	}
	one, many := allocs(ChunkBytes/8), allocs(64*ChunkBytes/8)
	require.LessOrEqual(t, many, one+1, "allocations grow with the number of chunks: %v for 1, %v for 64", one, many)
}

// The gate runs once, after the sends that come before the program's first receive and before
// that receive; its error ends the program.
func TestGateRunsBeforeFirstReceive(t *testing.T) {
	es := engines(t, 2)
	errGate := errors.New("gate says no")
	calls := 0
	one := plan.Region{Buf: plan.Out, Len: 1}
	tasks := []*Task{
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Send, Peer: 1, Src: one},
			{Op: plan.Recv, Peer: 1, Dst: one},
		}}, Out: make([]byte, 8), DType: reduce.Int64,
			Gate: func(context.Context) ([]byte, error) { calls++; return nil, errGate }},
		{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Recv, Peer: 0, Dst: one}}},
			Out: make([]byte, 8), DType: reduce.Int64},
	}
	errs := runAll(context.Background(), es, tasks)
	require.ErrorIs(t, errs[0], errGate)
	require.NoError(t, errs[1], "the send before the gate went out")
	require.Equal(t, 1, calls)

	// A program without receives passes the gate at its end.
	calls = 0
	send := &Task{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Send, Peer: 1, Src: one}}},
		Out: make([]byte, 8), DType: reduce.Int64, Tag: transport.Tag{Seq: 1},
		Gate: func(context.Context) ([]byte, error) { calls++; return nil, errGate }}
	require.ErrorIs(t, es[0].Run(context.Background(), send), errGate)
	require.Equal(t, 1, calls)
}

// A first message that the caller sent itself (SentFirst) does not go out again, and the
// message that the gate hands over (Gate's ahead) is received from there: copied, or reduced.
func TestFirstMessageAhead(t *testing.T) {
	es := engines(t, 2)
	in := fill(4, func(i int) int64 { return int64(10 + i) })
	sendProg := &plan.Program{Steps: []plan.Step{{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Len: 4}}}}
	sender := &Task{Prog: sendProg, In: in, DType: reduce.Int64, SentFirst: true}
	peer, data, ok := FirstSend(sender)
	require.True(t, ok)
	require.Equal(t, 1, peer)
	require.Equal(t, in, data)
	require.NoError(t, es[0].Run(context.Background(), sender))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	recvProg := &plan.Program{Steps: []plan.Step{{Op: plan.Recv, Peer: 0, Dst: plan.Region{Buf: plan.Out, Len: 4}}}}
	err := es[1].Run(ctx, &Task{Prog: recvProg, Out: make([]byte, 32), DType: reduce.Int64})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the engine sent the message the caller had sent")

	for _, op := range []plan.Op{plan.Recv, plan.RecvReduce} {
		out := fill(4, func(i int) int64 { return int64(i) })
		prog := &plan.Program{Steps: []plan.Step{{Op: op, Peer: 0, Dst: plan.Region{Buf: plan.Out, Len: 4}}}}
		task := &Task{Prog: prog, Out: out, DType: reduce.Int64, Op: reduce.Sum, Tag: transport.Tag{Seq: 1},
			AheadFrom: 0, Gate: func(context.Context) ([]byte, error) { return in, nil }}
		require.NoError(t, es[1].Run(context.Background(), task))
		want := []int64{10, 11, 12, 13}
		if op == plan.RecvReduce {
			want = []int64{10, 12, 14, 16}
		}
		require.Equal(t, want, int64s(out), "%s", op)
	}
}

// limitedConn takes TrySend's chunks while it has credit.
type limitedConn struct {
	transport.Conn
	credit, tries int
}

func (c *limitedConn) TrySend(tag transport.Tag, p []byte) (bool, error) {
	c.tries++
	if c.credit == 0 {
		return false, nil
	}
	c.credit--
	return true, c.Conn.Send(context.Background(), tag, p)
}

// A connection that can take chunks at once (transport.TrySender) gets them from the engine's
// goroutine; the chunks it refuses go through the sender goroutine, and the message arrives
// whole either way.
func TestTrySendChunks(t *testing.T) {
	for _, credit := range []int{0, 1, 3} {
		es := engines(t, 2)
		lc := &limitedConn{Conn: es[0].conns[1], credit: credit}
		es[0].conns[1] = lc
		const n = 3 * ChunkBytes / 8
		in := fill(n, func(i int) int64 { return int64(i * 3) })
		region := plan.Region{Buf: plan.Out, Len: n}
		tasks := []*Task{
			{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Len: n}}}},
				In: in, DType: reduce.Int64},
			{Prog: &plan.Program{Steps: []plan.Step{{Op: plan.Recv, Peer: 0, Dst: region}}},
				Out: make([]byte, 8*n), DType: reduce.Int64},
		}
		errs := runAll(context.Background(), es, tasks)
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.Equal(t, in, tasks[1].Out, "credit %d", credit)
		require.Equal(t, min(credit+1, 3), lc.tries, "credit %d", credit)
	}
}

// TestTeeCopy: a Copy of the region that a send to the sender goroutine reads, with receives
// after it, is made by that goroutine chunk by chunk (teeCopy); a send of the copy to another
// peer, through another sender goroutine, waits for it, and every buffer ends right.
func TestTeeCopy(t *testing.T) {
	const n = 3 * ChunkBytes / 8 // three chunks of int64
	in0 := fill(n, func(i int) int64 { return int64(i*7 + 1) })
	in1 := fill(n, func(i int) int64 { return int64(-i) })
	own, other := plan.Region{Buf: plan.Out, Len: n}, plan.Region{Buf: plan.Out, Off: n, Len: n}
	all := plan.Region{Buf: plan.In, Len: n}
	tasks := []*Task{
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Send, Peer: 1, Src: all},
			{Op: plan.Copy, Src: all, Dst: own},
			{Op: plan.Send, Peer: 2, Src: own}, // reads what the first send's goroutine writes
			{Op: plan.Recv, Peer: 1, Dst: other},
		}}, In: in0, Out: make([]byte, 16*n), DType: reduce.Int64},
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Recv, Peer: 0, Dst: own},
			{Op: plan.Send, Peer: 0, Src: all},
		}}, In: in1, Out: make([]byte, 16*n), DType: reduce.Int64},
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Recv, Peer: 0, Dst: own},
		}}, Out: make([]byte, 16*n), DType: reduce.Int64},
	}
	require.Equal(t, 1, teeCopy(tasks[0], 0), "the copy goes with the send")
	errs := runAll(context.Background(), engines(t, 3), tasks)
	for r, err := range errs {
		require.NoError(t, err, "rank %d", r)
	}
	require.Equal(t, append(slices.Clone(in0), in1...), tasks[0].Out)
	require.Equal(t, in0, tasks[1].Out[:8*n])
	require.Equal(t, in0, tasks[2].Out[:8*n], "rank 2 got the copy before it was made")
}

func TestTeeCopyChoice(t *testing.T) {
	a, b := plan.Region{Buf: plan.In, Len: 8}, plan.Region{Buf: plan.Out, Len: 8}
	send := plan.Step{Op: plan.Send, Peer: 1, Src: a}
	task := func(steps ...plan.Step) *Task { return &Task{Prog: &plan.Program{Steps: steps}} }
	recv := plan.Step{Op: plan.Recv, Peer: 1, Dst: plan.Region{Buf: plan.Out, Off: 8, Len: 8}}
	copyAB := plan.Step{Op: plan.Copy, Src: a, Dst: b}
	// Other sends may come between; a receive after the copy gives the program's goroutine
	// other work.
	require.Equal(t, 2, teeCopy(task(send, send, copyAB, recv), 0))
	// Anything else between, or a copy of another region: no.
	require.Equal(t, -1, teeCopy(task(send, recv, copyAB, recv), 0))
	require.Equal(t, -1, teeCopy(task(send, plan.Step{Op: plan.Copy, Src: b, Dst: a}, recv), 0))
	// Nothing else to do after the copy (a broadcast's root): the program's goroutine copies,
	// unless the process has a single CPU.
	want := -1
	if runtime.NumCPU() == 1 {
		want = 1
	}
	require.Equal(t, want, teeCopy(task(send, copyAB), 0))
}

// TestTeeCopyOverlapping: a copy whose destination overlaps its source (shifted by half a chunk
// inside one buffer) is not made chunk by chunk by the sender, which would overwrite chunks not
// sent yet: the peer gets the original bytes and the copy is the memmove of them.
func TestTeeCopyOverlapping(t *testing.T) {
	const n = 3 * ChunkBytes / 8
	const shift = ChunkBytes / 16 // elements: half a chunk
	orig := fill(n+shift, func(i int) int64 { return int64(i*5 + 3) })
	buf := slices.Clone(orig)
	src, dst := plan.Region{Buf: plan.Out, Len: n}, plan.Region{Buf: plan.Out, Off: shift, Len: n}
	tasks := []*Task{
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Send, Peer: 1, Src: src},
			{Op: plan.Copy, Src: src, Dst: dst},
			{Op: plan.Recv, Peer: 1, Dst: plan.Region{Buf: plan.In, Len: 1}},
		}}, In: make([]byte, 8), Out: buf, DType: reduce.Int64},
		{Prog: &plan.Program{Steps: []plan.Step{
			{Op: plan.Recv, Peer: 0, Dst: plan.Region{Buf: plan.Out, Len: n}},
			{Op: plan.Send, Peer: 0, Src: plan.Region{Buf: plan.In, Len: 1}},
		}}, In: make([]byte, 8), Out: make([]byte, 8*n), DType: reduce.Int64},
	}
	errs := runAll(context.Background(), engines(t, 2), tasks)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, orig[:8*n], tasks[1].Out, "the peer got the bytes before the copy")
	want := slices.Clone(orig)
	copy(want[8*shift:], orig[:8*n])
	require.Equal(t, want, buf)
}

// lender is a connection that lends every message of at least minLend bytes: Lend sends a copy
// and counts it; Settle, once entered (settling), waits for release.
type lender struct {
	transport.Conn
	minLend  int
	lent     []int // the lengths lent
	mu       sync.Mutex
	settling chan struct{}
	release  chan struct{}
}

func (l *lender) Lend(ctx context.Context, tag transport.Tag, p []byte) (uint64, bool, error) {
	if len(p) < l.minLend {
		return 0, false, nil
	}
	l.mu.Lock()
	l.lent = append(l.lent, len(p))
	mark := uint64(len(l.lent))
	l.mu.Unlock()
	return mark, true, l.Send(ctx, tag, p)
}

// Settle checks that the mark is the last one Lend gave.
func (l *lender) Settle(ctx context.Context, mark uint64) error {
	l.settling <- struct{}{}
	<-l.release
	l.mu.Lock()
	defer l.mu.Unlock()
	if mark != uint64(len(l.lent)) {
		return fmt.Errorf("settle %d, lent %d", mark, len(l.lent))
	}
	return nil
}

// TestLend runs a large send over a connection that lends (transport.Lender): every chunk is
// lent, the engine settles once per message, and Run does not return before Settle has, since
// the receiver may read the memory until then. A small message is never lent: it must not wait
// for its receiver.
func TestLend(t *testing.T) {
	mesh := inproc.Mesh(2)
	t.Cleanup(func() { mesh[0][1].Close(); mesh[1][0].Close() })
	l := &lender{Conn: mesh[0][1], settling: make(chan struct{}), release: make(chan struct{})}
	e0, e1 := New(0, []transport.Conn{nil, l}), New(1, []transport.Conn{mesh[1][0], nil})
	t.Cleanup(func() { e0.Close(); e1.Close() })

	const small, large = 16, 3*ChunkBytes/8 + 5 // elements; large is 4 chunks, the last short
	in := fill(small+large, func(i int) int64 { return int64(i) })
	out := make([]byte, len(in))
	send := &Task{Prog: &plan.Program{Steps: []plan.Step{
		{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Len: small}},
		{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Off: small, Len: large}},
	}}, In: in, DType: reduce.Int64}
	recv := &Task{Prog: &plan.Program{Steps: []plan.Step{
		{Op: plan.Recv, Peer: 0, Dst: plan.Region{Buf: plan.Out, Len: small}},
		{Op: plan.Recv, Peer: 0, Dst: plan.Region{Buf: plan.Out, Off: small, Len: large}},
	}}, Out: out, DType: reduce.Int64}
	ctx := t.Context()
	sent := make(chan error, 1)
	go func() { sent <- e0.Run(ctx, send) }()
	require.NoError(t, e1.Run(ctx, recv))
	require.Equal(t, in, out)
	<-l.settling
	select {
	case err := <-sent:
		t.Fatalf("Run returned (%v) before Settle", err)
	default:
	}
	close(l.release)
	require.NoError(t, <-sent)
	require.Equal(t, []int{ChunkBytes, ChunkBytes, ChunkBytes, 8*large - 3*ChunkBytes}, l.lent)

	// SendMessage (a point-to-point send) lends from lendMin bytes only.
	l.lent = nil
	l.release = make(chan struct{})
	close(l.release)
	go func() { <-l.settling }()
	for _, n := range []int{lendMin - 1, lendMin} {
		got := make([]byte, n)
		recvd := make(chan error, 1)
		go func() { recvd <- RecvMessage(ctx, mesh[1][0], transport.Tag{Seq: uint64(n)}, got) }()
		require.NoError(t, SendMessage(ctx, l, transport.Tag{Seq: uint64(n)}, in[:n]))
		require.NoError(t, <-recvd)
		require.Equal(t, in[:n], got)
	}
	require.Equal(t, []int{lendMin}, l.lent)
}
