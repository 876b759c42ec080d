package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// allReduceRing is the bandwidth-optimal ring all-reduce of Patarasuk and Yuan, "Bandwidth optimal
// all-reduce algorithms for clusters of workstations" (JPDC 69(2), 2009): a reduce-scatter around
// the ring followed by an all-gather around the same ring. Data flows one way:
//
//	rank 0 ──► rank 1 ──► rank 2 ──► ... ──► rank n-1
//	  ▲                                          │
//	  └──────────────────────────────────────────┘
//
// Out is split into n near-equal chunks (ringChunk: the first count%n chunks hold one element
// more). Every rank first copies In to Out and then works in Out only, so the schedule is safe in
// place. In step s of the reduce-scatter (0 ≤ s < n-1) rank r sends chunk (r-s-1) mod n to rank
// r+1 and reduces chunk (r-s-2) mod n received from rank r-1 into Out; after n-1 steps rank r
// holds chunk r fully reduced. In step s of the all-gather rank r sends chunk (r-s) mod n and
// receives chunk (r-s-1) mod n. Every element is reduced at one rank and then copied, so the
// results are bitwise identical on all ranks.
//
// A zero-length chunk (count < n) moves no message: its sender and receiver both skip it, and
// count 0 gives empty programs. Rank r sends 2·count - |chunk r| - |chunk r+1| elements, which is
// 2(n-1)/n·count when n divides count, in 2(n-1) messages when count ≥ n; the critical path is
// 2(n-1) messages for any count > 0.
//
// With req.Hosts set, "rank r" above means the rank at position r of hostRing, which keeps every
// host's ranks next to each other: with H > 1 hosts the ring crosses between hosts H times, and
// the bytes crossing are those of the ranks just before a crossing. Without Hosts the positions
// are the ranks themselves.
type allReduceRing struct{}

func init() { Register(allReduceRing{}) }

// Name returns "ring".
func (allReduceRing) Name() string { return "ring" }

// Coll returns plan.AllReduce.
func (allReduceRing) Coll() plan.Collective { return plan.AllReduce }

// Build returns the ring schedule for req.
func (allReduceRing) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllReduce {
		return nil, fmt.Errorf("ring allreduce cannot build %s", req.Coll)
	}
	n, count := req.Ranks, req.Count
	order := hostRing(req)
	progs := make([]plan.Program, n)
	for q, r := range order { // q: position in the ring
		var p ringProgram
		p.copy(plan.Region{Buf: plan.In, Len: count}, plan.Region{Buf: plan.Out, Len: count})
		next, prev := order[(q+1)%n], order[(q+n-1)%n]
		chunk := func(i int) plan.Region {
			off, l := ringChunk(count, n, ringMod(i, n))
			return plan.Region{Buf: plan.Out, Off: off, Len: l}
		}
		for s := range n - 1 {
			p.send(next, chunk(q-s-1))
			p.recv(plan.RecvReduce, prev, chunk(q-s-2))
		}
		for s := range n - 1 {
			p.send(next, chunk(q-s))
			p.recv(plan.Recv, prev, chunk(q-s-1))
		}
		progs[r] = plan.Program{Steps: p.steps}
	}
	return &plan.Schedule{Algo: "ring", Req: req, Progs: progs}, nil
}

// Cost is 2(n-1) hops, each carrying the largest chunk, half of them reduced on arrival, over the
// slowest link of the ring (every step has a hop between hosts when there are several).
func (allReduceRing) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllReduce {
		return math.Inf(1)
	}
	n := req.Ranks
	if n == 1 || req.Count == 0 {
		return m.Time(0, 0, 0)
	}
	chunk := float64((req.Count + n - 1) / n * req.ElemSize)
	return m.For(req).Time(2*(n-1), float64(2*(n-1))*chunk, float64(n-1)*chunk)
}

// ringChunk returns the offset and length of chunk i when count elements are split into parts
// near-equal chunks: the first count%parts chunks hold one element more than the others.
func ringChunk(count, parts, i int) (off, n int) {
	q, rem := count/parts, count%parts
	off = i*q + min(i, rem)
	n = q
	if i < rem {
		n++
	}
	return off, n
}

// ringMod returns i mod n in [0, n).
func ringMod(i, n int) int { return ((i % n) + n) % n }

// ringProgram accumulates the steps of one rank's program, leaving out zero-length ones.
type ringProgram struct {
	steps []plan.Step
}

func (p *ringProgram) send(peer int, src plan.Region) {
	if src.Len > 0 {
		p.steps = append(p.steps, plan.Step{Op: plan.Send, Peer: peer, Src: src})
	}
}

func (p *ringProgram) recv(op plan.Op, peer int, dst plan.Region) {
	if dst.Len > 0 {
		p.steps = append(p.steps, plan.Step{Op: op, Peer: peer, Dst: dst})
	}
}

func (p *ringProgram) copy(src, dst plan.Region) {
	if src.Len > 0 {
		p.steps = append(p.steps, plan.Step{Op: plan.Copy, Src: src, Dst: dst})
	}
}
