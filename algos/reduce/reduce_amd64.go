//go:build amd64 && !purego

package reduce

import "unsafe"

// CPU features, read once with CPUID and XGETBV (the OS must save the YMM/ZMM state too).
var (
	hasAVX2, hasF16C, hasAVX512F, hasAVX512DQ, hasAVX512BW = cpuFeatures()

	// useAVX2 and useAVX512 select the vector loops; tests turn them off to compare the paths.
	useAVX2   = hasAVX2
	useAVX512 = hasAVX512F && hasAVX2
)

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

func xgetbv0() (lo uint32)

func cpuFeatures() (avx2, f16c, avx512f, avx512dq, avx512bw bool) {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return
	}
	_, _, c1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if c1&osxsave == 0 || c1&avx == 0 {
		return
	}
	xcr0 := xgetbv0()
	const ymmState, zmmState = 0x6, 0xe6 // XMM|YMM; plus opmask, ZMM_Hi256, Hi16_ZMM
	if xcr0&ymmState != ymmState {
		return
	}
	_, b7, _, _ := cpuid(7, 0)
	avx2 = b7&(1<<5) != 0
	f16c = c1&(1<<29) != 0
	if xcr0&zmmState == zmmState {
		avx512f = b7&(1<<16) != 0
		avx512dq = avx512f && b7&(1<<17) != 0
		avx512bw = avx512f && b7&(1<<30) != 0
	}
	return
}

// chunk is the most bytes one call of a vector loop handles (a multiple of 64).
const chunk = 256 << 10

// zOK and yOK say which (dtype, op) pairs have an AVX-512 or AVX2 loop on this CPU (Avg is
// looked up as Sum).
var zOK, yOK = kernelTables()

func kernelTables() (z, y [Float64 + 1][Max + 1]bool) {
	for _, op := range []Op{Sum, Prod, Min, Max} {
		for _, d := range []DType{Int32, Uint32, Float32, Float64} {
			y[d][op] = true
			z[d][op] = true
		}
		for _, d := range []DType{Int64, Uint64} {
			z[d][op] = op != Prod || hasAVX512DQ
		}
		for _, d := range []DType{Int8, Uint8} {
			y[d][op] = op != Prod
			z[d][op] = op != Prod && hasAVX512BW
		}
		y[Float16][op] = hasF16C
		z[Float16][op] = true
		y[BFloat16][op] = true
		z[BFloat16][op] = true
	}
	y[Int64][Sum], y[Uint64][Sum] = true, true
	return z, y
}

// reduceAccel does Reduce with a vector loop when there is one for (d, op) on this CPU and the
// slices are long enough; it reports whether it did.
func reduceAccel(d DType, op Op, dst, src []byte) bool {
	if op == Avg {
		op = Sum
	}
	var vec int
	switch {
	case useAVX512 && zOK[d][op]:
		vec = 64
	case useAVX2 && yOK[d][op]:
		vec = 32
	default:
		return false
	}
	if len(dst) < 2*vec {
		return false
	}
	// Align dst to the vector size when the elements are aligned, so that no store splits a
	// cache line. The Go kernels do the head and the tail, bit for bit like the loop.
	head := 0
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(dst))); p%uintptr(d.Size()) == 0 {
		head = int(-p & uintptr(vec-1))
	}
	body := (len(dst) - head) &^ (vec - 1)
	if head > 0 {
		reduceGo(d, op, dst[:head], src[:head])
	}
	// Run the loop in pieces: an assembly loop cannot be preempted, and a piece takes tens of
	// microseconds.
	for off := head; off < head+body; off += chunk {
		p, q, n := unsafe.Pointer(&dst[off]), unsafe.Pointer(&src[off]), min(chunk, head+body-off)
		if vec == 64 {
			loopZ(d, op, p, q, n)
		} else {
			loopY(d, op, p, q, n)
		}
	}
	if end := head + body; end < len(dst) {
		reduceGo(d, op, dst[end:], src[end:])
	}
	return true
}

// divideAccel does Divide with a vector loop for float32 and float64, and for float16 and
// bfloat16 when n is exact in the half type (n <= 2048 for float16, n <= 256 for bfloat16, and
// such numbers times powers of two); it reports whether it did. In the half case the quotient
// of two half numbers computed in float32 and rounded to the half type is correctly rounded
// (the theorem cited at reduceF16), the same bits as divOdd gives.
func divideAccel(d DType, buf []byte, n int) bool {
	if !useAVX2 {
		return false
	}
	f := float32(n)
	switch d {
	case Float32, Float64:
	case Float16:
		if !hasF16C && !useAVX512 || Float16From(f).Float32() != f || float64(f) != float64(n) {
			return false
		}
	case BFloat16:
		if BFloat16From(f).Float32() != f || float64(f) != float64(n) {
			return false
		}
	default:
		return false
	}
	vec := 32
	if useAVX512 {
		vec = 64
	}
	if len(buf) < 2*vec {
		return false
	}
	head := 0
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(buf))); p%uintptr(d.Size()) == 0 {
		head = int(-p & uintptr(vec-1))
	}
	body := (len(buf) - head) &^ (vec - 1)
	if head > 0 {
		divideGo(d, buf[:head], n)
	}
	z := vec == 64
	for off := head; off < head+body; off += chunk {
		p, m := unsafe.Pointer(&buf[off]), min(chunk, head+body-off)
		switch {
		case d == Float32 && z:
			divF32Z(p, m, f)
		case d == Float32:
			divF32Y(p, m, f)
		case d == Float64 && z:
			divF64Z(p, m, float64(n))
		case d == Float64:
			divF64Y(p, m, float64(n))
		case d == Float16 && z:
			divF16Z(p, m, f)
		case d == Float16:
			divF16Y(p, m, f)
		case d == BFloat16 && z:
			divBF16Z(p, m, f)
		default:
			divBF16Y(p, m, f)
		}
	}
	if end := head + body; end < len(buf) {
		divideGo(d, buf[end:], n)
	}
	return true
}

