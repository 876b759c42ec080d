package reduce

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// This file holds the test references. They read and write elements with encoding/binary, not
// through the kernels' typed views, and spell the float rules out again, independently.

var ne = binary.NativeEndian

// getBits returns element i of b (of type d) as its bit pattern.
func getBits(d DType, b []byte, i int) uint64 {
	switch d.Size() {
	case 1:
		return uint64(b[i])
	case 2:
		return uint64(ne.Uint16(b[2*i:]))
	case 4:
		return uint64(ne.Uint32(b[4*i:]))
	}
	return ne.Uint64(b[8*i:])
}

func putBits(d DType, b []byte, i int, v uint64) {
	switch d.Size() {
	case 1:
		b[i] = byte(v)
	case 2:
		ne.PutUint16(b[2*i:], uint16(v))
	case 4:
		ne.PutUint32(b[4*i:], uint32(v))
	default:
		ne.PutUint64(b[8*i:], v)
	}
}

// isNaN32 and friends test the bits, so that no float arithmetic is involved.
func isNaN32(b uint32) bool { return b&0x7fffffff > 0x7f800000 }

func isNaN64(b uint64) bool { return b&(1<<63-1) > 0x7ff0000000000000 }

// refNaN32 is the NaN rule: a quieted a, else a quieted b, else the negative default NaN.
func refNaN32(a, b uint32) uint32 {
	switch {
	case isNaN32(a):
		return a | 1<<22
	case isNaN32(b):
		return b | 1<<22
	}
	return 0xffc00000
}

func refNaN64(a, b uint64) uint64 {
	switch {
	case isNaN64(a):
		return a | 1<<51
	case isNaN64(b):
		return b | 1<<51
	}
	return 0xfff8000000000000
}

// refOp32 applies op to float32 bit patterns a (dst) and b (src).
func refOp32(op Op, a, b uint32) uint32 {
	x, y := math.Float32frombits(a), math.Float32frombits(b)
	if (op == Min || op == Max) && (isNaN32(a) || isNaN32(b)) {
		return refNaN32(a, b)
	}
	var r float32
	switch op {
	case Sum, Avg:
		r = x + y
	case Prod:
		r = x * y
	case Min:
		r = y
		if x < y || x == y && math.Signbit(float64(x)) {
			r = x
		}
	case Max:
		r = y
		if x > y || x == y && !math.Signbit(float64(x)) {
			r = x
		}
	}
	if rb := math.Float32bits(r); !isNaN32(rb) {
		return rb
	}
	return refNaN32(a, b)
}

func refOp64(op Op, a, b uint64) uint64 {
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	if (op == Min || op == Max) && (isNaN64(a) || isNaN64(b)) {
		return refNaN64(a, b)
	}
	var r float64
	switch op {
	case Sum, Avg:
		r = x + y
	case Prod:
		r = x * y
	case Min:
		r = y
		if x < y || x == y && math.Signbit(x) {
			r = x
		}
	case Max:
		r = y
		if x > y || x == y && !math.Signbit(x) {
			r = x
		}
	}
	if rb := math.Float64bits(r); !isNaN64(rb) {
		return rb
	}
	return refNaN64(a, b)
}

func refInt[T integer](op Op, a, b T) T {
	switch op {
	case Prod:
		return a * b
	case Min:
		if b < a {
			return b
		}
		return a
	case Max:
		if b > a {
			return b
		}
		return a
	}
	return a + b
}

// refElem returns the bits of a op b for element type d.
func refElem(d DType, op Op, a, b uint64) uint64 {
	switch d {
	case Int8:
		return uint64(uint8(refInt(op, int8(a), int8(b))))
	case Uint8:
		return uint64(refInt(op, uint8(a), uint8(b)))
	case Int32:
		return uint64(uint32(refInt(op, int32(a), int32(b))))
	case Uint32:
		return uint64(refInt(op, uint32(a), uint32(b)))
	case Int64:
		return uint64(refInt(op, int64(a), int64(b)))
	case Uint64:
		return refInt(op, a, b)
	case Float16:
		r := refOp32(op, math.Float32bits(Half(a).Float32()), math.Float32bits(Half(b).Float32()))
		return uint64(Float16From(math.Float32frombits(r)))
	case BFloat16:
		r := refOp32(op, uint32(a)<<16, uint32(b)<<16)
		return uint64(BFloat16From(math.Float32frombits(r)))
	case Float32:
		return uint64(refOp32(op, uint32(a), uint32(b)))
	}
	return refOp64(op, a, b)
}

