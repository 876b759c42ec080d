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
type Model struct {
	Latency         float64 // seconds per message hop; zero means DefaultModel's
	Bandwidth       float64 // bytes per second over one link in one direction; zero means DefaultModel's
	ReduceBandwidth float64 // bytes per second a rank reduces; zero means DefaultModel's
}

// DefaultModel returns the parameters measured for in-host transports on a typical machine:
// 5 us per hop, 5 GB/s per link, 10 GB/s of reduction.
func DefaultModel() Model {
	return Model{Latency: 5e-6, Bandwidth: 5e9, ReduceBandwidth: 10e9}
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
	return m
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
