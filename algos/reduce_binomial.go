package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// binomialReduce is the "binomial" reduce: the binomial tree of the binomial broadcast run
// backwards, toward the root (Thakur, Rabenseifner and Gropp, "Optimization of Collective
// Communication Operations in MPICH", IJHPCA 19(1), 2005, on MPI_Reduce; MPICH's
// MPIR_Reduce_binomial). With ranks renumbered v = (r - root) mod n, rank v accumulates its own
// input, then reduces in the partial results of its children v+1, v+2, v+4, ... (smallest subtree
// first, the order in which they can be ready; always the same order, so the result is bitwise
// reproducible), then sends the result to its parent v - lowbit(v):
//
//	n = 8, root 0:         0          acc(0) = ((x0 op acc(1)) op acc(2)) op acc(4)
//	                    /  |  \
//	                   4   2   1
//	                  / \  |
//	                 6   5 3
//	                 |
//	                 7
//
// The root accumulates in Out (In copied first; nothing to copy in place); other ranks with
// children accumulate in Scratch (Count elements; their Out is empty); leaves send their In.
// Every rank but the root sends Count elements (Sent); Rounds, the longest chain of messages, is
// the height of the tree, floor(log2 n).
type binomialReduce struct{}

func init() { Register(binomialReduce{}) }

// Name returns "binomial".
func (binomialReduce) Name() string { return "binomial" }

// Coll returns plan.Reduce.
func (binomialReduce) Coll() plan.Collective { return plan.Reduce }

// Build returns the binomial-tree schedule of req.
func (binomialReduce) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Reduce {
		return nil, fmt.Errorf("binomial reduce cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	abs := func(v int) int { return (v + root) % n }
	for v := range n {
		r := abs(v)
		kids := binomialKids(v, n)
		acc := rIn(0, c)
		switch {
		case v == 0:
			acc = rOut(0, c)
		case len(kids) > 0:
			acc = rScratch(0, c)
			if c > 0 {
				w.scratch(r, c)
			}
		}
		w.copy(r, rIn(0, c), acc)
		for i := len(kids) - 1; i >= 0; i-- { // smallest subtree first
			w.recvReduce(r, abs(kids[i]), acc)
		}
		if v != 0 {
			w.send(r, abs(binomialParent(v)), acc)
		}
	}
	return w.schedule("binomial"), nil
}

// Cost is ceil(log2 n) rounds, each moving and reducing the whole buffer.
func (binomialReduce) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Reduce {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	steps := ceilLog2(req.Ranks)
	b := float64(steps) * float64(req.Count) * float64(req.ElemSize)
	return m.For(req).Time(steps, b, b)
}
