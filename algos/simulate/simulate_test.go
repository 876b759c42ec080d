package simulate

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
)

// sum64 computes dst += src over little-endian uint64 elements.
func sum64(dst, src []byte) {
	for i := 0; i < len(dst); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(dst[i:])+binary.LittleEndian.Uint64(src[i:]))
	}
}

func enc(v ...uint64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	return b
}

func reg(b plan.Buf, off, n int) plan.Region { return plan.Region{Buf: b, Off: off, Len: n} }

func send(peer int, src plan.Region) plan.Step { return plan.Step{Op: plan.Send, Peer: peer, Src: src} }
func recv(peer int, dst plan.Region) plan.Step { return plan.Step{Op: plan.Recv, Peer: peer, Dst: dst} }
func recvReduce(peer int, dst plan.Region) plan.Step {
	return plan.Step{Op: plan.RecvReduce, Peer: peer, Dst: dst}
}
func cp(src, dst plan.Region) plan.Step { return plan.Step{Op: plan.Copy, Src: src, Dst: dst} }
func red(src, dst plan.Region) plan.Step {
	return plan.Step{Op: plan.ReduceLocal, Src: src, Dst: dst}
}

func sched(req plan.Request, progs ...plan.Program) *plan.Schedule {
	return &plan.Schedule{Algo: "test", Req: req, Progs: progs}
}

func allreduce(n, count int, inPlace bool) plan.Request {
	return plan.Request{Coll: plan.AllReduce, Ranks: n, Count: count, ElemSize: 8, InPlace: inPlace}
}

// exchange is a correct two-rank allreduce: send In, copy In to Out, receive into scratch, reduce.
func exchange(count int, inPlace bool) *plan.Schedule {
	prog := func(peer int) plan.Program {
		return plan.Program{Scratch: count, Steps: []plan.Step{
			send(peer, reg(plan.In, 0, count)),
			cp(reg(plan.In, 0, count), reg(plan.Out, 0, count)),
			recv(peer, reg(plan.Scratch, 0, count)),
			red(reg(plan.Scratch, 0, count), reg(plan.Out, 0, count)),
		}}
	}
	return sched(allreduce(2, count, inPlace), prog(1), prog(0))
}

func requireDeadlock(t *testing.T, err error) *DeadlockError {
	t.Helper()
	var de *DeadlockError
	require.True(t, errors.As(err, &de), "want a deadlock, got %v", err)
	return de
}

func TestRunExchange(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		s := exchange(2, inPlace)
		in := [][]byte{enc(1, 2), enc(10, 20)}
		res, err := Run(s, in, sum64)
		require.NoError(t, err)
		require.Equal(t, [][]byte{enc(11, 22), enc(11, 22)}, res.Out)
		require.Equal(t, []int64{2, 2}, res.Sent)
		require.Equal(t, []int64{2, 2}, res.Recvd)
		require.Equal(t, []int{1, 1}, res.Msgs)
		require.Equal(t, 1, res.Rounds)
		require.Equal(t, [][]byte{enc(1, 2), enc(10, 20)}, in, "Run must not modify its inputs")
	}
}

func TestRunZeroCount(t *testing.T) {
	res, err := Run(exchange(0, false), [][]byte{nil, {}}, sum64)
	require.NoError(t, err)
	require.Equal(t, [][]byte{{}, {}}, res.Out)
	require.Equal(t, []int{1, 1}, res.Msgs, "zero-length messages are messages")
	require.Equal(t, 1, res.Rounds)
}

func TestRunBothReceiveFirstDeadlocks(t *testing.T) {
	prog := func(peer int) plan.Program {
		return plan.Program{Steps: []plan.Step{
			recv(peer, reg(plan.Out, 0, 1)),
			send(peer, reg(plan.In, 0, 1)),
		}}
	}
	_, err := Run(sched(allreduce(2, 1, false), prog(1), prog(0)), [][]byte{enc(1), enc(2)}, sum64)
	de := requireDeadlock(t, err)
	require.Equal(t, []Blocked{
		{Rank: 0, Step: 0, WaitsFor: 1, Reason: "recv out[0:1] <- rank 1 waits for rank 1 to send"},
		{Rank: 1, Step: 0, WaitsFor: 0, Reason: "recv out[0:1] <- rank 0 waits for rank 0 to send"},
	}, de.Blocked)
	require.Contains(t, err.Error(), "simulate: test: deadlock")
	require.Contains(t, err.Error(), "rank 0 at step 0: recv out[0:1] <- rank 1 waits for rank 1 to send")
}

