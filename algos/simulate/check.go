package simulate

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/chorus-cc/chorus/algos/plan"
)

// AddBytes is a reduce function for Run that adds dst and src byte by byte, wrapping around. It is
// exact, associative and commutative for any element size, so every correct schedule gives the
// result of Reference bit for bit, whatever order it reduces in.
func AddBytes(dst, src []byte) {
	for i, b := range src[:len(dst)] {
		dst[i] += b
	}
}

// Inputs returns random In buffers for req, one per rank, drawn from a generator seeded with seed.
func Inputs(req plan.Request, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, uint64(req.Ranks)<<32|uint64(req.Count)))
	in := make([][]byte, req.Ranks)
	for r := range in {
		n, _ := req.Sizes(r)
		b := make([]byte, n*req.ElemSize)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		in[r] = b
	}
	return in
}

// Reference returns the Out buffer every rank of a correct run of req ends with, computed naively
// from the inputs in (laid out as for Run) and the reduction reduce (dst = dst op src; it may be nil
// for collectives that do not reduce). Reductions combine the inputs in rank order.
func Reference(req plan.Request, in [][]byte, reduce func(dst, src []byte)) ([][]byte, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	n, es := req.Ranks, req.ElemSize
	if len(in) != n {
		return nil, fmt.Errorf("simulate: %d inputs for %d ranks", len(in), n)
	}
	for r := range n {
		if l, _ := req.Sizes(r); len(in[r]) != l*es {
			return nil, fmt.Errorf("simulate: rank %d input has %d bytes, want %d", r, len(in[r]), l*es)
		}
	}
	if req.Coll.Reduces() && reduce == nil {
		return nil, fmt.Errorf("simulate: %s needs a reduce function", req.Coll)
	}
	cb := req.Count * es // bytes of one count
	block := func(b []byte, i int) []byte { return b[i*cb : (i+1)*cb] }
	sum := func(part func(r int) []byte) []byte {
		acc := append([]byte(nil), part(0)...)
		for r := 1; r < n; r++ {
			reduce(acc, part(r))
		}
		return acc
	}
	out := make([][]byte, n)
	for r := range n {
		_, l := req.Sizes(r)
		out[r] = make([]byte, l*es)
	}
	switch req.Coll {
	case plan.AllReduce:
		all := sum(func(r int) []byte { return in[r] })
		for r := range n {
			copy(out[r], all)
		}
	case plan.AllGather:
		for r := range n {
			for j := range n {
				copy(block(out[r], j), in[j])
			}
		}
	case plan.ReduceScatter:
		for r := range n {
			copy(out[r], sum(func(j int) []byte { return block(in[j], r) }))
		}
	case plan.Broadcast:
		for r := range n {
			copy(out[r], in[req.Root])
		}
	case plan.Reduce:
		copy(out[req.Root], sum(func(r int) []byte { return in[r] }))
	case plan.AllToAll:
		for r := range n {
			for j := range n {
				copy(block(out[r], j), block(in[j], r))
			}
		}
	case plan.Gather:
		for j := range n {
			copy(block(out[req.Root], j), in[j])
		}
	case plan.Scatter:
		for r := range n {
			copy(out[r], block(in[req.Root], r))
		}
	case plan.Barrier:
	}
	return out, nil
}

// Check runs s on random inputs with the reduction AddBytes and compares every rank's Out with
// Reference. It returns the run's Result, or the first error: one from Run, or a mismatch naming
// the rank and the first wrong element.
func Check(s *plan.Schedule) (*Result, error) {
	if err := plan.Validate(s); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	in := Inputs(s.Req, 1)
	want, err := Reference(s.Req, in, AddBytes)
	if err != nil {
		return nil, err
	}
	res, err := Run(s, in, AddBytes)
	if err != nil {
		return nil, err
	}
	if err := Compare(s, res, want); err != nil {
		return res, err
	}
	return res, nil
}

// Compare reports the first difference between res.Out and want as an error naming the schedule,
// rank and element, or nil when they are equal.
func Compare(s *plan.Schedule, res *Result, want [][]byte) error {
	if len(res.Out) != len(want) {
		return fmt.Errorf("simulate: %s: %d outputs, want %d", s.Algo, len(res.Out), len(want))
	}
	es := max(s.Req.ElemSize, 1)
	for r := range want {
		got := res.Out[r]
		if bytes.Equal(got, want[r]) {
			continue
		}
		if len(got) != len(want[r]) {
			return fmt.Errorf("simulate: %s: rank %d out has %d bytes, want %d", s.Algo, r, len(got), len(want[r]))
		}
		for i := range got {
			if got[i] != want[r][i] {
				e := i / es
				return fmt.Errorf("simulate: %s %s over %d ranks, count %d, in place %v: rank %d out element %d is %x, want %x",
					s.Algo, s.Req.Coll, s.Req.Ranks, s.Req.Count, s.Req.InPlace, r, e,
					got[e*es:(e+1)*es], want[r][e*es:(e+1)*es])
			}
		}
	}
	return nil
}