// refReduce returns dst op src computed element by element with the references.
func refReduce(d DType, op Op, dst, src []byte) []byte {
	out := append([]byte(nil), dst...)
	for i := range len(dst) / d.Size() {
		putBits(d, out, i, refElem(d, op, getBits(d, dst, i), getBits(d, src, i)))
	}
	return out
}

// randElem returns the bits of a random element of type d. Floats are drawn from a mix of
// special values (NaNs with random payloads, quiet and signaling, ±Inf, ±0, subnormals, the
// largest finite values, small integers) and random bit patterns.
func randElem(r *rand.Rand, d DType) uint64 {
	if !d.IsFloat() {
		return r.Uint64()
	}
	bits := uint(8 * d.Size())
	var expBits, fracBits uint
	switch d {
	case Float16:
		expBits, fracBits = 5, 10
	case BFloat16:
		expBits, fracBits = 8, 7
	case Float32:
		expBits, fracBits = 8, 23
	default:
		expBits, fracBits = 11, 52
	}
	sign := r.Uint64N(2) << (bits - 1)
	expAll := (uint64(1)<<expBits - 1) << fracBits
	fracMask := uint64(1)<<fracBits - 1
	switch r.IntN(10) {
	case 0: // NaN, random payload (quiet or signaling)
		return sign | expAll | (r.Uint64()&fracMask | 1)
	case 1:
		return sign | expAll // ±Inf
	case 2:
		return sign // ±0
	case 3: // subnormal
		return sign | (r.Uint64()&fracMask | 1)
	case 4: // largest finite values
		return sign | (expAll - 1 - r.Uint64N(4))
	case 5: // a small integer
		v := float64(r.IntN(9) - 4)
		return floatBits(d, v)
	}
	return r.Uint64() & (uint64(1)<<(bits-1)<<1 - 1)
}

// floatBits returns the bits of v (exactly representable) as an element of float type d.
func floatBits(d DType, v float64) uint64 {
	switch d {
	case Float16:
		return uint64(Float16From(float32(v)))
	case BFloat16:
		return uint64(BFloat16From(float32(v)))
	case Float32:
		return uint64(math.Float32bits(float32(v)))
	}
	return math.Float64bits(v)
}

// floatValue returns element bits v of float type d as a float64.
func floatValue(d DType, v uint64) float64 {
	switch d {
	case Float16:
		return float64(Half(v).Float32())
	case BFloat16:
		return float64(BHalf(v).Float32())
	case Float32:
		return float64(math.Float32frombits(uint32(v)))
	}
	return math.Float64frombits(v)
}

// randBuf returns n random elements of type d placed at byte offset off of a bigger buffer, so
// that the slice is misaligned by off.
func randBuf(r *rand.Rand, d DType, n, off int) []byte {
	b := make([]byte, off+n*d.Size()+8)[off:]
	b = b[:n*d.Size()]
	for i := range n {
		putBits(d, b, i, randElem(r, d))
	}
	return b
}

// placed returns a copy of b at byte offset off of a fresh buffer.
func placed(b []byte, off int) []byte {
	c := make([]byte, off+len(b))[off:]
	copy(c, b)
	return c
}

// requireSameBits fails with the first differing element when got and want differ.
func requireSameBits(t testing.TB, d DType, want, got []byte, format string, args ...any) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: length %d, want %d", fmt.Sprintf(format, args...), len(got), len(want))
	}
	for i := range len(want) / d.Size() {
		if w, g := getBits(d, want, i), getBits(d, got, i); w != g {
			t.Fatalf("%s: element %d of %d is %#x, want %#x", fmt.Sprintf(format, args...), i, len(want)/d.Size(), g, w)
		}
	}
}

// testLengths are the element counts of the matrix tests: every length up to 70 (all heads and
// tails of the vector loops), and longer ones that run the unrolled loops.
func testLengths() []int {
	var n []int
	for i := range 71 {
		n = append(n, i)
	}
	return append(n, 127, 128, 129, 1000, 4097)
}
