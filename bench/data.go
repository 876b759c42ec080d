package bench

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/comm"
)

// The check's inputs are non-negative integers chosen so that every result, and every partial
// result on the way, is an integer within the range the element type holds exactly: sums and
// products of non-negative values never exceed their total, so whatever the order in which an
// algorithm combines them the result is exact, and a correct run matches the expected value
// bit for bit. Any difference is a wrong value.

// exactMax returns the largest integer up to which every integer is exact in dt (capped at
// 2^24, which is plenty; 254 for uint8, so that poison's 0xff is never a right value).
func exactMax(dt comm.DType) uint64 {
	switch dt {
	case comm.Int8:
		return 127
	case comm.Uint8:
		return 254
	case comm.Float16:
		return 2048
	case comm.BFloat16:
		return 256
	}
	return 1 << 24
}

// pattern generates the inputs of one row and their expected results.
type pattern struct {
	coll  Collective
	op    comm.Op
	n     int    // ranks
	max   uint64 // largest exact integer of the type
	share uint64 // largest value of one rank's term of a sum: max / n
	twos  int    // for prod: the most factors of 2 in one product
}

func newPattern(coll Collective, dt comm.DType, op comm.Op, n int) pattern {
	p := pattern{coll: coll, op: op, n: n, max: exactMax(dt)}
	p.share = p.max / uint64(n)
	p.twos = min(n, bits.Len64(p.max)-1)
	return p
}

// hash spreads (a, i) over 64 bits (SplitMix64's finaliser).
func hash(a, i int) uint64 {
	x := uint64(a)<<40 ^ uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// input returns element i of rank r's send buffer.
func (p pattern) input(r, i int) uint64 {
	if !p.coll.Reduces() {
		return hash(r, i) % (p.max + 1)
	}
	switch p.op {
	case comm.Sum:
		return hash(r, i) % (p.share + 1)
	case comm.Avg:
		// base + k on even ranks of a pair, base - k on odd ones, base on a last unpaired
		// rank: the sum is n × base, so the average is base exactly.
		base, k := p.avgTerms(i)
		switch {
		case r%2 == 1:
			return base - k
		case r+1 < p.n:
			return base + k
		}
		return base
	case comm.Prod:
		// Factors of 2 on t ranks and 1 elsewhere: the product is 2^t.
		if (r+i)%p.n < i%(p.twos+1) {
			return 2
		}
		return 1
	}
	return hash(r, i) % (p.max + 1) // min, max
}

// avgTerms returns the base and the offset of element i of an average.
func (p pattern) avgTerms(i int) (base, k uint64) {
	base = hash(-1, i) % (p.share + 1)
	return base, hash(-2, i) % (base + 1)
}

// reduced returns the reduction of element i over every rank's send buffer.
func (p pattern) reduced(i int) uint64 {
	switch p.op {
	case comm.Sum:
		var s uint64
		for r := range p.n {
			s += p.input(r, i)
		}
		return s
	case comm.Avg:
		base, _ := p.avgTerms(i)
		return base
	case comm.Prod:
		return 1 << (i % (p.twos + 1))
	case comm.Min:
		m := p.input(0, i)
		for r := 1; r < p.n; r++ {
			m = min(m, p.input(r, i))
		}
		return m
	case comm.Max:
		m := p.input(0, i)
		for r := 1; r < p.n; r++ {
			m = max(m, p.input(r, i))
		}
		return m
	}
	return 0
}

// expected returns element j of rank me's receive buffer after the operation, for count
// elements per rank (or pair) and root.
func (p pattern) expected(me, root, count, j int) uint64 {
	switch p.coll {
	case AllReduce, Reduce:
		return p.reduced(j)
	case ReduceScatter:
		return p.reduced(me*count + j)
	case AllGather, Gather:
		return p.input(j/count, j%count)
	case Broadcast:
		return p.input(root, j)
	case AllToAll:
		return p.input(j/count, me*count+j%count)
	case Scatter:
		return p.input(root, me*count+j)
	case SendRecv:
		return p.input((me+p.n-1)%p.n, j)
	}
	return 0
}

// fill writes f(i) as element i of b, of type dt, for every element of b.
func fill(dt comm.DType, b []byte, f func(i int) uint64) {
	switch dt.Size() {
	case 1:
		for i := range b {
			b[i] = byte(f(i))
		}
	case 2:
		for i := range len(b) / 2 {
			binary.NativeEndian.PutUint16(b[2*i:], encode16(dt, f(i)))
		}
	case 4:
		for i := range len(b) / 4 {
			binary.NativeEndian.PutUint32(b[4*i:], encode32(dt, f(i)))
		}
	case 8:
		for i := range len(b) / 8 {
			binary.NativeEndian.PutUint64(b[8*i:], encode64(dt, f(i)))
		}
	}
}

// countWrong counts the elements of b, of type dt, whose bits differ from f(i) encoded.
func countWrong(dt comm.DType, b []byte, f func(i int) uint64) int64 {
	var wrong int64
	switch dt.Size() {
	case 1:
		for i := range b {
			if b[i] != byte(f(i)) {
				wrong++
			}
		}
	case 2:
		for i := range len(b) / 2 {
			if binary.NativeEndian.Uint16(b[2*i:]) != encode16(dt, f(i)) {
				wrong++
			}
		}
	case 4:
		for i := range len(b) / 4 {
			if binary.NativeEndian.Uint32(b[4*i:]) != encode32(dt, f(i)) {
				wrong++
			}
		}
	case 8:
		for i := range len(b) / 8 {
			if binary.NativeEndian.Uint64(b[8*i:]) != encode64(dt, f(i)) {
				wrong++
			}
		}
	}
	return wrong
}

// encode16, encode32 and encode64 return the bits of the integer v as an element of type dt.
func encode16(dt comm.DType, v uint64) uint16 {
	if dt == comm.BFloat16 {
		return uint16(reduce.BFloat16From(float32(v)))
	}
	return uint16(reduce.Float16From(float32(v)))
}

func encode32(dt comm.DType, v uint64) uint32 {
	if dt == comm.Float32 {
		return math.Float32bits(float32(v))
	}
	return uint32(v)
}

func encode64(dt comm.DType, v uint64) uint64 {
	if dt == comm.Float64 {
		return math.Float64bits(float64(v))
	}
	return v
}

// poison sets every byte of b to 0xff, a value no correct result has (a NaN for the float
// types, negative or above the inputs' range for the integer ones), so that an element the
// operation forgot to write counts as wrong.
func poison(b []byte) {
	for i := range b {
		b[i] = 0xff
	}
}
