package algos

import (
	"fmt"
	"math"
	"slices"

	"github.com/chorus-cc/chorus/algos/plan"
)

// hierAllReduce is the "hierarchical" all-reduce for ranks spread over several hosts
// (Request.Hosts): a reduce-scatter inside every host, an all-reduce of every slice between the
// hosts, and an all-gather inside every host. It is Horovod's hierarchical all-reduce
// (NCCLHierarchicalAllreduce in horovod/common/ops/nccl_operations.cc: NCCL reduce-scatter in a
// node, MPI all-reduce across nodes by every local rank in parallel, NCCL all-gather) and the
// 2D-torus all-reduce of Mikami et al., "Massively Distributed SGD: ImageNet/ResNet-50 Training
// in a Flash" (arXiv:1811.05233, 2018), with the hosts as one dimension of the torus.
//
// Two hosts of three ranks, Out cut into three slices a, b, c; a0 is slice a summed over the ranks
// of host 0, A over every rank:
//
//	        host 0                       host 1
//	rank 0   rank 1   rank 2     rank 3   rank 4   rank 5
//	a b c    a b c    a b c      a b c    a b c    a b c    In, copied to Out
//	   ring reduce-scatter in each host: L-1 steps over fast links
//	a0       b0       c0         a1       b1       c1       slice j at local rank j
//	   ring all-reduce of slice a between ranks 0 and 3, b between 1 and 4, c between 2
//	   and 5, all at once: 2(H-1) steps over slow links
//	A        B        C          A        B        C
//	   ring all-gather in each host: L-1 steps over fast links
//	A B C    A B C    A B C      A B C    A B C    A B C
//
// Every rank copies In to Out and then works in Out only, so the schedule is safe in place and
// needs no scratch. The rings inside a host run in rank order; the rings between hosts run in the
// order of the hosts' lowest ranks (hostGroups). Each element is reduced at one rank per host in
// the first phase and at one rank in the second, then only copied: every rank ends with the same
// bits, whatever the op.
//
// # Hosts of different sizes
//
// Horovod falls back to a leader per node when nodes differ in size. Here every host h still
// cuts Out into L_h near-equal slices (evenSplit), one per local rank, and the all-reduce between
// hosts runs on the segments of the common refinement of all hosts' cuts: for each segment, one
// rank per host, the one whose slice holds it, joins a ring over the H hosts. A rank of a small
// host holds a long slice and joins the rings of several segments, in the order of their offsets,
// as every other rank does, so no rank waits for a ring that waits for it. With equal hosts the
// segments are the slices. Six elements over host 0 (ranks 0, 1: slices 0-2, 3-5) and host 1
// (ranks 2, 3, 4: slices 0-1, 2-3, 4-5):
//
//	segment  elements  ring between
//	x        0-1       rank 0 (slice 0-2) and rank 2 (slice 0-1)
//	y        2         rank 0             and rank 3 (slice 2-3)
//	z        3         rank 1 (slice 3-5) and rank 3
//	u        4-5       rank 1             and rank 4 (slice 4-5)
//
// # Bytes
//
// Each segment of s elements costs its ring 2(H-1)·s elements sent between hosts, so the schedule
// moves exactly 2(H-1)·Count elements between hosts, against about 2H(n-1)/n·Count for the flat
// ring through the same hosts (hostRing), and never more. With one host, or one rank per host,
// the schedule sends the messages of the ring all-reduce: Cost returns +Inf for both, so that
// Select names "ring" there instead of this algorithm, whose name sorts first on a tie.
type hierAllReduce struct{}

func init() { Register(hierAllReduce{}) }

// Name returns "hierarchical".
func (hierAllReduce) Name() string { return "hierarchical" }

// Coll returns plan.AllReduce.
func (hierAllReduce) Coll() plan.Collective { return plan.AllReduce }

