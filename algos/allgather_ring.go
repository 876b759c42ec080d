package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// allGatherRing is the ring all-gather: every rank's block travels n-1 hops around the ring
//
//	rank 0 ──► rank 1 ──► rank 2 ──► ... ──► rank n-1
//	  ▲                                          │
//	  └──────────────────────────────────────────┘
//
// In step s (0 ≤ s < n-1) rank r sends block (r-s) mod n of Out to rank r+1 and receives block
// (r-s-1) mod n from rank r-1; its own block, which it sends in step 0, it sends straight from
// In, and copies In to block r of Out only after that send has started, so that the copy
// overlaps the transfer instead of delaying it (in place, where In is Out[r·count:], the copy
// is onto itself and the engine skips it). Each rank sends (n-1)·count
// elements in n-1 messages, and the critical path is n-1 messages. With count 0 the programs are
// empty. See Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
// workstations" (JPDC 2009), whose all-reduce ends with this all-gather.
//
// With req.Hosts set, the ring runs in the order of hostRing (each host's ranks next to each
// other, H crossings between hosts for H > 1 hosts): "rank r" above is the rank at position r and
// "block i" the block of the rank at position i. Without Hosts the positions are the ranks.
type allGatherRing struct{}

func init() { Register(allGatherRing{}) }

// Name returns "ring".
func (allGatherRing) Name() string { return "ring" }

// Coll returns plan.AllGather.
func (allGatherRing) Coll() plan.Collective { return plan.AllGather }

// Build returns the ring schedule for req.
func (allGatherRing) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllGather {
		return nil, fmt.Errorf("ring allgather cannot build %s", req.Coll)
	}
	n, count := req.Ranks, req.Count
	order := hostRing(req)
	progs := make([]plan.Program, n)
	block := func(i int) plan.Region {
		return plan.Region{Buf: plan.Out, Off: order[ringMod(i, n)] * count, Len: count}
	}
	for q, r := range order { // q: position in the ring
		var p ringProgram
		own := plan.Region{Buf: plan.In, Len: count}
		next, prev := order[(q+1)%n], order[(q+n-1)%n]
		if n > 1 {
			p.send(next, own)
		}
		p.copy(own, block(q))
		for s := range n - 1 {
			if s > 0 {
				p.send(next, block(q-s))
			}
			p.recv(plan.Recv, prev, block(q-s-1))
		}
		progs[r] = plan.Program{Steps: p.steps}
	}
	return &plan.Schedule{Algo: "ring", Req: req, Progs: progs}, nil
}

// Cost is n-1 hops of count elements each, over the slowest link of the ring.
func (allGatherRing) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllGather {
		return math.Inf(1)
	}
	n := req.Ranks
	if n == 1 || req.Count == 0 {
		return m.Time(0, 0, 0)
	}
	return m.For(req).Time(n-1, float64((n-1)*req.Count*req.ElemSize), 0)
}
