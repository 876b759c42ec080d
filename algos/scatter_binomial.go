package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// binomialScatter is the "binomial" scatter: the binomial tree of the binomial broadcast, each
// rank receiving the blocks of its whole subtree in one message and handing its children theirs
// (Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication Operations in
// MPICH", IJHPCA 19(1), 2005; MPICH's MPIR_Scatter_intra_binomial). With ranks
// renumbered v = (r - root) mod n, the subtree of v is the ranks v .. v+s(v)-1,
// s(v) = min(lowbit(v), n-v):
//
//	n = 8, root 0:         0          0 sends blocks 4..7 to 4, 2..3 to 2, 1 to 1;
//	                    /  |  \       4 sends 6..7 to 6 and 5 to 5; 6 sends 7 to 7
//	                   4   2   1
//	                  / \  |
//	                 6   5 3
//	                 |
//	                 7
//
// The root sends from In at the blocks' absolute places, largest subtree first; a subtree whose
// ranks wrap past n-1 gets two messages, split where they wrap. A rank with children receives
// its subtree's blocks into Scratch (s(v) × Count elements), sends its children theirs, largest
// first, and copies its own block to Out; leaves receive into Out. The root copies its own block
// (nothing to copy in place).
//
// The root sends (n-1) × Count elements, rank v ≠ root (s(v)-1) × Count (Sent); Rounds, the
// longest chain of messages, is the height of the tree, floor(log2 n).
type binomialScatter struct{}

func init() { Register(binomialScatter{}) }

// Name returns "binomial".
func (binomialScatter) Name() string { return "binomial" }

// Coll returns plan.Scatter.
func (binomialScatter) Coll() plan.Collective { return plan.Scatter }

// Build returns the binomial-tree schedule of req.
func (binomialScatter) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Scatter {
		return nil, fmt.Errorf("binomial scatter cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	abs := func(v int) int { return (v + root) % n }
	for v := range n {
		r := abs(v)
		kids := binomialKids(v, n)
		if v == 0 {
			for _, u := range kids {
				for _, part := range wrapParts(abs(u), binomialSubtree(u, n), n) {
					w.send(r, abs(u), rIn(part.abs*c, part.len*c))
				}
			}
			w.copy(r, rIn(r*c, c), rOut(0, c))
			continue
		}
		s := binomialSubtree(v, n)
		buf := plan.Out
		if len(kids) > 0 {
			buf = plan.Scratch
			if c > 0 {
				w.scratch(r, s*c)
			}
		}
		if parent := binomialParent(v); parent != 0 {
			w.recv(r, abs(parent), plan.Region{Buf: buf, Off: 0, Len: s * c})
		} else {
			for _, part := range wrapParts(r, s, n) {
				w.recv(r, root, plan.Region{Buf: buf, Off: part.rel * c, Len: part.len * c})
			}
		}
		for _, u := range kids {
			w.send(r, abs(u), rScratch((u-v)*c, binomialSubtree(u, n)*c))
		}
		if len(kids) > 0 {
			w.copy(r, rScratch(0, c), rOut(0, c))
		}
	}
	return w.schedule("binomial"), nil
}

// Cost is ceil(log2 n) rounds; the root's link carries (n-1) blocks.
func (binomialScatter) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Scatter {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	b := float64(req.Ranks-1) * float64(req.Count) * float64(req.ElemSize)
	return m.For(req).Time(ceilLog2(req.Ranks), b, 0)
}
