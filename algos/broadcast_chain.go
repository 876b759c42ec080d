package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// chainBroadcast is the "chain" broadcast: a pipelined chain from the root through the ranks in
// order,
//
//	root -> root+1 -> root+2 -> ... -> root-1   (mod n)
//
// with the buffer cut into P pieces (pipelinePieces: at least 64 KiB each, at most 16). Each rank
// receives piece i into Out and sends it on before receiving piece i+1; sends complete in the
// background, so once the pipeline is full every hop moves a piece at the same time. The root
// sends from In and copies In to Out last (nothing to copy in place), overlapping its sends. See
// Träff, "A Simple Work-Optimal Broadcast Algorithm for Message-Passing Parallel Systems" (EuroPVM/
// MPI 2004) for the analysis of pipelined chains; NCCL's ring broadcast is the same pattern.
//
// Every rank but the last of the chain (root-1 mod n) sends Count elements (Sent), in P messages;
// Rounds is n-1 (a message's depth is one more than the deepest its sender had received).
//
// With req.Hosts set, the chain is hostChain: root, the rest of its host, then one host after
// the other, so that it crosses between H hosts H-1 times. Without Hosts it is the chain above.
type chainBroadcast struct{}

func init() { Register(chainBroadcast{}) }

// Name returns "chain".
func (chainBroadcast) Name() string { return "chain" }

// Coll returns plan.Broadcast.
func (chainBroadcast) Coll() plan.Collective { return plan.Broadcast }

// Build returns the chain schedule of req.
func (chainBroadcast) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Broadcast {
		return nil, fmt.Errorf("chain broadcast cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	pieces := pipelinePieces(c, req.ElemSize)
	chain := hostChain(req, root)
	for v, r := range chain { // v: position in the chain
		next, prev := chain[(v+1)%n], chain[(v-1+n)%n]
		for i := range pieces {
			off, l := evenSplit(c, pieces, i)
			switch {
			case v == 0:
				if n > 1 {
					w.send(r, next, rIn(off, l))
				}
			default:
				w.recv(r, prev, rOut(off, l))
				if v < n-1 {
					w.send(r, next, rOut(off, l))
				}
			}
		}
		if v == 0 {
			w.copy(r, rIn(0, c), rOut(0, c))
		}
	}
	return w.schedule("chain"), nil
}

// Cost is the pipeline: n-1+P-1 stages of one piece each, every stage as slow as the slowest link
// of the chain.
func (chainBroadcast) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Broadcast {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	p := pipelinePieces(req.Count, req.ElemSize)
	stages := req.Ranks - 1 + p - 1
	piece := float64(req.Count) * float64(req.ElemSize) / float64(p)
	return m.For(req).Time(stages, float64(stages)*piece, 0)
}