// loopZ runs the AVX-512 loop of (d, op) over n bytes; zOK[d][op] must be true.
func loopZ(d DType, op Op, p, q unsafe.Pointer, n int) {
	switch d {
	case Float32:
		switch op {
		case Sum:
			addF32Z(p, q, n)
		case Prod:
			mulF32Z(p, q, n)
		case Min:
			minF32Z(p, q, n)
		case Max:
			maxF32Z(p, q, n)
		}
	case Float64:
		switch op {
		case Sum:
			addF64Z(p, q, n)
		case Prod:
			mulF64Z(p, q, n)
		case Min:
			minF64Z(p, q, n)
		case Max:
			maxF64Z(p, q, n)
		}
	case Float16:
		switch op {
		case Sum:
			addF16Z(p, q, n)
		case Prod:
			mulF16Z(p, q, n)
		case Min:
			minF16Z(p, q, n)
		case Max:
			maxF16Z(p, q, n)
		}
	case BFloat16:
		switch op {
		case Sum:
			addBF16Z(p, q, n)
		case Prod:
			mulBF16Z(p, q, n)
		case Min:
			minBF16Z(p, q, n)
		case Max:
			maxBF16Z(p, q, n)
		}
	case Int32, Uint32:
		switch {
		case op == Sum:
			addI32Z(p, q, n)
		case op == Prod:
			mulI32Z(p, q, n)
		case op == Min && d == Int32:
			minI32Z(p, q, n)
		case op == Max && d == Int32:
			maxI32Z(p, q, n)
		case op == Min:
			minU32Z(p, q, n)
		case op == Max:
			maxU32Z(p, q, n)
		}
	case Int64, Uint64:
		switch {
		case op == Sum:
			addI64Z(p, q, n)
		case op == Prod:
			mulI64Z(p, q, n)
		case op == Min && d == Int64:
			minI64Z(p, q, n)
		case op == Max && d == Int64:
			maxI64Z(p, q, n)
		case op == Min:
			minU64Z(p, q, n)
		case op == Max:
			maxU64Z(p, q, n)
		}
	case Int8, Uint8:
		switch {
		case op == Sum:
			addI8Z(p, q, n)
		case op == Min && d == Int8:
			minI8Z(p, q, n)
		case op == Max && d == Int8:
			maxI8Z(p, q, n)
		case op == Min:
			minU8Z(p, q, n)
		case op == Max:
			maxU8Z(p, q, n)
		}
	}
}

// loopY runs the AVX2 loop of (d, op) over n bytes; yOK[d][op] must be true.
func loopY(d DType, op Op, p, q unsafe.Pointer, n int) {
	switch d {
	case Float32:
		switch op {
		case Sum:
			addF32Y(p, q, n)
		case Prod:
			mulF32Y(p, q, n)
		case Min:
			minF32Y(p, q, n)
		case Max:
			maxF32Y(p, q, n)
		}
	case Float64:
		switch op {
		case Sum:
			addF64Y(p, q, n)
		case Prod:
			mulF64Y(p, q, n)
		case Min:
			minF64Y(p, q, n)
		case Max:
			maxF64Y(p, q, n)
		}
	case Float16:
		switch op {
		case Sum:
			addF16Y(p, q, n)
		case Prod:
			mulF16Y(p, q, n)
		case Min:
			minF16Y(p, q, n)
		case Max:
			maxF16Y(p, q, n)
		}
	case BFloat16:
		switch op {
		case Sum:
			addBF16Y(p, q, n)
		case Prod:
			mulBF16Y(p, q, n)
		case Min:
			minBF16Y(p, q, n)
		case Max:
			maxBF16Y(p, q, n)
		}
	case Int32, Uint32:
		switch {
		case op == Sum:
			addI32Y(p, q, n)
		case op == Prod:
			mulI32Y(p, q, n)
		case op == Min && d == Int32:
			minI32Y(p, q, n)
		case op == Max && d == Int32:
			maxI32Y(p, q, n)
		case op == Min:
			minU32Y(p, q, n)
		case op == Max:
			maxU32Y(p, q, n)
		}
	case Int64, Uint64:
		addI64Y(p, q, n)
	case Int8, Uint8:
		switch {
		case op == Sum:
			addI8Y(p, q, n)
		case op == Min && d == Int8:
			minI8Y(p, q, n)
		case op == Max && d == Int8:
			maxI8Y(p, q, n)
		case op == Min:
			minU8Y(p, q, n)
		case op == Max:
			maxU8Y(p, q, n)
		}
	}
}
