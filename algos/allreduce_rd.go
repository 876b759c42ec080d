package algos

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/chorus-cc/chorus/algos/plan"
)

// rdAllReduce is the "recursive-doubling" all-reduce, for small messages: log2 p rounds of
// whole-buffer exchanges (Thakur, Rabenseifner and Gropp, "Optimization of Collective
// Communication Operations in MPICH", IJHPCA 19(1), 2005, on MPI_Allreduce).
//
// Let p be the largest power of two not above n and e = n-p. When n is not a power of two, each
// extra rank r ≥ p first sends its input to r-p, which reduces it into its own (pow2Fold); then
// the p ranks run the rounds; at the end r-p sends the result back to r. In round k (k = 0 ..
// log2 p - 1) rank r exchanges its whole buffer with r XOR 2^k, receives the partner's into
// Scratch and reduces Out = Out op Scratch:
//
//	round 0:  0<->1   2<->3   4<->5   6<->7
//	round 1:  0<->2   1<->3   4<->6   5<->7
//	round 2:  0<->4   1<->5   2<->6   3<->7
//
// (Receiving straight into Out with a RecvReduce would deadlock: both partners would wait for
// their own send of Out to complete before writing it.)
//
// # Bitwise identical results
//
// Unlike the ring or the tree, every element is combined on every rank, so equal results need an
// argument. Claim: after round k, all 2^(k+1) ranks of each aligned group hold the same bits. By
// induction: before round k, partners r and r XOR 2^k hold the values A and B of their groups,
// each the same bits on every member; r computes A op B and its partner B op A. For an op whose
// result does not depend on the order of its two operands (integer sum, product, min, max, bitwise
// ops; IEEE 754 sum and product, which are commutative because each is the exactly rounded
// result of a commutative real operation; min and max as package reduce defines them, which treat
// -0/+0 symmetrically) the two are the same bits. The fold and the final copy to the extra ranks
// only move bits. The one exception is NaN payloads: when both operands of one combination are
// NaNs with different payloads, package reduce keeps the first (Dst's) payload, and partners may
// then end with NaNs of different payloads (still NaNs on every rank).
//
// # Bytes
//
// With c = Count: a rank r < e sends c × (log2 p + 1), a rank e ≤ r < p sends c × log2 p, an
// extra rank sends c; Rounds = log2 p, plus 2 when e > 0. Scratch is c on the p ranks.
type rdAllReduce struct{}

func init() { Register(rdAllReduce{}) }

// Name returns "recursive-doubling".
func (rdAllReduce) Name() string { return "recursive-doubling" }

// Coll returns plan.AllReduce.
func (rdAllReduce) Coll() plan.Collective { return plan.AllReduce }

// Build returns the recursive-doubling schedule of req.
func (rdAllReduce) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllReduce {
		return nil, fmt.Errorf("recursive-doubling all-reduce cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c := req.Ranks, req.Count
	p := pow2Floor(n)
	all := rOut(0, c)
	if p < n {
		pow2Fold(w, c)
	}
	for r := range p {
		if p > 1 && c > 0 {
			w.scratch(r, c)
		}
		for mask := 1; mask < p; mask <<= 1 {
			if mask == 1 && p == n {
				// Nothing was folded in: round 0 sends In itself and copies it to Out after
				// the send has started, so that a small all-reduce starts with a message
				// (which the communicator can send with its call description).
				w.send(r, r^mask, rIn(0, c))
				w.copy(r, rIn(0, c), all)
			} else {
				w.send(r, r^mask, all)
			}
			w.recv(r, r^mask, rScratch(0, c))
			w.reduce(r, rScratch(0, c), all)
		}
		if n == 1 {
			w.copy(r, rIn(0, c), all)
		}
	}
	pow2Unfold(w, c)
	return w.schedule("recursive-doubling"), nil
}

// Cost is log2 p rounds (plus the fold and unfold when n is not a power of two), each moving and
// reducing the whole buffer. Over several hosts each round is charged by its slowest link: the
// rounds whose partners share a host cost what links inside a host cost.
func (rdAllReduce) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllReduce {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	if req.Hosts.Count() > 1 {
		b := float64(req.Count) * float64(req.ElemSize)
		t := pow2FoldCost(req, m, b)
		p := pow2Floor(req.Ranks)
		for d := 1; d < p; d *= 2 {
			t += m.round(req, 0, p, func(r int) int { return r ^ d }).Time(1, b, b)
		}
		return t
	}
	p := pow2Floor(req.Ranks)
	steps, reduced := bits.Len(uint(p))-1, bits.Len(uint(p))-1
	if p < req.Ranks {
		steps += 2
		reduced++
	}
	b := float64(req.Count) * float64(req.ElemSize)
	return m.Time(steps, float64(steps)*b, float64(reduced)*b)
}

// pow2Floor returns the largest power of two not above n (n ≥ 1).
func pow2Floor(n int) int { return 1 << (bits.Len(uint(n)) - 1) }

// pow2FoldCost returns the time of pow2Fold and pow2Unfold of b bytes: two rounds, the first
// reducing, each at the pace of its slowest link; 0 when req.Ranks is a power of two.
func pow2FoldCost(req plan.Request, m Model, b float64) float64 {
	n, p := req.Ranks, pow2Floor(req.Ranks)
	if p == n {
		return 0
	}
	link := m.round(req, p, n, func(r int) int { return r - p })
	return link.Time(1, b, b) + link.Time(1, b, 0)
}

// pow2Fold writes the first steps of an all-reduce over a power-of-two subset: each of the
// ranks 0..p-1 copies In[0:c] to Out, and every extra rank r ≥ p (p = pow2Floor(n)) sends its
// In[0:c] to r-p, which reduces it into Out. Afterwards ranks 0..p-1 hold in Out the reduction of
// their own and their extra's inputs (own op extra) and can run any all-reduce among themselves.
// This is how Thakur, Rabenseifner and Gropp (2005) run recursive doubling and Rabenseifner's
// algorithm on a number of processes that is not a power of two.
func pow2Fold(w *schedWriter, c int) {
	n := w.req.Ranks
	p := pow2Floor(n)
	for r := range p {
		w.copy(r, rIn(0, c), rOut(0, c))
	}
	for r := p; r < n; r++ {
		w.msgReduce(r, rIn(0, c), r-p, rOut(0, c))
	}
}

// pow2Unfold writes the last steps matching pow2Fold: each rank r-p sends its Out[0:c], the
// result, to the extra rank r ≥ p.
func pow2Unfold(w *schedWriter, c int) {
	n := w.req.Ranks
	p := pow2Floor(n)
	for r := p; r < n; r++ {
		w.msg(r-p, rOut(0, c), r, rOut(0, c))
	}
}