func TestRunBothSendFirstIsFine(t *testing.T) {
	// Sends are posted without waiting, so both ranks may send first.
	prog := func(peer int) plan.Program {
		return plan.Program{Steps: []plan.Step{
			send(peer, reg(plan.In, 0, 1)),
			recv(peer, reg(plan.Out, 0, 1)),
		}}
	}
	res, err := Run(sched(allreduce(2, 1, false), prog(1), prog(0)), [][]byte{enc(1), enc(2)}, sum64)
	require.NoError(t, err)
	require.Equal(t, [][]byte{enc(2), enc(1)}, res.Out)
}

func TestRunRendezvousDeadlock(t *testing.T) {
	// Each rank sends Out[0] and then receives into Out[0]. Were sends buffered this would work,
	// but the receive overwrites the source of the rank's own incomplete send, so it waits for
	// the peer to take it, and the peer waits for the same reason.
	prog := func(peer int) plan.Program {
		return plan.Program{Steps: []plan.Step{
			cp(reg(plan.In, 0, 1), reg(plan.Out, 0, 1)),
			send(peer, reg(plan.Out, 0, 1)),
			recv(peer, reg(plan.Out, 0, 1)),
		}}
	}
	_, err := Run(sched(allreduce(2, 1, false), prog(1), prog(0)), [][]byte{enc(1), enc(2)}, sum64)
	de := requireDeadlock(t, err)
	require.Len(t, de.Blocked, 2)
	for r, b := range de.Blocked {
		require.Equal(t, r, b.Rank)
		require.Equal(t, 2, b.Step)
		require.Equal(t, 1-r, b.WaitsFor)
		require.Contains(t, b.Reason, "to take its overlapping send at step 1")
	}
}

func TestRunOverlapUsesRealMemory(t *testing.T) {
	// Send In, then receive-and-reduce into Out. Out of place that is fine; in place In is Out,
	// so the receive waits for the rank's own send, on both ranks: a deadlock.
	prog := func(peer int) plan.Program {
		return plan.Program{Steps: []plan.Step{
			cp(reg(plan.In, 0, 1), reg(plan.Out, 0, 1)),
			send(peer, reg(plan.In, 0, 1)),
			recvReduce(peer, reg(plan.Out, 0, 1)),
		}}
	}
	in := [][]byte{enc(1), enc(2)}
	res, err := Run(sched(allreduce(2, 1, false), prog(1), prog(0)), in, sum64)
	require.NoError(t, err)
	require.Equal(t, [][]byte{enc(3), enc(3)}, res.Out)

	_, err = Run(sched(allreduce(2, 1, true), prog(1), prog(0)), in, sum64)
	requireDeadlock(t, err)
}

func TestRunAliasesInPlace(t *testing.T) {
	// "Reverse" two elements into Out. Out of place, Out = [b a]. In place, In is Out: the first
	// copy sets Out[1] = In[0] = a, overwriting b, so the second sets Out[0] = In[1] = a.
	prog := plan.Program{Steps: []plan.Step{
		cp(reg(plan.In, 0, 1), reg(plan.Out, 1, 1)),
		cp(reg(plan.In, 1, 1), reg(plan.Out, 0, 1)),
	}}
	in := [][]byte{enc(5, 7)}
	res, err := Run(sched(allreduce(1, 2, false), prog), in, nil)
	require.NoError(t, err)
	require.Equal(t, enc(7, 5), res.Out[0])

	res, err = Run(sched(allreduce(1, 2, true), prog), in, nil)
	require.NoError(t, err)
	require.Equal(t, enc(5, 5), res.Out[0])
	require.Equal(t, [][]byte{enc(5, 7)}, in)
}

