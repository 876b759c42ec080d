package algos

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/chorus-cc/chorus/algos/plan"
)

// binomialBroadcast is the "binomial" broadcast: a binomial tree from the root (Thakur,
// Rabenseifner and Gropp, "Optimization of Collective Communication Operations in MPICH",
// IJHPCA 19(1), 2005, on MPI_Bcast; MPICH's MPIR_Bcast_binomial). With ranks renumbered
// v = (r - root) mod n, rank v > 0 receives the whole buffer from v - lowbit(v) and then sends it
// to v + 2^j for every 2^j < lowbit(v) (every 2^j < n at the root) with v + 2^j < n, largest first:
//
//	n = 8, root 0:         0
//	                    /  |  \
//	                   4   2   1
//	                  / \  |
//	                 6   5 3
//	                 |
//	                 7
//
// Rank v sends Count × children(v) elements (Sent), where children(v) counts the v + 2^j above;
// Rounds, the longest chain of messages, is the height of the tree, floor(log2 n); the cost model
// counts ceil(log2 n) steps, as the root sends one message per step. The root copies In to Out
// after its sends (nothing to copy in place).
type binomialBroadcast struct{}

func init() { Register(binomialBroadcast{}) }

// Name returns "binomial".
func (binomialBroadcast) Name() string { return "binomial" }

// Coll returns plan.Broadcast.
func (binomialBroadcast) Coll() plan.Collective { return plan.Broadcast }

// Build returns the binomial-tree schedule of req.
func (binomialBroadcast) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Broadcast {
		return nil, fmt.Errorf("binomial broadcast cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	abs := func(v int) int { return (v + root) % n }
	for v := range n {
		r := abs(v)
		src := rOut(0, c)
		if v == 0 {
			src = rIn(0, c)
		} else {
			w.recv(r, abs(binomialParent(v)), rOut(0, c))
		}
		for _, kid := range binomialKids(v, n) {
			w.send(r, abs(kid), src)
		}
		if v == 0 {
			w.copy(r, rIn(0, c), rOut(0, c))
		}
	}
	return w.schedule("binomial"), nil
}

// Cost is ceil(log2 n) rounds, each moving the whole buffer.
func (binomialBroadcast) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Broadcast {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	steps := ceilLog2(req.Ranks)
	return m.For(req).Time(steps, float64(steps)*float64(req.Count)*float64(req.ElemSize), 0)
}

// ceilLog2 returns the smallest k with 2^k ≥ n (n ≥ 1).
func ceilLog2(n int) int { return bits.Len(uint(n - 1)) }

// binomialParent returns the parent of v > 0 in the binomial tree rooted at 0: v without its
// lowest set bit.
func binomialParent(v int) int { return v & (v - 1) }

// binomialKids returns the children of v in the binomial tree over 0..n-1 rooted at 0, largest
// subtree first: v + 2^j for 2^j below v's lowest set bit (below n at the root), within n.
func binomialKids(v, n int) []int {
	limit := v & -v
	if v == 0 {
		limit = 1 << ceilLog2(n)
	}
	var kids []int
	for m := limit >> 1; m >= 1; m >>= 1 {
		if v+m < n {
			kids = append(kids, v+m)
		}
	}
	return kids
}

// binomialSubtree returns how many ranks the subtree of v holds: v and its descendants, the
// ranks v .. v+size-1.
func binomialSubtree(v, n int) int {
	if v == 0 {
		return n
	}
	return min(v&-v, n-v)
}
