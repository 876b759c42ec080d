package reduce

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// halfValue is the value of binary16 bits h (not NaN), from the definition: a subnormal is
// frac·2^-24, a normal (1024+frac)·2^(exp-25). For h = 0x7c00 it gives 65536, the value that
// rounding "to even" past the largest finite number (65504) treats as the next one: Inf.
func halfValue(h uint16) float64 {
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	v := math.Ldexp(frac, -24)
	if exp != 0 {
		v = math.Ldexp(1024+frac, exp-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// bhalfValue is halfValue for bfloat16: frac·2^-133, or (128+frac)·2^(exp-134); 0x7f80 gives
// 2^128.
func bhalfValue(h uint16) float64 {
	exp, frac := int(h>>7&0xff), float64(h&0x7f)
	v := math.Ldexp(frac, -133)
	if exp != 0 {
		v = math.Ldexp(128+frac, exp-134)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// valueTables holds value(0..top) for the two half types, for roundRef.
var valueTables = map[uint16]func() []float64{
	0x7c00: sync.OnceValue(func() []float64 { return valueTable(0x7c00, halfValue) }),
	0x7f80: sync.OnceValue(func() []float64 { return valueTable(0x7f80, bhalfValue) }),
}

func valueTable(top uint16, value func(uint16) float64) []float64 {
	t := make([]float64, int(top)+1)
	for i := range t {
		t[i] = value(uint16(i))
	}
	return t
}

// roundRef rounds x (finite, not NaN) to the nearest of the numbers value(0..top), ties to the
// even bit pattern, with the sign of x; top is the bits of the first value past the largest
// finite one (Inf), 0x7c00 or 0x7f80, and value is halfValue or bhalfValue. It is an
// independent reference for Float16From and BFloat16From, exact for any float64 x.
func roundRef(x float64, top uint16, value func(uint16) float64) uint16 {
	tbl := valueTables[top]()
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if x >= tbl[top] {
		return sign | top
	}
	// The largest lo with value(lo) <= x.
	lo := uint16(sort.Search(len(tbl), func(i int) bool { return tbl[i] > x }) - 1)
	hi := lo + 1
	dl, dh := x-value(lo), value(hi)-x // exact for the inputs of these tests (spans < 53 bits)
	switch {
	case dl < dh:
		return sign | lo
	case dh < dl:
		return sign | hi
	case lo&1 == 0:
		return sign | lo
	}
	return sign | hi
}

func TestHalfToFloat32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := Half(i)
		f := h.Float32()
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			// NaN: sign and payload move up unchanged.
			require.Equal(t, uint32(h&0x8000)<<16|0x7f800000|uint32(h&0x3ff)<<13, math.Float32bits(f), "%#04x", i)
			require.Equal(t, Half(i|0x200), Float16From(f), "%#04x quieted", i)
			continue
		}
		if h&0x7fff != 0x7c00 { // Inf: checked below
			require.Equal(t, math.Float64bits(halfValue(uint16(i))), math.Float64bits(float64(f)), "%#04x", i)
		}
		require.Equal(t, h, Float16From(f), "round trip %#04x", i)
	}
	require.True(t, math.IsInf(float64(Half(0x7c00).Float32()), 1))
	require.True(t, math.IsInf(float64(Half(0xfc00).Float32()), -1))
}

func TestBHalfToFloat32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		b := BHalf(i)
		f := b.Float32()
		require.Equal(t, uint32(i)<<16, math.Float32bits(f), "%#04x", i)
		if b&0x7f80 == 0x7f80 && b&0x7f != 0 {
			require.Equal(t, BHalf(i|0x40), BFloat16From(f), "%#04x quieted", i)
			continue
		}
		if b&0x7f80 != 0x7f80 {
			require.Equal(t, bhalfValue(uint16(i)), float64(f), "%#04x", i)
		}
		require.Equal(t, b, BFloat16From(f), "round trip %#04x", i)
	}
}

// halfTestInputs returns float32 inputs that stress rounding: every midpoint between
// neighbouring half values (ties), the float32 numbers just around them, values around the
// overflow threshold and the subnormal range, and random bit patterns.
func halfTestInputs(r *rand.Rand, top uint16, value func(uint16) float64) []float32 {
	var in []float32
	for h := uint16(0); h < top; h++ {
		mid := float32((value(h) + value(h+1)) / 2) // exact: one more bit than the half type
		in = append(in, mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1))),
			float32(value(h)), math.Nextafter32(float32(value(h)), 0))
	}
	for range 200000 {
		in = append(in, math.Float32frombits(r.Uint32()))
	}
	for range 20000 { // small magnitudes, where binary16 is subnormal or underflows
		in = append(in, math.Float32frombits(uint32(r.IntN(0x38800000))))
	}
	var all []float32
	for _, f := range in {
		all = append(all, f, -f)
	}
	return all
}

