package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// linearScatter is the "linear" scatter: the root sends block j of its In straight to rank j,
// in rank order starting after itself (root+1, ..., root-1), and copies its own block to Out
// (nothing to copy in place). It is the basic algorithm of MPI implementations (MPICH's
// MPIR_Scatter_intra_linear).
//
// The root sends (n-1) × Count elements (Sent) in n-1 messages, the others nothing; Rounds is 1.
type linearScatter struct{}

func init() { Register(linearScatter{}) }

// Name returns "linear".
func (linearScatter) Name() string { return "linear" }

// Coll returns plan.Scatter.
func (linearScatter) Coll() plan.Collective { return plan.Scatter }

// Build returns the linear schedule of req.
func (linearScatter) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.Scatter {
		return nil, fmt.Errorf("linear scatter cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c, root := req.Ranks, req.Count, req.Root
	for k := 1; k < n; k++ {
		r := (root + k) % n
		w.msg(root, rIn(r*c, c), r, rOut(0, c))
	}
	w.copy(root, rIn(root*c, c), rOut(0, c))
	return w.schedule("linear"), nil
}

// Cost counts one latency per message the root sends and all the data over the root's link.
func (linearScatter) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.Scatter {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	steps := req.Ranks - 1
	return m.For(req).Time(steps, float64(steps)*float64(req.Count)*float64(req.ElemSize), 0)
}
