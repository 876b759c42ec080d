package simulate

import (
	"slices"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Pair is an ordered pair of ranks: messages go from From to To.
type Pair struct{ From, To int }

// CrossHostBytes returns the bytes the run sent between ranks on different hosts of h, which
// describes the run's ranks or is the zero value (every rank on one host, so 0). h need not be the
// request's Hosts: a run can be measured against any assignment of ranks to hosts.
func (r *Result) CrossHostBytes(h plan.Hosts) int64 {
	var elems int64
	for p, e := range r.PairSent {
		if h.Of(p.From) != h.Of(p.To) {
			elems += e
		}
	}
	return elems * int64(r.ElemSize)
}

// CrossHostLinks returns the ordered pairs of ranks on different hosts of h that carried data in
// the run, sorted by From, then To: the links between hosts the schedule uses.
func (r *Result) CrossHostLinks(h plan.Hosts) []Pair {
	var out []Pair
	for p := range r.PairSent {
		if h.Of(p.From) != h.Of(p.To) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Pair) int {
		if a.From != b.From {
			return a.From - b.From
		}
		return a.To - b.To
	})
	return out
}
