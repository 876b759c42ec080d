package reduce

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReduceMatrix checks every dtype × op on every code path against the element references,
// for every length up to 70 and some longer ones, at byte offsets 0..7 of dst and src (the
// same offset, and different ones), on random data with NaNs, infinities, zeros and
// subnormals.
func TestReduceMatrix(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, path := range accelPaths() {
		for _, d := range DTypes() {
			for _, op := range Ops() {
				withPath(path, func() {
					for _, n := range testLengths() {
						for off := range 8 {
							if n > 200 && off%3 != 1 {
								continue // long: offsets 1, 4 and 7 are enough
							}
							srcOff := off
							if n%3 == 0 {
								srcOff = (off + n) % 8 // src and dst misaligned differently
							}
							dst := randBuf(r, d, n, off)
							src := randBuf(r, d, n, srcOff)
							want := refReduce(d, op, dst, src)
							Reduce(d, op, dst, src)
							requireSameBits(t, d, want, dst, "%s %v %v n=%d off=%d/%d", path, d, op, n, off, srcOff)
						}
					}
				})
			}
		}
	}
}

// TestReducePathsAgree checks that every code path returns the same bits as the portable Go
// kernels (the fallback of other CPUs and architectures), at every alignment.
func TestReducePathsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, d := range DTypes() {
		for _, op := range Ops() {
			for _, n := range []int{5, 17, 64, 100, 333, 1000, 4097} {
				for off := range 8 {
					dst := randBuf(r, d, n, off)
					src := randBuf(r, d, n, 7-off)
					want := append([]byte(nil), dst...)
					reduceGo(d, op, want, src)
					for _, path := range accelPaths() {
						got := placed(dst, off)
						withPath(path, func() { Reduce(d, op, got, src) })
						requireSameBits(t, d, want, got, "%s %v %v n=%d off=%d", path, d, op, n, off)
					}
					got := placed(dst, off)
					reduceScratch(d, op, got, src)
					requireSameBits(t, d, want, got, "scratch %v %v n=%d off=%d", d, op, n, off)
				}
			}
		}
	}
}

// TestReduceExactFloats compares float results with float64 arithmetic on small integers,
// where every result is exact in every float type.
func TestReduceExactFloats(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, d := range []DType{Float16, BFloat16, Float32, Float64} {
		for _, op := range Ops() {
			for _, path := range accelPaths() {
				n := 300
				a, b := make([]float64, n), make([]float64, n)
				dst, src := make([]byte, n*d.Size()), make([]byte, n*d.Size())
				for i := range n {
					a[i], b[i] = float64(r.IntN(31)-15), float64(r.IntN(31)-15) // |a*b| <= 225 < 256
					putBits(d, dst, i, floatBits(d, a[i]))
					putBits(d, src, i, floatBits(d, b[i]))
				}
				withPath(path, func() { Reduce(d, op, dst, src) })
				for i := range n {
					var want float64
					switch op {
					case Sum, Avg:
						want = a[i] + b[i]
					case Prod:
						want = a[i] * b[i]
					case Min:
						want = math.Min(a[i], b[i])
					case Max:
						want = math.Max(a[i], b[i])
					}
					got := floatValue(d, getBits(d, dst, i))
					require.Equal(t, want, got, "%s %v %v: %v op %v", path, d, op, a[i], b[i])
				}
			}
		}
	}
}

// TestReduceIntegersWrap checks that integer Sum and Prod wrap like Go arithmetic.
func TestReduceIntegersWrap(t *testing.T) {
	dst := []byte{127, 200, 0x80}
	Reduce(Int8, Sum, dst, []byte{1, 100, 0x80})
	require.Equal(t, []byte{0x80, 44, 0}, dst)

	d64, s64 := make([]byte, 8*70), make([]byte, 8*70)
	for i := range 70 {
		ne.PutUint64(d64[8*i:], math.MaxInt64)
		ne.PutUint64(s64[8*i:], 3)
	}
	Reduce(Int64, Prod, d64, s64)
	big := int64(math.MaxInt64)
	for i := range 70 {
		require.Equal(t, big*3, int64(ne.Uint64(d64[8*i:])), "element %d", i)
	}
	Reduce(Uint64, Sum, d64, d64)
	require.Equal(t, uint64(big*3)*2, ne.Uint64(d64[8:]))
}