func TestRunInPlaceLayouts(t *testing.T) {
	// Allgather in place: In is Out[rank*count:]. Each rank copies nothing; Out must already hold
	// its block at the right place.
	req := plan.Request{Coll: plan.AllGather, Ranks: 2, Count: 1, ElemSize: 8, InPlace: true}
	prog := func(peer, rank int) plan.Program {
		return plan.Program{Steps: []plan.Step{
			send(peer, reg(plan.In, 0, 1)),
			recv(peer, reg(plan.Out, peer, 1)),
		}}
	}
	res, err := Run(sched(req, prog(1, 0), prog(0, 1)), [][]byte{enc(3), enc(4)}, nil)
	require.NoError(t, err)
	require.Equal(t, [][]byte{enc(3, 4), enc(3, 4)}, res.Out)

	// Reduce-scatter in place: Out is In[rank*count:], so Out starts as the rank's own block.
	req = plan.Request{Coll: plan.ReduceScatter, Ranks: 2, Count: 1, ElemSize: 8, InPlace: true}
	prog = func(peer, rank int) plan.Program {
		return plan.Program{Steps: []plan.Step{
			send(peer, reg(plan.In, peer, 1)),
			recvReduce(peer, reg(plan.Out, 0, 1)),
		}}
	}
	res, err = Run(sched(req, prog(1, 0), prog(0, 1)), [][]byte{enc(1, 2), enc(10, 20)}, sum64)
	require.NoError(t, err)
	require.Equal(t, [][]byte{enc(11), enc(22)}, res.Out)
}

func TestRunWriteWaitsForOwnSend(t *testing.T) {
	// Rank 0 sends Out[0] and then overwrites it. The overwrite waits until rank 1 has taken the
	// message, so rank 1 sees the value at posting; rank 0 then sends the new value.
	req := plan.Request{Coll: plan.Broadcast, Ranks: 2, Count: 2, ElemSize: 8}
	s := sched(req,
		plan.Program{Steps: []plan.Step{
			cp(reg(plan.In, 0, 1), reg(plan.Out, 0, 1)),
			send(1, reg(plan.Out, 0, 1)),
			cp(reg(plan.In, 1, 1), reg(plan.Out, 0, 1)),
			send(1, reg(plan.Out, 0, 1)),
			cp(reg(plan.In, 0, 2), reg(plan.Out, 0, 2)),
		}},
		plan.Program{Steps: []plan.Step{
			recv(0, reg(plan.Out, 0, 1)),
			recv(0, reg(plan.Out, 1, 1)),
		}},
	)
	res, err := Run(s, [][]byte{enc(8, 9), nil}, nil)
	require.NoError(t, err)
	require.Equal(t, [][]byte{enc(8, 9), enc(8, 9)}, res.Out)
	require.Equal(t, 1, res.Rounds, "rank 0 received nothing, so both messages have depth 1")
}

func TestRunRounds(t *testing.T) {
	// A chain 0 -> 1 -> 2 -> 3 has 3 rounds; a fan-out from 0 has 1.
	req := plan.Request{Coll: plan.Broadcast, Ranks: 4, Count: 1, ElemSize: 8}
	out := reg(plan.Out, 0, 1)
	chain := make([]plan.Program, 4)
	fan := make([]plan.Program, 4)
	for r := range 4 {
		if r == 0 {
			chain[r].Steps = append(chain[r].Steps, cp(reg(plan.In, 0, 1), out))
			fan[r].Steps = append(fan[r].Steps, cp(reg(plan.In, 0, 1), out))
			for p := 1; p < 4; p++ {
				fan[r].Steps = append(fan[r].Steps, send(p, out))
			}
		} else {
			chain[r].Steps = append(chain[r].Steps, recv(r-1, out))
			fan[r].Steps = append(fan[r].Steps, recv(0, out))
		}
		if r < 3 {
			chain[r].Steps = append(chain[r].Steps, send(r+1, out))
		}
	}
	in := [][]byte{enc(6), nil, nil, nil}
	res, err := Run(sched(req, chain...), in, nil)
	require.NoError(t, err)
	require.Equal(t, 3, res.Rounds)
	require.Equal(t, []int{1, 1, 1, 0}, res.Msgs)
	require.Equal(t, [][]byte{enc(6), enc(6), enc(6), enc(6)}, res.Out)

	res, err = Run(sched(req, fan...), in, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Rounds)
	require.Equal(t, []int{3, 0, 0, 0}, res.Msgs)
	require.Equal(t, []int64{3, 0, 0, 0}, res.Sent)
	require.Equal(t, []int64{0, 1, 1, 1}, res.Recvd)
	require.Equal(t, [][]byte{enc(6), enc(6), enc(6), enc(6)}, res.Out)
}

