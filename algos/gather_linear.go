package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// linearGather is the "linear" gather: every rank sends its In straight to the root, which
// receives block j into Out[j*Count:] in rank order starting after itself (root+1, root+2, ...,
// root-1) and copies its own block (nothing to copy in place). It is the basic algorithm of MPI
// implementations (MPICH's MPIR_Gather_intra_linear): one message per rank, the root's link the
// bottleneck.
//
// Every rank but the root sends Count elements (Sent) in one message; Rounds is 1.
type linearGather struct{}

func init() { Register(linearGather{}) }

// Name returns "linear".
func (linearGather) Name() string { return "linear" }

// Coll returns plan.Gather.
func (linearGather) Coll() plan.Collective { return plan.Gather }

// Build returns the linear schedule of req.
func (linearGather) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Gather {
		return nil, fmt.Errorf("linear gather cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	for k := 1; k < n; k++ {
		r := (root + k) % n
		w.msg(r, rIn(0, c), root, rOut(r*c, c))
	}
	w.copy(root, rIn(0, c), rOut(root*c, c))
	return w.schedule("linear"), nil
}

// Cost counts one latency per message the root takes and all the data over the root's link.
func (linearGather) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Gather {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	steps := req.Ranks - 1
	return m.For(req).Time(steps, float64(steps)*float64(req.Count)*float64(req.ElemSize), 0)
}