// TestReduceMinMaxSpecials pins the documented float rules: NaN wins (with its payload), -0 is
// below +0 whatever the order, and the NaN of Inf-Inf is the negative default NaN.
func TestReduceMinMaxSpecials(t *testing.T) {
	negZero := math.Float32frombits(0x80000000)
	nanA := math.Float32frombits(0x7fa00001) // signaling, payload 0x200001
	nanB := math.Float32frombits(0xffc00abc) // quiet, negative
	inf := float32(math.Inf(1))
	cases := []struct {
		op   Op
		a, b float32
		want uint32
	}{
		{Min, 0, negZero, 0x80000000},
		{Min, negZero, 0, 0x80000000},
		{Max, 0, negZero, 0},
		{Max, negZero, 0, 0},
		{Min, 1, nanA, 0x7fe00001},
		{Min, nanA, 1, 0x7fe00001},
		{Max, nanA, nanB, 0x7fe00001},
		{Max, nanB, nanA, 0xffc00abc},
		{Sum, 1, nanB, 0xffc00abc},
		{Sum, nanA, nanB, 0x7fe00001},
		{Sum, inf, -inf, 0xffc00000},
		{Prod, 0, inf, 0xffc00000},
		{Min, -inf, nanA, 0x7fe00001},
		{Max, inf, 3, 0x7f800000},
	}
	for _, path := range accelPaths() {
		for _, c := range cases {
			// Long enough (100 elements) for the vector loops, with the case in every lane.
			dst, src := make([]byte, 400), make([]byte, 400)
			for i := range 100 {
				ne.PutUint32(dst[4*i:], math.Float32bits(c.a))
				ne.PutUint32(src[4*i:], math.Float32bits(c.b))
			}
			withPath(path, func() { Reduce(Float32, c.op, dst, src) })
			for i := range 100 {
				require.Equal(t, c.want, ne.Uint32(dst[4*i:]), "%s %v(%v, %v) element %d", path, c.op, c.a, c.b, i)
			}
			// The same in float64: the bits widen exactly.
			d64, s64 := make([]byte, 800), make([]byte, 800)
			for i := range 100 {
				ne.PutUint64(d64[8*i:], widenBits(math.Float32bits(c.a)))
				ne.PutUint64(s64[8*i:], widenBits(math.Float32bits(c.b)))
			}
			withPath(path, func() { Reduce(Float64, c.op, d64, s64) })
			for i := range 100 {
				require.Equal(t, widenBits(c.want), ne.Uint64(d64[8*i:]), "%s f64 %v(%v, %v) element %d", path, c.op, c.a, c.b, i)
			}
		}
	}
}

// widenBits converts float32 bits to float64 bits, keeping NaN payloads (and signaling bits).
func widenBits(b uint32) uint64 {
	if isNaN32(b) {
		return uint64(b>>31)<<63 | 0x7ff0000000000000 | uint64(b&0x7fffff)<<29
	}
	return math.Float64bits(float64(math.Float32frombits(b)))
}

// TestReduceInPlace checks that dst and src may be the same slice.
func TestReduceInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, d := range DTypes() {
		b := randBuf(r, d, 200, 0)
		want := refReduce(d, Sum, b, b)
		Reduce(d, Sum, b, b)
		requireSameBits(t, d, want, b, "%v", d)
	}
}

func TestReducePanics(t *testing.T) {
	require.Panics(t, func() { Reduce(Float32, Sum, make([]byte, 8), make([]byte, 4)) })
	require.Panics(t, func() { Reduce(Float32, Sum, make([]byte, 6), make([]byte, 6)) })
	require.Panics(t, func() { Reduce(Int64, Max, make([]byte, 12), make([]byte, 12)) })
	require.Panics(t, func() { Reduce(0, Sum, make([]byte, 4), make([]byte, 4)) })
	require.Panics(t, func() { Reduce(Float64+1, Sum, nil, nil) })
	require.Panics(t, func() { Reduce(Float32, 0, make([]byte, 4), make([]byte, 4)) })
	require.Panics(t, func() { Reduce(Float32, Avg+1, nil, nil) })
	require.Panics(t, func() { Divide(Float32, make([]byte, 4), 0) })
	require.Panics(t, func() { Divide(Float32, make([]byte, 5), 2) })
	require.Panics(t, func() { Divide(0, nil, 2) })
	require.NotPanics(t, func() { Reduce(Float32, Sum, nil, []byte{}) })
	require.NotPanics(t, func() { Divide(Float16, nil, 3) })
}

// TestReduceNoAllocs checks that Reduce and Divide allocate nothing, on every path and for
// unaligned slices, including the scratch path of strict-alignment CPUs.
func TestReduceNoAllocs(t *testing.T) {
	big := make([]byte, 3*8192+16)
	dst, src := big[1:8193], big[8200:8200+8192]
	for _, path := range accelPaths() {
		withPath(path, func() {
			for _, d := range DTypes() {
				for _, op := range Ops() {
					n := testing.AllocsPerRun(10, func() { Reduce(d, op, dst, src) })
					require.Zero(t, n, "%s Reduce %v %v", path, d, op)
				}
				n := testing.AllocsPerRun(10, func() { Divide(d, dst, 3) })
				require.Zero(t, n, "%s Divide %v", path, d)
			}
		})
	}
	n := testing.AllocsPerRun(10, func() { reduceScratch(Float32, Sum, dst, src) })
	require.Zero(t, n, "reduceScratch")
	n = testing.AllocsPerRun(10, func() { divideScratch(Float64, dst, 3) })
	require.Zero(t, n, "divideScratch")
}

// TestReduceLong checks buffers of several hundred KiB, which the vector loops take in pieces,
// against the portable kernels, for Reduce and Divide.
func TestReduceLong(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, d := range DTypes() {
		n := (300<<10)/d.Size() + 13 // more than one piece of 256 KiB
		for _, op := range Ops() {
			dst, src := randBuf(r, d, n, 3), randBuf(r, d, n, 0)
			want := append([]byte(nil), dst...)
			reduceGo(d, op, want, src)
			for _, path := range accelPaths()[:len(accelPaths())-1] { // "go" is the reference
				got := placed(dst, 3)
				withPath(path, func() { Reduce(d, op, got, src) })
				requireSameBits(t, d, want, got, "%s %v %v", path, d, op)
			}
		}
		buf := randBuf(r, d, n, 2)
		want := append([]byte(nil), buf...)
		divideGo(d, want, 5)
		for _, path := range accelPaths()[:len(accelPaths())-1] {
			got := placed(buf, 2)
			withPath(path, func() { Divide(d, got, 5) })
			requireSameBits(t, d, want, got, "%s Divide %v", path, d)
		}
	}
}
