package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// binomialGather is the "binomial" gather: the binomial tree of the binomial broadcast run
// backwards, each rank forwarding the blocks of its whole subtree in one message (Thakur,
// Rabenseifner and Gropp, "Optimization of Collective Communication Operations in MPICH",
// IJHPCA 19(1), 2005; MPICH's MPIR_Gather_intra_binomial). With ranks renumbered
// v = (r - root) mod n, the subtree of v is the ranks v .. v+s(v)-1, s(v) = min(lowbit(v), n-v):
//
//	n = 8, root 0:         0          7 -> 6, then 6 sends blocks 6,7 to 4;
//	                    /  |  \       5 -> 4, then 4 sends blocks 4..7 to 0
//	                   4   2   1
//	                  / \  |
//	                 6   5 3
//	                 |
//	                 7
//
// A rank with children collects its subtree's blocks in Scratch (s(v) × Count elements), its
// own first, then each child's subtree beside it, smallest child first; leaves send their In. The
// root receives into Out at the blocks' absolute places: a subtree whose ranks wrap past n-1 is
// sent to the root as two messages, split where they wrap. The root copies its own block (nothing
// to copy in place).
//
// Rank v ≠ root sends s(v) × Count elements (Sent); Rounds, the longest chain of messages, is the
// height of the tree, floor(log2 n).
type binomialGather struct{}

func init() { Register(binomialGather{}) }

// Name returns "binomial".
func (binomialGather) Name() string { return "binomial" }

// Coll returns plan.Gather.
func (binomialGather) Coll() plan.Collective { return plan.Gather }

// Build returns the binomial-tree schedule of req.
func (binomialGather) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Gather {
		return nil, fmt.Errorf("binomial gather cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	abs := func(v int) int { return (v + root) % n }
	for v := range n {
		r := abs(v)
		kids := binomialKids(v, n)
		if v == 0 {
			w.copy(r, rIn(0, c), rOut(r*c, c))
			for i := len(kids) - 1; i >= 0; i-- {
				u := kids[i]
				for _, part := range wrapParts(abs(u), binomialSubtree(u, n), n) {
					w.recv(r, abs(u), rOut(part.abs*c, part.len*c))
				}
			}
			continue
		}
		s := binomialSubtree(v, n)
		buf := plan.In
		if len(kids) > 0 {
			buf = plan.Scratch
			if c > 0 {
				w.scratch(r, s*c)
			}
			w.copy(r, rIn(0, c), rScratch(0, c))
			for i := len(kids) - 1; i >= 0; i-- {
				u := kids[i]
				w.recv(r, abs(u), rScratch((u-v)*c, binomialSubtree(u, n)*c))
			}
		}
		parent := binomialParent(v)
		if parent != 0 {
			w.send(r, abs(parent), plan.Region{Buf: buf, Off: 0, Len: s * c})
			continue
		}
		for _, part := range wrapParts(r, s, n) {
			w.send(r, root, plan.Region{Buf: buf, Off: part.rel * c, Len: part.len * c})
		}
	}
	return w.schedule("binomial"), nil
}

// Cost is ceil(log2 n) rounds; the root's link carries (n-1) blocks.
func (binomialGather) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Gather {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	b := float64(req.Ranks-1) * float64(req.Count) * float64(req.ElemSize)
	return m.For(req).Time(ceilLog2(req.Ranks), b, 0)
}

// wrapPart is a run of blocks of a binomial subtree: len blocks starting at block rel of the
// subtree, which are the blocks of ranks abs .. abs+len-1.
type wrapPart struct{ rel, abs, len int }

// wrapParts splits the size blocks of ranks start, start+1, ... (mod n) into the runs that do not
// wrap past rank n-1: one run, or two.
func wrapParts(start, size, n int) []wrapPart {
	if start+size <= n {
		return []wrapPart{{0, start, size}}
	}
	first := n - start
	return []wrapPart{{0, start, first}, {first, 0, size - first}}
}
