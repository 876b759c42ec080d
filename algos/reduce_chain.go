package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// chainReduce is the "chain" reduce, for large counts: a pipelined chain toward the root,
//
//	root-1 -> root-2 -> ... -> root+1 -> root   (mod n)
//
// with the buffer cut into P pieces (pipelinePieces: at least 64 KiB each, at most 16). With ranks
// renumbered v = (r - root) mod n, rank n-1 sends its In piece by piece; rank v copies its In
// piece into its accumulator, reduces into it the piece from v+1 and sends it on to v-1, so
// the root ends with x_0 op (x_1 op (... op x_{n-1})) in a fixed order, bitwise reproducible.
// Pieces overlap: while v reduces piece i, v-1 reduces piece i-1. The root accumulates in Out,
// the middle ranks in Scratch (Count elements; their Out is empty). This is the reduce half of
// the pipelined ring of Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters
// of workstations", JPDC 69(2), 2009, and of NCCL's ring reduce.
//
// Every rank but the root sends Count elements (Sent), in P messages; Rounds is n-1.
//
// With req.Hosts set, position v of the chain is position v of hostChain (root, the rest of its
// host, then one host after the other), so that it crosses between H hosts H-1 times, and the
// root's result is reduced in that order. Without Hosts v is (r - root) mod n as above.
type chainReduce struct{}

func init() { Register(chainReduce{}) }

// Name returns "chain".
func (chainReduce) Name() string { return "chain" }

// Coll returns plan.Reduce.
func (chainReduce) Coll() plan.Collective { return plan.Reduce }

// Build returns the chain schedule of req.
func (chainReduce) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Reduce {
		return nil, fmt.Errorf("chain reduce cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	chain := hostChain(req, root)
	abs := func(v int) int { return chain[v] }
	acc := func(v int) plan.Buf {
		switch v {
		case 0:
			return plan.Out
		case n - 1:
			return plan.In
		}
		return plan.Scratch
	}
	for v := 1; v < n-1; v++ {
		if c > 0 {
			w.scratch(abs(v), c)
		}
	}
	pieces := pipelinePieces(c, req.ElemSize)
	if n == 1 {
		w.copy(root, rIn(0, c), rOut(0, c))
	}
	// In round t, rank v sends piece t-(n-1-v) to v-1; senders go in increasing v, so each rank
	// posts its send of piece i-1 before it waits for piece i.
	for t := 0; t < pieces+n-2; t++ {
		for v := 1; v < n; v++ {
			i := t - (n - 1 - v)
			if i < 0 || i >= pieces {
				continue
			}
			off, l := evenSplit(c, pieces, i)
			dst := plan.Region{Buf: acc(v - 1), Off: off, Len: l}
			w.copy(abs(v-1), rIn(off, l), dst)
			w.msgReduce(abs(v), plan.Region{Buf: acc(v), Off: off, Len: l}, abs(v-1), dst)
		}
	}
	return w.schedule("chain"), nil
}

// Cost is the pipeline: n-1+P-1 stages of one piece each, sent and reduced, every stage as slow as
// the slowest link of the chain.
func (chainReduce) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Reduce {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	p := pipelinePieces(req.Count, req.ElemSize)
	stages := req.Ranks - 1 + p - 1
	piece := float64(stages) * float64(req.Count) * float64(req.ElemSize) / float64(p)
	return m.For(req).Time(stages, piece, piece)
}
