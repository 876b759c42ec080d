package plan

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// exchange returns a valid allreduce schedule over two ranks of count elements: each rank sends
// its In to the other, receives into Scratch and reduces into Out.
func exchange(count int) *Schedule {
	prog := func(peer int) Program {
		return Program{Scratch: count, Steps: []Step{
			{Op: Send, Peer: peer, Src: Region{In, 0, count}},
			{Op: Copy, Src: Region{In, 0, count}, Dst: Region{Out, 0, count}},
			{Op: Recv, Peer: peer, Dst: Region{Scratch, 0, count}},
			{Op: ReduceLocal, Src: Region{Scratch, 0, count}, Dst: Region{Out, 0, count}},
		}}
	}
	return &Schedule{
		Algo:  "exchange",
		Req:   Request{Coll: AllReduce, Ranks: 2, Count: count, ElemSize: 4},
		Progs: []Program{prog(1), prog(0)},
	}
}

func TestValidateAcceptsGoodSchedules(t *testing.T) {
	for _, count := range []int{0, 1, 5} {
		require.NoError(t, Validate(exchange(count)))
	}
	s := exchange(3)
	s.Req.InPlace = true
	require.NoError(t, Validate(s))
	// Copy onto the same region is allowed (the engine skips it).
	s.Progs[0].Steps[1] = Step{Op: Copy, Src: Region{Out, 0, 3}, Dst: Region{Out, 0, 3}}
	require.NoError(t, Validate(s))
	// Empty programs for every rank are a valid (if useless) schedule.
	require.NoError(t, Validate(&Schedule{Req: Request{Coll: Barrier, Ranks: 3, ElemSize: 1}, Progs: make([]Program, 3)}))
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *Schedule)
		want   []string // substrings of the error
	}{
		{"bad request", func(s *Schedule) { s.Req.Count = -1 }, []string{"negative count"}},
		{"too few programs", func(s *Schedule) { s.Progs = s.Progs[:1] }, []string{"1 programs for 2 ranks"}},
		{"negative scratch", func(s *Schedule) { s.Progs[1].Scratch = -1 }, []string{"rank 1", "negative scratch"}},
		{"src past end of in", func(s *Schedule) { s.Progs[0].Steps[0].Src.Len = 5 }, []string{"rank 0 step 0", "src", "out of bounds", "in (4 elements)"}},
		{"negative offset", func(s *Schedule) { s.Progs[1].Steps[2].Dst.Off = -1 }, []string{"rank 1 step 2", "dst", "out of bounds"}},
		{"negative length", func(s *Schedule) {
			s.Progs[1].Steps[3].Src = Region{Scratch, 4, -1}
			s.Progs[1].Steps[3].Dst = Region{Out, 4, -1}
		}, []string{"rank 1 step 3", "out of bounds"}},
		{"scratch too small", func(s *Schedule) { s.Progs[0].Scratch = 3 }, []string{"rank 0 step 2", "scratch (3 elements)"}},
		{"unknown buffer", func(s *Schedule) { s.Progs[0].Steps[0].Src.Buf = 7 }, []string{"rank 0 step 0", "unknown buffer 7"}},
		{"writes in", func(s *Schedule) { s.Progs[0].Steps[2].Dst.Buf = In }, []string{"rank 0 step 2", "read-only in"}},
		{"copy into in", func(s *Schedule) {
			s.Progs[1].Steps[1] = Step{Op: Copy, Src: Region{Out, 0, 4}, Dst: Region{In, 0, 4}}
		}, []string{"rank 1 step 1", "read-only"}},
		{"copy lengths differ", func(s *Schedule) { s.Progs[1].Steps[1].Dst.Len = 3 }, []string{"rank 1 step 1", "src has 4 elements, dst 3"}},
		{"reduce lengths differ", func(s *Schedule) { s.Progs[0].Steps[3].Src.Len = 2 }, []string{"rank 0 step 3", "src has 2 elements, dst 4"}},
		{"partial overlap", func(s *Schedule) {
			s.Progs[0].Steps[3] = Step{Op: ReduceLocal, Src: Region{Out, 0, 3}, Dst: Region{Out, 1, 3}}
		}, []string{"rank 0 step 3", "partly overlap"}},
		{"peer is self", func(s *Schedule) { s.Progs[0].Steps[0].Peer = 0 }, []string{"rank 0 step 0", "bad peer 0"}},
		{"peer out of range", func(s *Schedule) { s.Progs[1].Steps[2].Peer = 2 }, []string{"rank 1 step 2", "bad peer 2"}},
		{"negative peer", func(s *Schedule) { s.Progs[1].Steps[0].Peer = -1 }, []string{"rank 1 step 0", "bad peer -1"}},
		{"unknown op", func(s *Schedule) { s.Progs[1].Steps[1].Op = 0 }, []string{"rank 1 step 1", "unknown op"}},
		{"length mismatch", func(s *Schedule) {
			s.Progs[1].Scratch = 5
			s.Progs[1].Steps[2].Dst.Len = 5
		}, []string{"from rank 0 to rank 1", "rank 0 step 0 sends 4", "rank 1 step 2 receives 5"}},
		{"unmatched send", func(s *Schedule) {
			s.Progs[0].Steps = append(s.Progs[0].Steps, Step{Op: Send, Peer: 1, Src: Region{Out, 0, 1}})
		}, []string{"rank 0 sends 2 messages to rank 1", "rank 0 step 4 is unmatched"}},
		{"unmatched recv", func(s *Schedule) {
			s.Progs[0].Steps = append(s.Progs[0].Steps, Step{Op: RecvReduce, Peer: 1, Dst: Region{Out, 0, 1}})
		}, []string{"rank 0 receives 2 messages from rank 1", "rank 0 step 4 is unmatched"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := exchange(4)
			c.mutate(s)
			err := Validate(s)
			require.Error(t, err)
			require.Contains(t, err.Error(), "plan: ")
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	require.ErrorContains(t, Validate(nil), "nil schedule")
}

func TestValidateSizesFollowTheRequest(t *testing.T) {
	// A broadcast's non-root ranks have no In; a region of In on them is out of bounds.
	req := Request{Coll: Broadcast, Ranks: 2, Count: 3, ElemSize: 1, Root: 1}
	s := &Schedule{Req: req, Progs: []Program{
		{Steps: []Step{{Op: Send, Peer: 1, Src: Region{In, 0, 3}}}},
		{Steps: []Step{{Op: Recv, Peer: 0, Dst: Region{Out, 0, 3}}}},
	}}
	require.ErrorContains(t, Validate(s), "rank 0 step 0")
	s.Progs[0].Steps[0].Src.Buf = Out
	require.NoError(t, Validate(s))

	// An allgather's Out holds Count*Ranks elements.
	req = Request{Coll: AllGather, Ranks: 2, Count: 3, ElemSize: 1}
	s = &Schedule{Req: req, Progs: []Program{
		{Steps: []Step{{Op: Copy, Src: Region{In, 0, 3}, Dst: Region{Out, 3, 3}}}},
		{Steps: []Step{{Op: Copy, Src: Region{In, 0, 3}, Dst: Region{Out, 4, 3}}}},
	}}
	require.ErrorContains(t, Validate(s), "rank 1 step 0 (copy in[0:3] -> out[4:7]): dst out[4:7] out of bounds of out (6 elements)")
}