func TestFloat16FromRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, f := range halfTestInputs(r, 0x7c00, halfValue) {
		if f != f {
			continue
		}
		if got, want := Float16From(f), Half(roundRef(float64(f), 0x7c00, halfValue)); got != want {
			t.Fatalf("Float16From(%g) (bits %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

func TestBFloat16FromRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, f := range halfTestInputs(r, 0x7f80, bhalfValue) {
		if f != f {
			continue
		}
		if got, want := BFloat16From(f), BHalf(roundRef(float64(f), 0x7f80, bhalfValue)); got != want {
			t.Fatalf("BFloat16From(%g) (bits %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

func TestHalfConversionEdges(t *testing.T) {
	// Ties go to even.
	require.Equal(t, Half(0x3c00), Float16From(1+1.0/2048))      // 1 + half an ulp: stays 1
	require.Equal(t, Half(0x3c02), Float16From(1+3.0/2048))      // 1 + 1.5 ulp: up to even
	require.Equal(t, Half(0x3c01), Float16From(1+1.0/2048+1e-6)) // just above the tie
	// Overflow: 65504 is the largest; 65520 (the midpoint to 65536) rounds to Inf.
	require.Equal(t, Half(0x7bff), Float16From(65504))
	require.Equal(t, Half(0x7bff), Float16From(65519.99))
	require.Equal(t, Half(0x7c00), Float16From(65520))
	require.Equal(t, Half(0xfc00), Float16From(-1e30))
	require.Equal(t, Half(0x7c00), Float16From(float32(math.Inf(1))))
	// Subnormals: 2^-24 is the smallest; half of it is a tie to 0, a bit more rounds up.
	require.Equal(t, Half(0x0001), Float16From(0x1p-24))
	require.Equal(t, Half(0x0000), Float16From(0x1p-25))
	require.Equal(t, Half(0x0001), Float16From(0x1.000002p-25))
	require.Equal(t, Half(0x8000), Float16From(-0x1p-26))
	require.Equal(t, Half(0x0002), Float16From(0x1.8p-24))   // 1.5 units: tie to even 2
	require.Equal(t, Half(0x0400), Float16From(0x1p-14))     // smallest normal
	require.Equal(t, Half(0x0400), Float16From(0x1.ffcp-15)) // largest subnormal + half ulp: tie to even, up
	require.Equal(t, Half(0x8000), Float16From(float32(math.Copysign(0, -1))))
	// NaN stays NaN, quiet, with its sign.
	nan := Float16From(math.Float32frombits(0xff800001))
	require.Equal(t, Half(0xfe00), nan)
	require.Equal(t, Half(0x7e00), Float16From(float32(math.NaN())))

	require.Equal(t, BHalf(0x3f80), BFloat16From(1+1.0/256)) // tie: stays 1
	require.Equal(t, BHalf(0x3f82), BFloat16From(1+3.0/256)) // tie: up to even
	require.Equal(t, BHalf(0x7f80), BFloat16From(math.MaxFloat32))
	require.Equal(t, BHalf(0x7f7f), BFloat16From(0x1.fefffep127))
	require.Equal(t, BHalf(0x0001), BFloat16From(0x1p-133)) // subnormal kept
	require.Equal(t, BHalf(0x7fc1), BFloat16From(math.Float32frombits(0x7f810000)))
	require.Equal(t, BHalf(0xffc0), BFloat16From(math.Float32frombits(0xff800001)))
}

// TestHalfOpsCorrectlyRounded checks that Sum and Prod of two halves, computed through float32,
// equal the exact result (exact in float64) rounded once to the half type, and equal
// round(float32(a) op float32(b)). This is Figueroa's double-rounding theorem at work. (The
// float64 reference is exact except for bfloat16 sums of very different magnitudes, where
// float64's own rounding cannot move the sum across a bfloat16 midpoint.)
func TestHalfOpsCorrectlyRounded(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range []struct {
		d     DType
		top   uint16
		value func(uint16) float64
	}{{Float16, 0x7c00, halfValue}, {BFloat16, 0x7f80, bhalfValue}} {
		const n = 4096
		for _, op := range []Op{Sum, Prod} {
			for range 20 {
				dst, src := make([]byte, 2*n), make([]byte, 2*n)
				for i := range n {
					a, b := r.Uint32N(1<<16), r.Uint32N(1<<16)
					if i%2 == 0 { // nearby magnitudes: many cancellations and ties
						b = a ^ r.Uint32N(1<<6) ^ 0x8000*r.Uint32N(2)
					}
					ne.PutUint16(dst[2*i:], uint16(a))
					ne.PutUint16(src[2*i:], uint16(b))
				}
				orig := append([]byte(nil), dst...)
				Reduce(c.d, op, dst, src)
				for i := range n {
					a, b := ne.Uint16(orig[2*i:]), ne.Uint16(src[2*i:])
					if a&0x7fff >= c.top || b&0x7fff >= c.top {
						continue // Inf and NaN: covered by the matrix test
					}
					x, y := c.value(a), c.value(b)
					exact := x + y
					f32 := float32(x) + float32(y)
					if op == Prod {
						exact, f32 = x*y, float32(x)*float32(y)
					}
					got := ne.Uint16(dst[2*i:])
					if exact == 0 { // the sign of a zero follows IEEE, which float64 computes
						require.Equal(t, math.Signbit(exact), got&0x8000 != 0, "%v %v %#04x %#04x", c.d, op, a, b)
						continue
					}
					if want := roundRef(exact, c.top, c.value); got != want {
						t.Fatalf("%v %v %#04x %#04x = %#04x, want %#04x (exact %g)", c.d, op, a, b, got, want, exact)
					}
					viaF32 := uint16(BFloat16From(f32))
					if c.d == Float16 {
						viaF32 = uint16(Float16From(f32))
					}
					if got != viaF32 {
						t.Fatalf("%v %v %#04x %#04x = %#04x, want round(float32 result) %#04x", c.d, op, a, b, got, viaF32)
					}
				}
			}
		}
	}
}
