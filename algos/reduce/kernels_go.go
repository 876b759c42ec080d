package reduce

import (
	"math"
	"unsafe"
)

// This file holds the portable kernels. They are the whole implementation on architectures
// without assembly, and on amd64 they do the heads and tails that the vector loops leave, so
// they follow exactly the rules of scalar.go.

type integer interface {
	~int8 | ~uint8 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// as returns the bytes of b as a slice of T (len(b)/sizeof(T) elements), without copying.
func as[T any](b []byte) []T {
	var z T
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b))/unsafe.Sizeof(z))
}

// reduceGo is Reduce without assembly, for arguments already checked and suitably aligned (or on
// a CPU that loads unaligned words).
func reduceGo(d DType, op Op, dst, src []byte) {
	switch d {
	case Int8:
		reduceInt(op, as[int8](dst), as[int8](src))
	case Uint8:
		reduceInt(op, dst, src)
	case Int32:
		reduceInt(op, as[int32](dst), as[int32](src))
	case Uint32:
		reduceInt(op, as[uint32](dst), as[uint32](src))
	case Int64:
		reduceInt(op, as[int64](dst), as[int64](src))
	case Uint64:
		reduceInt(op, as[uint64](dst), as[uint64](src))
	case Float16:
		reduceF16(op, as[Half](dst), as[Half](src))
	case BFloat16:
		reduceBF16(op, as[BHalf](dst), as[BHalf](src))
	case Float32:
		reduceF32(op, as[float32](dst), as[float32](src))
	case Float64:
		reduceF64(op, as[float64](dst), as[float64](src))
	}
}

func reduceInt[T integer](op Op, d, s []T) {
	s = s[:len(d)]
	switch op {
	case Sum, Avg:
		for len(d) >= 4 {
			d[0] += s[0]
			d[1] += s[1]
			d[2] += s[2]
			d[3] += s[3]
			d, s = d[4:], s[4:]
		}
		for i := range d {
			d[i] += s[i]
		}
	case Prod:
		for i := range d {
			d[i] *= s[i]
		}
	case Min:
		for i := range d {
			d[i] = min(d[i], s[i])
		}
	case Max:
		for i := range d {
			d[i] = max(d[i], s[i])
		}
	}
}

func reduceF32(op Op, d, s []float32) {
	s = s[:len(d)]
	switch op {
	case Sum, Avg:
		for len(d) >= 4 {
			a, b := d[:4], s[:4]
			r0, r1, r2, r3 := a[0]+b[0], a[1]+b[1], a[2]+b[2], a[3]+b[3]
			if t := (r0 + r1) + (r2 + r3); t != t { // some r is a NaN (or Infs cancelled)
				r0, r1, r2, r3 = add32(a[0], b[0]), add32(a[1], b[1]), add32(a[2], b[2]), add32(a[3], b[3])
			}
			a[0], a[1], a[2], a[3] = r0, r1, r2, r3
			d, s = d[4:], s[4:]
		}
		for i := range d {
			d[i] = add32(d[i], s[i])
		}
	case Prod:
		for len(d) >= 4 {
			a, b := d[:4], s[:4]
			r0, r1, r2, r3 := a[0]*b[0], a[1]*b[1], a[2]*b[2], a[3]*b[3]
			if t := (r0 + r1) + (r2 + r3); t != t {
				r0, r1, r2, r3 = mul32(a[0], b[0]), mul32(a[1], b[1]), mul32(a[2], b[2]), mul32(a[3], b[3])
			}
			a[0], a[1], a[2], a[3] = r0, r1, r2, r3
			d, s = d[4:], s[4:]
		}
		for i := range d {
			d[i] = mul32(d[i], s[i])
		}
	case Min:
		for i := range d {
			d[i] = min32(d[i], s[i])
		}
	case Max:
		for i := range d {
			d[i] = max32(d[i], s[i])
		}
	}
}

func reduceF64(op Op, d, s []float64) {
	s = s[:len(d)]
	switch op {
	case Sum, Avg:
		for len(d) >= 4 {
			a, b := d[:4], s[:4]
			r0, r1, r2, r3 := a[0]+b[0], a[1]+b[1], a[2]+b[2], a[3]+b[3]
			if t := (r0 + r1) + (r2 + r3); t != t { // some r is a NaN (or Infs cancelled)
				r0, r1, r2, r3 = add64(a[0], b[0]), add64(a[1], b[1]), add64(a[2], b[2]), add64(a[3], b[3])
			}
			a[0], a[1], a[2], a[3] = r0, r1, r2, r3
			d, s = d[4:], s[4:]
		}
		for i := range d {
			d[i] = add64(d[i], s[i])
		}
	case Prod:
		for len(d) >= 4 {
			a, b := d[:4], s[:4]
			r0, r1, r2, r3 := a[0]*b[0], a[1]*b[1], a[2]*b[2], a[3]*b[3]
			if t := (r0 + r1) + (r2 + r3); t != t {
				r0, r1, r2, r3 = mul64(a[0], b[0]), mul64(a[1], b[1]), mul64(a[2], b[2]), mul64(a[3], b[3])
			}
			a[0], a[1], a[2], a[3] = r0, r1, r2, r3
			d, s = d[4:], s[4:]
		}
		for i := range d {
			d[i] = mul64(d[i], s[i])
		}
	case Min:
		for i := range d {
			d[i] = min64(d[i], s[i])
		}
	case Max:
		for i := range d {
			d[i] = max64(d[i], s[i])
		}
	}
}

