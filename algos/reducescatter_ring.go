package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// reduceScatterRing is the ring reduce-scatter, the first half of the ring all-reduce of
// Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters of workstations"
// (JPDC 2009). Partial sums travel one way around the ring
//
//	rank 0 ──► rank 1 ──► rank 2 ──► ... ──► rank n-1
//	  ▲                                          │
//	  └──────────────────────────────────────────┘
//
// and gather one more rank's block on every hop. Block k is In[k·count:(k+1)·count]. In step s
// (0 ≤ s < n-1) rank r sends its partial sum of block (r-s-1) mod n to rank r+1 (at step 0 that is
// just its own In block r-1) and adds its own In block (r-s-2) mod n to the partial received from
// rank r-1. The last step's block is r itself: rank r copies In block r to Out and reduces the
// partial into Out; earlier partials live in two Scratch slots of count elements used in turn
// (one for n = 3, none for n ≤ 2), because In is read only.
//
// In place, Out is In block r: it is written only by the last step, and no other step reads In
// block r, so the input is intact until it is no longer needed. Each rank sends (n-1)·count
// elements in n-1 messages, and the critical path is n-1 messages. With count 0 the programs are
// empty.
//
// With req.Hosts set, the ring runs in the order of hostRing (each host's ranks next to each
// other, H crossings between hosts for H > 1 hosts): "rank r" above is the rank at position r and
// "block i" the In block of the rank at position i. Without Hosts the positions are the ranks.
type reduceScatterRing struct{}

func init() { Register(reduceScatterRing{}) }

// Name returns "ring".
func (reduceScatterRing) Name() string { return "ring" }

// Coll returns plan.ReduceScatter.
func (reduceScatterRing) Coll() plan.Collective { return plan.ReduceScatter }

// Build returns the ring schedule for req.
func (reduceScatterRing) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.ReduceScatter {
		return nil, fmt.Errorf("ring reducescatter cannot build %s", req.Coll)
	}
	n, count := req.Ranks, req.Count
	scratch := 0
	if count > 0 {
		scratch = max(0, min(2, n-2)) * count
	}
	out := plan.Region{Buf: plan.Out, Len: count}
	slot := func(s int) plan.Region { return plan.Region{Buf: plan.Scratch, Off: s % 2 * count, Len: count} }
	order := hostRing(req)
	block := func(i int) plan.Region {
		return plan.Region{Buf: plan.In, Off: order[ringMod(i, n)] * count, Len: count}
	}
	progs := make([]plan.Program, n)
	for q, r := range order { // q: position in the ring
		var p ringProgram
		next, prev := order[(q+1)%n], order[(q+n-1)%n]
		for s := range n - 1 {
			if s == 0 {
				p.send(next, block(q-1))
			} else {
				p.send(next, slot(s-1))
			}
			if s < n-2 {
				p.copy(block(q-s-2), slot(s))
				p.recv(plan.RecvReduce, prev, slot(s))
			}
		}
		p.copy(block(q), out)
		if n > 1 {
			p.recv(plan.RecvReduce, prev, out)
		}
		progs[r] = plan.Program{Scratch: scratch, Steps: p.steps}
	}
	return &plan.Schedule{Algo: "ring", Req: req, Progs: progs}, nil
}

// Cost is n-1 hops of count elements each, every one reduced on arrival, over the slowest link of
// the ring.
func (reduceScatterRing) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.ReduceScatter {
		return math.Inf(1)
	}
	n := req.Ranks
	if n == 1 || req.Count == 0 {
		return m.Time(0, 0, 0)
	}
	b := float64((n - 1) * req.Count * req.ElemSize)
	return m.For(req).Time(n-1, b, b)
}
