package reduce

import (
	"fmt"
	"runtime"
	"unsafe"
)

// unalignedOK reports whether this architecture loads and stores words at any byte address, so
// that the kernels may view unaligned bytes as typed slices. Elsewhere unaligned slices go
// through an aligned scratch buffer.
const unalignedOK = runtime.GOARCH == "amd64" || runtime.GOARCH == "386" ||
	runtime.GOARCH == "arm64" || runtime.GOARCH == "ppc64le" || runtime.GOARCH == "ppc64" ||
	runtime.GOARCH == "s390x" || runtime.GOARCH == "wasm" || runtime.GOARCH == "loong64"

// Reduce computes dst[i] = dst[i] op src[i] for every element of type d stored in dst and src
// (native byte order). Avg reduces as Sum; the caller divides at the end with Divide.
//
// Integers wrap on overflow, as in Go. Floats follow IEEE 754 with round to nearest even; Min
// and Max return a NaN if either input is a NaN, and order -0 below +0 (Min(-0, +0) = -0,
// Max(-0, +0) = +0, in either order). A NaN result is a quieted copy of the dst element if it is
// a NaN, else of the src element, else the negative default NaN. Float16 and BFloat16 elements
// are widened to float32, combined, and rounded back to nearest even; for Sum and Prod that is
// the correctly rounded result, because float32's 24 bits are at least 2p+2 for both half
// types (p = 11 and 8) and such a double rounding is innocuous (S. A. Figueroa, "When is
// double rounding innocuous?", ACM SIGNUM Newsletter 30(3), 1995).
//
// The result is bitwise the same on every code path (vector or scalar), for any alignment of
// dst and src, which may be unaligned. dst and src may be the same slice but must not otherwise
// overlap. Reduce does not allocate.
//
// Reduce panics if d or op is not valid, if len(dst) != len(src), or if the length is not a
// multiple of d.Size(): callers check those.
func Reduce(d DType, op Op, dst, src []byte) {
	if !d.Valid() || !op.Valid() || len(dst) != len(src) || len(dst)%d.Size() != 0 {
		badReduce(d, op, len(dst), len(src))
	}
	if len(dst) == 0 {
		return
	}
	if !unalignedOK && misaligned(d, dst, src) {
		reduceScratch(d, op, dst, src)
		return
	}
	if reduceAccel(d, op, dst, src) {
		return
	}
	reduceGo(d, op, dst, src)
}

// Divide divides every element of type d in buf by n, to finish an Avg. float32 and float64
// use IEEE division by float32(n) or float64(n) (n is exact in them up to 2^24 and 2^53).
// float16 and bfloat16 are widened and divided so that the result is the correctly rounded
// quotient (to nearest even) for every n < 2^30: see divOdd. Integers use Go's truncating
// division in 64 bits, so an n beyond the type's range gives 0 (or -1 for -128/128 in int8).
// A NaN element stays a NaN, quieted; n = 1 leaves buf as it is. Divide does not allocate.
//
// Divide panics if d is not valid, if len(buf) is not a multiple of d.Size(), or if n < 1.
func Divide(d DType, buf []byte, n int) {
	if !d.Valid() || len(buf)%d.Size() != 0 || n < 1 {
		badDivide(d, len(buf), n)
	}
	if len(buf) == 0 || n == 1 {
		return
	}
	if !unalignedOK && misaligned(d, buf, buf) {
		divideScratch(d, buf, n)
		return
	}
	if divideAccel(d, buf, n) {
		return
	}
	divideGo(d, buf, n)
}

func badReduce(d DType, op Op, ndst, nsrc int) {
	panic(fmt.Sprintf("reduce: Reduce(%v, %v) with %d bytes of dst and %d of src", d, op, ndst, nsrc))
}

func badDivide(d DType, nbuf, n int) {
	panic(fmt.Sprintf("reduce: Divide(%v) of %d bytes by %d", d, nbuf, n))
}

func misaligned(d DType, a, b []byte) bool {
	m := uintptr(d.Size() - 1)
	return (uintptr(unsafe.Pointer(unsafe.SliceData(a)))|uintptr(unsafe.Pointer(unsafe.SliceData(b))))&m != 0
}

// scratchSize is the size of the aligned buffers of reduceScratch and divideScratch, a multiple
// of every element size.
const scratchSize = 512

// reduceScratch is Reduce for unaligned slices on CPUs that fault on unaligned words: it copies
// pieces into aligned buffers on the stack, reduces them there and copies the result back.
func reduceScratch(d DType, op Op, dst, src []byte) {
	var a, b [scratchSize / 8]uint64
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a)), scratchSize)
	bb := unsafe.Slice((*byte)(unsafe.Pointer(&b)), scratchSize)
	for len(dst) > 0 {
		n := copy(ab, dst)
		copy(bb, src[:n])
		reduceGo(d, op, ab[:n], bb[:n])
		copy(dst, ab[:n])
		dst, src = dst[n:], src[n:]
	}
}

// divideScratch is Divide for an unaligned buf on CPUs that fault on unaligned words.
func divideScratch(d DType, buf []byte, n int) {
	var a [scratchSize / 8]uint64
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a)), scratchSize)
	for len(buf) > 0 {
		k := copy(ab, buf)
		divideGo(d, ab[:k], n)
		copy(buf, ab[:k])
		buf = buf[k:]
	}
}
