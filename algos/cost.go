package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Model holds the parameters of the cost model: the time of a schedule is estimated as
//
//	Latency × (messages on the critical path) + bytes on the critical path / Bandwidth
//	  + bytes reduced on the critical path / ReduceBandwidth
//
// which is the alpha-beta(-gamma) model of Thakur, Rabenseifner and Gropp, "Optimization of
// Collective Communication Operations in MPICH" (IJHPCA 2005), also used by NCCL's tuner.
//
// # Two classes of link
//
// A link between two ranks of one host (shared memory, loopback) has Latency and Bandwidth; a
// link between ranks of different hosts (QUIC over a network) has InterLatency and
// InterBandwidth. Request.Hosts says which ranks share a host; without it every link is inside a
// host, and the model is exactly the one-class model above.
//
// Each message is charged by the class of link it crosses, and a step in which several ranks
// send at once costs what its slowest message costs: a ring or a pipelined chain through several
// hosts moves at the pace of its links between hosts in every step. Algorithms whose rounds
// are easy to tell apart (recursive doubling, halving-doubling, hierarchical) charge each round
// by its own slowest link; the others charge every step at the slowest class the request spans
// (For), which overestimates rounds that stay inside hosts. Links are independent: several ranks
// of one host sending to other hosts at once each get InterBandwidth, which holds where a link's
// speed is set by the per-connection cost of the transport, as with QUIC on the machines measured
// (see DefaultModel), and flatters algorithms that use many links between hosts at once where one
// network card is the bottleneck.
type Model struct {
	Latency         float64 // seconds per message hop inside a host; zero means DefaultModel's
	Bandwidth       float64 // bytes per second over one link inside a host, one way; zero means DefaultModel's
	ReduceBandwidth float64 // bytes per second a rank reduces; zero means DefaultModel's
	InterLatency    float64 // seconds per message hop between hosts; zero means DefaultModel's
	InterBandwidth  float64 // bytes per second over one link between hosts, one way; zero means DefaultModel's
}

// DefaultModel returns parameters for in-host transports on a typical machine (5 us per hop,
// 5 GB/s per link, 10 GB/s of reduction) and for QUIC between hosts (50 us per hop, 0.3 GB/s per
// link). They come from measurements on the project's development machine (2 cores, loopback):
//
//   - In a host: loopback TCP moves 4-4.5 GB/s one way with an 18 us round trip; Open MPI's
//     shared memory reaches 1.4 us for a small 2-rank all-reduce; memcpy moves 12.5 GB/s and a Go
//     float32 sum reads 20 GB/s on one goroutine. 5 us and 5 GB/s lie between these.
//   - Between hosts: quic-go v0.65 moves 0.34-0.45 GB/s over one connection one way and
//     0.19-0.24 GB/s per direction both ways at once (a rank of a ring sends and receives at
//     once), whatever the number of streams; a 64-byte message takes 82 us there and back
//     (41 us one way), which a real network's wire and switches lengthen.
func DefaultModel() Model {
	return Model{Latency: 5e-6, Bandwidth: 5e9, ReduceBandwidth: 10e9, InterLatency: 50e-6, InterBandwidth: 0.3e9}
}

// withDefaults fills zero fields from DefaultModel.
func (m Model) withDefaults() Model {
	d := DefaultModel()
	if m.Latency <= 0 {
		m.Latency = d.Latency
	}
	if m.Bandwidth <= 0 {
		m.Bandwidth = d.Bandwidth
	}
	if m.ReduceBandwidth <= 0 {
		m.ReduceBandwidth = d.ReduceBandwidth
	}
	if m.InterLatency <= 0 {
		m.InterLatency = d.InterLatency
	}
	if m.InterBandwidth <= 0 {
		m.InterBandwidth = d.InterBandwidth
	}
	return m
}

// Crossing returns the model of a link between hosts: m, defaults filled, with Latency and
// Bandwidth replaced by InterLatency and InterBandwidth.
func (m Model) Crossing() Model {
	m = m.withDefaults()
	m.Latency, m.Bandwidth = m.InterLatency, m.InterBandwidth
	return m
}

// For returns the model of the slowest link between ranks of req: m, defaults filled, when every
// rank of req is on one host; otherwise m with the larger of the two latencies and the smaller of
// the two bandwidths (those of Crossing, with sensible parameters).
func (m Model) For(req plan.Request) Model {
	m = m.withDefaults()
	if req.Hosts.Count() > 1 {
		m.Latency = max(m.Latency, m.InterLatency)
		m.Bandwidth = min(m.Bandwidth, m.InterBandwidth)
	}
	return m
}

// round returns the model of one round in which every rank r in [lo, hi) exchanges with
// partner(r): the slower of the two classes when one of the pairs is on two hosts of req, else m
// with defaults filled.
func (m Model) round(req plan.Request, lo, hi int, partner func(r int) int) Model {
	for r := lo; r < hi; r++ {
		if req.Hosts.Of(r) != req.Hosts.Of(partner(r)) {
			return m.For(req)
		}
	}
	return m.withDefaults()
}

// Time returns the model's estimate for a critical path of hops messages carrying bytes, of which
// reduced bytes are combined on arrival.
func (m Model) Time(hops int, bytes, reduced float64) float64 {
	m = m.withDefaults()
	return m.Latency*float64(hops) + bytes/m.Bandwidth + reduced/m.ReduceBandwidth
}

// Select returns the registered algorithm for req.Coll with the lowest estimated cost under m.
// Ties go to the name that sorts first, so the choice is the same on every rank.
func Select(req plan.Request, m Model) (Algorithm, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	var best Algorithm
	bestCost := math.Inf(1)
	for _, a := range List(req.Coll) {
		if c := a.Cost(req, m); c < bestCost {
			best, bestCost = a, c
		}
	}
	if best == nil {
		return nil, fmt.Errorf("algos: no algorithm for %s", req.Coll)
	}
	return best, nil
}

// Build validates req, then builds its schedule with the algorithm called name, or with the one
// Select picks when name is empty.
func Build(req plan.Request, name string, m Model) (*plan.Schedule, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	var (
		a   Algorithm
		err error
	)
	if name == "" {
		a, err = Select(req, m)
	} else {
		a, err = Lookup(req.Coll, name)
	}
	if err != nil {
		return nil, err
	}
	s, err := a.Build(req)
	if err != nil {
		return nil, fmt.Errorf("algos: %s %s: %w", req.Coll, a.Name(), err)
	}
	return s, nil
}