func TestRunDeadlockListsEveryBlockedRank(t *testing.T) {
	// A three-rank cycle in which every rank receives from its successor first; rank 3 is done.
	req := allreduce(4, 1, false)
	progs := make([]plan.Program, 4)
	for r := range 3 {
		next, prev := (r+1)%3, (r+2)%3
		progs[r].Steps = []plan.Step{
			recv(next, reg(plan.Out, 0, 1)),
			send(prev, reg(plan.In, 0, 1)),
		}
	}
	_, err := Run(sched(req, progs...), [][]byte{enc(1), enc(2), enc(3), enc(4)}, nil)
	de := requireDeadlock(t, err)
	require.Len(t, de.Blocked, 3)
	for r, b := range de.Blocked {
		require.Equal(t, r, b.Rank)
		require.Equal(t, 0, b.Step)
		require.Equal(t, (r+1)%3, b.WaitsFor)
	}
}

func TestRunLengthMismatch(t *testing.T) {
	s := exchange(2, false)
	s.Progs[1].Steps[2].Dst.Len = 1
	s.Progs[1].Steps[3].Src.Len = 1
	s.Progs[1].Steps[3].Dst.Len = 1
	in := [][]byte{enc(1, 2), enc(3, 4)}
	_, err := Run(s, in, sum64)
	require.ErrorContains(t, err, "simulate: plan: message 0 from rank 0 to rank 1")

	// Without Validate, the run itself catches it when the message is taken.
	_, err = run(s, in, sum64)
	require.ErrorContains(t, err, "rank 1 step 2 (recv scratch[0:1] <- rank 0): message from rank 0 step 0 has 2 elements, want 1")
}

func TestRunUnmatchedSend(t *testing.T) {
	s := exchange(1, false)
	s.Progs[0].Steps = append(s.Progs[0].Steps, send(1, reg(plan.Out, 0, 1)))
	in := [][]byte{enc(1), enc(2)}
	_, err := Run(s, in, sum64)
	require.ErrorContains(t, err, "rank 0 step 4 is unmatched")

	// Without Validate, the sender cannot end: its send is never taken.
	_, err = run(s, in, sum64)
	de := requireDeadlock(t, err)
	require.Equal(t, []Blocked{{Rank: 0, Step: 5, WaitsFor: 1,
		Reason: "end of program waits for rank 1 to take its send at step 4 (send out[0:1] -> rank 1), but rank has finished: the message is unmatched"}},
		de.Blocked)
}

func TestRunUnmatchedRecv(t *testing.T) {
	s := exchange(1, false)
	s.Progs[1].Steps = append(s.Progs[1].Steps, recv(0, reg(plan.Out, 0, 1)))
	in := [][]byte{enc(1), enc(2)}
	_, err := Run(s, in, sum64)
	require.ErrorContains(t, err, "rank 1 step 4 is unmatched")
	_, err = run(s, in, sum64)
	de := requireDeadlock(t, err)
	require.Contains(t, de.Blocked[0].Reason, "rank has finished")
}

func TestRunBadInputs(t *testing.T) {
	s := exchange(2, false)
	_, err := Run(s, [][]byte{enc(1, 2)}, sum64)
	require.ErrorContains(t, err, "1 inputs for 2 ranks")
	_, err = Run(s, [][]byte{enc(1, 2), enc(1)}, sum64)
	require.ErrorContains(t, err, "rank 1 input has 8 bytes, want 16")
	_, err = Run(s, [][]byte{enc(1, 2), enc(1, 2)}, nil)
	require.ErrorContains(t, err, "no reduce function")
}

func TestRunPartialOverlapInMemory(t *testing.T) {
	// In place, In[0:2] and Out[1:3] are different buffers to Validate but overlap in memory.
	prog := plan.Program{Steps: []plan.Step{cp(reg(plan.In, 0, 2), reg(plan.Out, 1, 2))}}
	_, err := Run(sched(allreduce(1, 3, false), prog), [][]byte{enc(1, 2, 3)}, nil)
	require.NoError(t, err)
	_, err = Run(sched(allreduce(1, 3, true), prog), [][]byte{enc(1, 2, 3)}, nil)
	require.ErrorContains(t, err, "partly overlap in memory")
}

func TestRunGarbageInitialMemory(t *testing.T) {
	// A rank that never writes Out ends with the garbage pattern, not zeros.
	res, err := Run(sched(allreduce(1, 2, false), plan.Program{}), [][]byte{enc(0, 0)}, nil)
	require.NoError(t, err)
	require.NotEqual(t, enc(0, 0), res.Out[0])
}