// The half kernels widen to float32, apply the float32 rule and round back to nearest even.
// For Sum and Prod this is the correctly rounded half result: float32's 24-bit significand is at
// least 2p+2 bits for binary16 (p=11) and bfloat16 (p=8), and double rounding through such a
// format is innocuous for +, -, *, / and sqrt (S. A. Figueroa, "When is double rounding
// innocuous?", ACM SIGNUM Newsletter 30(3), 1995). Min and Max return one of the inputs (or a
// quieted NaN), which converts back exactly.

func reduceF16(op Op, d, s []Half) {
	s = s[:len(d)]
	switch op {
	case Sum, Avg:
		for i := range d {
			d[i] = Float16From(add32(d[i].Float32(), s[i].Float32()))
		}
	case Prod:
		for i := range d {
			d[i] = Float16From(mul32(d[i].Float32(), s[i].Float32()))
		}
	case Min:
		for i := range d {
			d[i] = Float16From(min32(d[i].Float32(), s[i].Float32()))
		}
	case Max:
		for i := range d {
			d[i] = Float16From(max32(d[i].Float32(), s[i].Float32()))
		}
	}
}

func reduceBF16(op Op, d, s []BHalf) {
	s = s[:len(d)]
	switch op {
	case Sum, Avg:
		for i := range d {
			d[i] = BFloat16From(add32(d[i].Float32(), s[i].Float32()))
		}
	case Prod:
		for i := range d {
			d[i] = BFloat16From(mul32(d[i].Float32(), s[i].Float32()))
		}
	case Min:
		for i := range d {
			d[i] = BFloat16From(min32(d[i].Float32(), s[i].Float32()))
		}
	case Max:
		for i := range d {
			d[i] = BFloat16From(max32(d[i].Float32(), s[i].Float32()))
		}
	}
}

// divideGo is Divide without assembly, for a suitably aligned buf and n >= 1.
func divideGo(d DType, buf []byte, n int) {
	if n == 1 {
		return
	}
	switch d {
	case Int8:
		divSigned(as[int8](buf), n)
	case Uint8:
		divUnsigned(buf, n)
	case Int32:
		divSigned(as[int32](buf), n)
	case Uint32:
		divUnsigned(as[uint32](buf), n)
	case Int64:
		divSigned(as[int64](buf), n)
	case Uint64:
		divUnsigned(as[uint64](buf), n)
	case Float16:
		f := float64(n)
		b := as[Half](buf)
		for i := range b {
			b[i] = Float16From(divOdd(b[i].Float32(), f))
		}
	case BFloat16:
		f := float64(n)
		b := as[BHalf](buf)
		for i := range b {
			b[i] = BFloat16From(divOdd(b[i].Float32(), f))
		}
	case Float32:
		divF32(as[float32](buf), float32(n))
	case Float64:
		divF64(as[float64](buf), float64(n))
	}
}

// divSigned divides in int64, so that an n beyond T's range (n > 127 for int8) is still right.
func divSigned[T ~int8 | ~int32 | ~int64](b []T, n int) {
	m := int64(n)
	for i := range b {
		b[i] = T(int64(b[i]) / m)
	}
}

func divUnsigned[T ~uint8 | ~uint32 | ~uint64](b []T, n int) {
	m := uint64(n)
	for i := range b {
		b[i] = T(uint64(b[i]) / m)
	}
}

// divOdd returns x/n rounded to float32 by round-to-odd (truncate, then set the last bit if
// the result is inexact), for the half types' Divide. Rounding to nearest even from a format
// with at least p+2 bits that was rounded to odd gives the correctly rounded result in
// precision p (S. Boldo and G. Melquiond, "Emulation of FMA and correctly rounded sums: proved
// algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008); float32 has 24 >= 11+2
// bits. Dividing by n in float32 directly would be correctly rounded only for n <= 8192 in
// binary16 (8199 is the first n that fails). The float64 quotient is close enough to the exact
// one that the result is correctly rounded for every n < 2^30.
func divOdd(x float32, n float64) float32 {
	if x != x {
		return nan32(x, 0)
	}
	q := float64(x) / n
	f := float32(q)
	if float64(f) == q {
		return f
	}
	b := math.Float32bits(f)
	if math.Abs(float64(f)) > math.Abs(q) {
		b-- // step toward zero: f is not zero here, and q is finite and below f in magnitude
	}
	return math.Float32frombits(b | 1)
}

func divF32(b []float32, f float32) {
	for i := range b {
		b[i] = div32(b[i], f)
	}
}

func divF64(b []float64, f float64) {
	for i := range b {
		b[i] = div64(b[i], f)
	}
}
