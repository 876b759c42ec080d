package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// disseminationBarrier is the "dissemination" barrier (Hensgen, Finkel and Manber, "Two
// algorithms for barrier synchronization", International Journal of Parallel Programming 17(1),
// 1988): in round k = 0 .. ceil(log2 n)-1, rank r sends a zero-length message to (r + 2^k) mod n
// and waits for one from (r - 2^k) mod n. After round k a rank has heard, directly or through
// others, from the 2^(k+1) ranks before it, so after the last round from all n: no rank leaves
// before every rank has arrived. Unlike a tree barrier it needs no root and no second pass.
//
//	n = 5, round 0: r -> r+1   round 1: r -> r+2   round 2: r -> r+4
//
// Every rank sends ceil(log2 n) messages of zero elements (Sent is 0); Rounds is ceil(log2 n).
type disseminationBarrier struct{}

func init() { Register(disseminationBarrier{}) }

// Name returns "dissemination".
func (disseminationBarrier) Name() string { return "dissemination" }

// Coll returns plan.Barrier.
func (disseminationBarrier) Coll() plan.Collective { return plan.Barrier }

// Build returns the dissemination schedule of req.
func (disseminationBarrier) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Barrier {
		return nil, fmt.Errorf("dissemination barrier cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n := req.Ranks
	// Each rank's program is: send round 0, receive round 0, send round 1, ...
	for d := 1; d < n; d <<= 1 {
		for r := range n {
			w.signal(r, (r+d)%n, (r-d+n)%n)
		}
	}
	return w.schedule("dissemination"), nil
}

// Cost is ceil(log2 n) latencies.
func (disseminationBarrier) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Barrier {
		return math.Inf(1)
	}
	return m.For(req).Time(ceilLog2(req.Ranks), 0, 0)
}
