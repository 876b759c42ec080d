package reduce

import "math"

// This file holds the scalar float rules that every code path follows, so that the assembly
// kernels and the Go kernels agree bit for bit, on every architecture.
//
// NaN results. When an operation on a and b (a from dst, b from src) gives a NaN, the result is
// a quieted copy of a if a is a NaN, else a quieted copy of b if b is a NaN, else (Inf-Inf,
// 0*Inf) the "default NaN" with the sign bit set (0xffc00000 / 0xfff8000000000000). This is
// what x86 SSE/AVX arithmetic does with the first source operand set to a; the Go kernels check
// for a NaN result and apply the rule explicitly, so that other CPUs (ARM, whose default NaN is
// positive) produce the same bits.
//
// Min and Max. If either input is a NaN the result is a NaN, chosen by the rule above (NaN
// propagates, as in IEEE 754-2019 minimum and maximum and in Go's min and max builtins, and
// unlike x86 MINPS, which returns its second operand). Otherwise the smaller (larger) value;
// for -0 and +0, Min returns -0 and Max returns +0, whatever the order.

const (
	quiet32  = 0x00400000
	quiet64  = 0x0008000000000000
	defNaN32 = 0xffc00000
	defNaN64 = 0xfff8000000000000
)

// nan32 returns the NaN result of an operation on a and b (see the rule above).
func nan32(a, b float32) float32 {
	if a != a {
		return math.Float32frombits(math.Float32bits(a) | quiet32)
	}
	if b != b {
		return math.Float32frombits(math.Float32bits(b) | quiet32)
	}
	return math.Float32frombits(defNaN32)
}

// nan64 returns the NaN result of an operation on a and b (see the rule above).
func nan64(a, b float64) float64 {
	if a != a {
		return math.Float64frombits(math.Float64bits(a) | quiet64)
	}
	if b != b {
		return math.Float64frombits(math.Float64bits(b) | quiet64)
	}
	return math.Float64frombits(defNaN64)
}

func add32(a, b float32) float32 {
	r := a + b
	if r != r {
		return nan32(a, b)
	}
	return r
}

func mul32(a, b float32) float32 {
	r := a * b
	if r != r {
		return nan32(a, b)
	}
	return r
}

func min32(a, b float32) float32 {
	switch {
	case a < b:
		return a
	case b < a:
		return b
	case a == b: // equal values have equal bits, except -0 and +0: OR keeps the minus
		return math.Float32frombits(math.Float32bits(a) | math.Float32bits(b))
	}
	return nan32(a, b)
}

func max32(a, b float32) float32 {
	switch {
	case a > b:
		return a
	case b > a:
		return b
	case a == b: // AND keeps +0 over -0
		return math.Float32frombits(math.Float32bits(a) & math.Float32bits(b))
	}
	return nan32(a, b)
}

func div32(a, n float32) float32 {
	r := a / n
	if r != r {
		return nan32(a, n)
	}
	return r
}

func add64(a, b float64) float64 {
	r := a + b
	if r != r {
		return nan64(a, b)
	}
	return r
}

func mul64(a, b float64) float64 {
	r := a * b
	if r != r {
		return nan64(a, b)
	}
	return r
}

func min64(a, b float64) float64 {
	switch {
	case a < b:
		return a
	case b < a:
		return b
	case a == b:
		return math.Float64frombits(math.Float64bits(a) | math.Float64bits(b))
	}
	return nan64(a, b)
}

func max64(a, b float64) float64 {
	switch {
	case a > b:
		return a
	case b > a:
		return b
	case a == b:
		return math.Float64frombits(math.Float64bits(a) & math.Float64bits(b))
	}
	return nan64(a, b)
}

func div64(a, n float64) float64 {
	r := a / n
	if r != r {
		return nan64(a, n)
	}
	return r
}