// Build returns the hierarchical schedule of req.
func (hierAllReduce) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllReduce {
		return nil, fmt.Errorf("hierarchical all-reduce cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	c := req.Count
	groups := hostGroups(req)
	for r := range req.Ranks {
		w.copy(r, rIn(0, c), rOut(0, c))
	}
	for _, g := range groups {
		ringReduceScatterOut(w, g, 0, c)
	}
	for _, sg := range hierSegments(c, groups) {
		ringReduceScatterOut(w, sg.ranks, sg.off, sg.len)
		ringAllGatherOut(w, sg.ranks, sg.off, sg.len)
	}
	for _, g := range groups {
		ringAllGatherOut(w, g, 0, c)
	}
	return w.schedule("hierarchical"), nil
}

// Cost is the sum of the three phases. Inside hosts, the largest of the hosts' ring times: L-1
// hops of the largest slice ceil(Count/L) over links inside a host, reduced on arrival in the
// reduce-scatter. Between hosts, the largest over ranks of the time of the rings it joins, one
// after the other: 2(H-1) hops between hosts of the largest chunk of its segment, half of them
// reduced. It is +Inf with one host or one rank per host (see hierAllReduce).
func (hierAllReduce) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllReduce {
		return math.Inf(1)
	}
	h := req.Hosts.Count()
	if h <= 1 || h == req.Ranks {
		return math.Inf(1)
	}
	if req.Count == 0 {
		return m.Time(0, 0, 0)
	}
	c, es := req.Count, float64(req.ElemSize)
	groups := hostGroups(req)
	intra, inter := m.withDefaults(), m.Crossing()
	var inside float64
	for _, g := range groups {
		l := len(g)
		chunk := float64((c+l-1)/l) * es
		rs := intra.Time(l-1, float64(l-1)*chunk, float64(l-1)*chunk)
		ag := intra.Time(l-1, float64(l-1)*chunk, 0)
		inside = max(inside, rs+ag)
	}
	between := make(map[int]float64)
	for _, sg := range hierSegments(c, groups) {
		chunk := float64((sg.len+h-1)/h) * es
		t := inter.Time(2*(h-1), float64(2*(h-1))*chunk, float64(h-1)*chunk)
		for _, r := range sg.ranks {
			between[r] += t
		}
	}
	var slowest float64
	for _, t := range between {
		slowest = max(slowest, t)
	}
	return inside + slowest
}

// hierSegment is a run of Out that one ring between hosts all-reduces: elements [off, off+len)
// and the rank of each host whose slice holds them, hosts in the order of hostGroups.
type hierSegment struct {
	off, len int
	ranks    []int
}

// hierSegments cuts count elements at every slice boundary of every host (host g cuts them into
// len(groups[g]) near-equal slices, evenSplit) and returns the non-empty segments in order of
// offset, each with the rank of every host whose slice holds it.
func hierSegments(count int, groups [][]int) []hierSegment {
	cuts := []int{count}
	for _, g := range groups {
		for j := range g {
			if off, _ := evenSplit(count, len(g), j); off < count {
				cuts = append(cuts, off)
			}
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []hierSegment
	for i := 0; i+1 < len(cuts); i++ {
		off, end := cuts[i], cuts[i+1]
		ranks := make([]int, len(groups))
		for k, g := range groups {
			ranks[k] = g[evenSplitIndex(count, len(g), off)]
		}
		out = append(out, hierSegment{off: off, len: end - off, ranks: ranks})
	}
	return out
}

// evenSplitIndex returns the part that holds element at (0 ≤ at < count) when count elements are
// cut into parts near-equal parts by evenSplit.
func evenSplitIndex(count, parts, at int) int {
	q, rem := count/parts, count%parts
	big := rem * (q + 1) // elements of the parts that hold q+1
	if at < big {
		return at / (q + 1)
	}
	return rem + (at-big)/q
}

// ringReduceScatterOut writes a ring reduce-scatter among ranks, in that order, of Out[off :
// off+n], cut into len(ranks) near-equal parts: in step s the rank at position q sends part
// q-s-1 to the next and reduces part q-s-2 from the previous, so that it ends holding part q
// reduced over every rank (see allReduceRing).
func ringReduceScatterOut(w *schedWriter, ranks []int, off, n int) {
	l := len(ranks)
	part := func(i int) plan.Region {
		o, k := evenSplit(n, l, ringMod(i, l))
		return rOut(off+o, k)
	}
	for q, r := range ranks {
		next, prev := ranks[(q+1)%l], ranks[(q+l-1)%l]
		for s := range l - 1 {
			w.send(r, next, part(q-s-1))
			w.recvReduce(r, prev, part(q-s-2))
		}
	}
}

// ringAllGatherOut writes a ring all-gather among ranks, in that order, of Out[off : off+n], cut
// into len(ranks) near-equal parts of which the rank at position q holds part q: in step s it
// sends part q-s and receives part q-s-1.
func ringAllGatherOut(w *schedWriter, ranks []int, off, n int) {
	l := len(ranks)
	part := func(i int) plan.Region {
		o, k := evenSplit(n, l, ringMod(i, l))
		return rOut(off+o, k)
	}
	for q, r := range ranks {
		next, prev := ranks[(q+1)%l], ranks[(q+l-1)%l]
		for s := range l - 1 {
			w.send(r, next, part(q-s))
			w.recv(r, prev, part(q-s-1))
		}
	}
}