func TestRunIsDeterministic(t *testing.T) {
	s := exchange(3, true)
	in := Inputs(s.Req, 3)
	a, err := Run(s, in, sum64)
	require.NoError(t, err)
	b, err := Run(s, in, sum64)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestCheck(t *testing.T) {
	res, err := Check(exchange(5, false))
	require.NoError(t, err)
	require.Equal(t, []int64{5, 5}, res.Sent)
	_, err = Check(exchange(5, true))
	require.NoError(t, err)

	// Forgetting the local reduction leaves Out with the rank's own input only.
	bad := exchange(5, false)
	bad.Progs[1].Steps = bad.Progs[1].Steps[:3]
	_, err = Check(bad)
	require.ErrorContains(t, err, "rank 1 out element 0 is")

	// Rank 0 receives into Out before it sends In. Out of place that is correct; in place the
	// receive overwrites In, and rank 0 sends the sum instead of its input.
	clob := sched(allreduce(2, 2, false),
		plan.Program{Steps: []plan.Step{
			cp(reg(plan.In, 0, 2), reg(plan.Out, 0, 2)),
			recvReduce(1, reg(plan.Out, 0, 2)),
			send(1, reg(plan.In, 0, 2)),
		}},
		plan.Program{Steps: []plan.Step{
			send(0, reg(plan.In, 0, 2)),
			cp(reg(plan.In, 0, 2), reg(plan.Out, 0, 2)),
			recvReduce(0, reg(plan.Out, 0, 2)),
		}},
	)
	_, err = Check(clob)
	require.NoError(t, err)
	clob.Req.InPlace = true
	_, err = Check(clob)
	require.ErrorContains(t, err, "in place true: rank 1 out element 0 is")
}

func TestReference(t *testing.T) {
	in := [][]byte{enc(1, 2, 3, 4), enc(10, 20, 30, 40)}
	cases := []struct {
		req  plan.Request
		in   [][]byte
		want [][]byte
	}{
		{allreduce(2, 4, false), in, [][]byte{enc(11, 22, 33, 44), enc(11, 22, 33, 44)}},
		{plan.Request{Coll: plan.AllGather, Ranks: 2, Count: 4, ElemSize: 8}, in,
			[][]byte{enc(1, 2, 3, 4, 10, 20, 30, 40), enc(1, 2, 3, 4, 10, 20, 30, 40)}},
		{plan.Request{Coll: plan.ReduceScatter, Ranks: 2, Count: 2, ElemSize: 8}, in,
			[][]byte{enc(11, 22), enc(33, 44)}},
		{plan.Request{Coll: plan.Broadcast, Ranks: 2, Count: 4, ElemSize: 8, Root: 1}, [][]byte{nil, in[1]},
			[][]byte{in[1], in[1]}},
		{plan.Request{Coll: plan.Reduce, Ranks: 2, Count: 4, ElemSize: 8, Root: 1}, in,
			[][]byte{{}, enc(11, 22, 33, 44)}},
		{plan.Request{Coll: plan.AllToAll, Ranks: 2, Count: 2, ElemSize: 8}, in,
			[][]byte{enc(1, 2, 10, 20), enc(3, 4, 30, 40)}},
		{plan.Request{Coll: plan.Gather, Ranks: 2, Count: 4, ElemSize: 8}, in,
			[][]byte{enc(1, 2, 3, 4, 10, 20, 30, 40), {}}},
		{plan.Request{Coll: plan.Scatter, Ranks: 2, Count: 2, ElemSize: 8}, [][]byte{in[0], nil},
			[][]byte{enc(1, 2), enc(3, 4)}},
		{plan.Request{Coll: plan.Barrier, Ranks: 2, ElemSize: 8}, [][]byte{nil, nil}, [][]byte{{}, {}}},
	}
	for _, c := range cases {
		got, err := Reference(c.req, c.in, sum64)
		require.NoError(t, err, "%v", c.req)
		require.Equal(t, c.want, got, "%v", c.req)
	}
	_, err := Reference(allreduce(2, 4, false), in[:1], sum64)
	require.Error(t, err)
	_, err = Reference(allreduce(2, 4, false), in, nil)
	require.ErrorContains(t, err, "needs a reduce function")
}
