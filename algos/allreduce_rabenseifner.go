package algos

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/chorus-cc/chorus/algos/plan"
)

// hdAllReduce is the "halving-doubling" all-reduce: Rabenseifner's algorithm, a reduce-scatter by
// recursive halving followed by an all-gather by recursive doubling (Thakur, Rabenseifner and
// Gropp, "Optimization of Collective Communication Operations in MPICH", IJHPCA 19(1), 2005,
// on MPI_Allreduce; Rabenseifner, "Optimization of Collective Reduction Operations", ICCS 2004).
//
// Let p be the largest power of two not above n. When n is not a power of two the extra ranks
// first fold their input into ranks 0..e-1 and get the result back at the end, as in the
// recursive-doubling all-reduce (pow2Fold, pow2Unfold); otherwise the first round sends from In
// and copies into Out only the half it keeps. The p ranks split Out into p near-equal blocks
// (block j at rank j in the end):
//
//	reduce-scatter, distance p/2 first: r keeps the half of its window holding block r, sends the
//	other half to r XOR d and reduces the partner's copy of the kept half into Out:
//	    p=4: [0 1 2 3] -> 0,1 keep [0 1], 2,3 keep [2 3] -> each keeps its own block
//	all-gather, distance 1 first: r sends its window to r XOR d and receives the partner's
//	window beside it, doubling the window each round until every rank holds all p blocks.
//
// Each element is reduced at exactly one rank of the power-of-two set, the owner of its block,
// which combines its own partial result with the partner's (own op partner) in a fixed order; the
// all-gather and the unfold only copy. So all ranks end with the same bits, whatever the op.
// Empty blocks (Count < p) give empty messages, which neither side writes.
//
// # Bytes
//
// With c = Count, b_j the size of block j and W_k(r) the 2^k aligned blocks holding block r, a
// rank r < p sends
//
//	Sent(r) = (c - b_r) + Σ_{k=0}^{log2 p - 1} |W_k(r)| + c × [r < e]
//
// elements (2c(p-1)/p + c[r<e] when p divides c), and an extra rank sends c. Rounds is
// 2 log2 p when n is a power of two and every block is non-empty. No scratch is needed.
type hdAllReduce struct{}

func init() { Register(hdAllReduce{}) }

// Name returns "halving-doubling".
func (hdAllReduce) Name() string { return "halving-doubling" }

// Coll returns plan.AllReduce.
func (hdAllReduce) Coll() plan.Collective { return plan.AllReduce }

// Build returns the halving-doubling schedule of req.
func (hdAllReduce) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllReduce {
		return nil, fmt.Errorf("halving-doubling all-reduce cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	c := req.Count
	p := pow2Floor(req.Ranks)
	// window returns the elements of blocks [lo, hi).
	window := func(lo, hi int) plan.Region {
		off, _ := evenSplit(c, p, lo)
		end := c
		if hi < p {
			end, _ = evenSplit(c, p, hi)
		}
		return rOut(off, end-off)
	}
	// Out starts as In. Without extra ranks, only the half a rank keeps in the first round is
	// copied: the half it gives goes out from In, so out of place a rank copies half its input
	// instead of all of it (in place the copy is no step at all).
	direct := p == req.Ranks && p > 1
	if !direct {
		pow2Fold(w, c)
	}
	for r := range p {
		// Reduce-scatter: the window [lo, lo+size) halves around block r.
		lo, size := 0, p
		for d := p / 2; d >= 1; d /= 2 {
			size /= 2
			keep, give := lo, lo+size
			if r&d != 0 {
				keep, give = lo+size, lo
			}
			if src := window(give, give+size); direct && d == p/2 {
				kept := window(keep, keep+size)
				w.send(r, r^d, rIn(src.Off, src.Len))
				w.copy(r, rIn(kept.Off, kept.Len), kept)
			} else {
				w.send(r, r^d, src)
			}
			w.recvReduce(r, r^d, window(keep, keep+size))
			lo = keep
		}
		// All-gather: the window doubles around block r.
		for d := 1; d < p; d *= 2 {
			w.send(r, r^d, window(lo, lo+size))
			plo := lo ^ d // the partner's window, beside ours
			w.recv(r, r^d, window(plo, plo+size))
			lo = min(lo, plo)
			size *= 2
		}
	}
	pow2Unfold(w, c)
	return w.schedule("halving-doubling"), nil
}

// Cost is 2 log2 p rounds moving 2c(p-1)/p elements and reducing c(p-1)/p, plus the fold and
// unfold (c each way, c reduced) when n is not a power of two. Over several hosts each round is
// charged by its slowest link: the two rounds at distance d move c·d/p elements each.
func (hdAllReduce) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllReduce {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	p := pow2Floor(req.Ranks)
	b := float64(req.Count) * float64(req.ElemSize)
	if req.Hosts.Count() > 1 {
		t := pow2FoldCost(req, m, b)
		for d := 1; d < p; d *= 2 {
			link := m.round(req, 0, p, func(r int) int { return r ^ d })
			part := b * float64(d) / float64(p)
			t += link.Time(1, part, part) + link.Time(1, part, 0)
		}
		return t
	}
	steps := 2 * (bits.Len(uint(p)) - 1)
	sent := 2 * b * float64(p-1) / float64(p)
	reduced := b * float64(p-1) / float64(p)
	if p < req.Ranks {
		steps += 2
		sent += 2 * b
		reduced += b
	}
	return m.Time(steps, sent, reduced)
}
