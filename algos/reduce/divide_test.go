package reduce

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

var divisors = []int{1, 2, 3, 5, 7, 8, 16, 100, 127, 128, 129, 200, 255, 256, 1000, 1 << 20}

// refDivElem returns the bits of element v of type d divided by n (n = 1 changes nothing).
func refDivElem(d DType, v uint64, n int) uint64 {
	if n == 1 {
		return v
	}
	div32 := func(b uint32) uint32 {
		if isNaN32(b) {
			return b | 1<<22
		}
		return math.Float32bits(math.Float32frombits(b) / float32(n))
	}
	switch d {
	case Int8:
		return uint64(uint8(int64(int8(v)) / int64(n)))
	case Uint8:
		return uint64(uint8(v)) / uint64(n)
	case Int32:
		return uint64(uint32(int64(int32(v)) / int64(n)))
	case Uint32:
		return uint64(uint32(v)) / uint64(n)
	case Int64:
		return uint64(int64(v) / int64(n))
	case Uint64:
		return v / uint64(n)
	case Float16:
		if h := Half(v); h&0x7fff > 0x7c00 {
			return v | 0x200
		} else if h&0x7fff == 0x7c00 {
			return v
		}
		return uint64(roundRef(halfValue(uint16(v))/float64(n), 0x7c00, halfValue))
	case BFloat16:
		if b := BHalf(v); b&0x7fff > 0x7f80 {
			return v | 0x40
		} else if b&0x7fff == 0x7f80 {
			return v
		}
		return uint64(roundRef(bhalfValue(uint16(v))/float64(n), 0x7f80, bhalfValue))
	case Float32:
		return uint64(div32(uint32(v)))
	}
	if isNaN64(v) {
		return v | 1<<51
	}
	return math.Float64bits(math.Float64frombits(v) / float64(n))
}

func TestDivideMatrix(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, path := range accelPaths() {
		for _, d := range DTypes() {
			for _, n := range divisors {
				for _, length := range []int{0, 1, 3, 15, 16, 17, 33, 70, 129, 1000} {
					off := r.IntN(8)
					buf := randBuf(r, d, length, off)
					want := append([]byte(nil), buf...)
					for i := range length {
						putBits(d, want, i, refDivElem(d, getBits(d, buf, i), n))
					}
					withPath(path, func() { Divide(d, buf, n) })
					requireSameBits(t, d, want, buf, "%s %v / %d, %d elements at offset %d", path, d, n, length, off)

					buf = randBuf(r, d, length, off) // the scratch path of strict-alignment CPUs
					for i := range length {
						putBits(d, want, i, refDivElem(d, getBits(d, buf, i), n))
					}
					divideScratch(d, buf, n)
					requireSameBits(t, d, want, buf, "scratch %v / %d, %d elements", d, n, length)
				}
			}
		}
	}
}

func TestDivideIntegers(t *testing.T) {
	b := []byte{0x80, 0xf9, 7, 0x7f}
	Divide(Int8, b, 2)
	require.Equal(t, []byte{0xc0, 0xfd, 3, 0x3f}, b) // -64, -3 (truncated), 3, 63
	b = []byte{0x80, 0x81}
	Divide(Int8, b, 128)
	require.Equal(t, []byte{0xff, 0}, b) // -128/128 = -1, -127/128 = 0
	b = []byte{0x80, 0xff}
	Divide(Int8, b, 300)
	require.Equal(t, []byte{0, 0}, b)
	b = []byte{255, 254}
	Divide(Uint8, b, 255)
	require.Equal(t, []byte{1, 0}, b)
	u := make([]byte, 8)
	ne.PutUint64(u, math.MaxUint64)
	Divide(Uint64, u, 3)
	require.Equal(t, uint64(math.MaxUint64/3), ne.Uint64(u))
}

// TestDivideHalvesCorrectlyRounded checks that dividing every finite half by n gives the
// correctly rounded quotient: float64 division (53 bits) followed by one rounding to the half
// type is the reference, whose double rounding is innocuous for n < 2^40. 8199 is the first n
// where dividing binary16 in float32 would not be correctly rounded.
func TestDivideHalvesCorrectlyRounded(t *testing.T) {
	ns := []int{2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 24, 48, 63, 100, 255, 257, 1000, 4095, 8191, 8192,
		8199, 8207, 10007, 65536, 65537, 1<<20 + 1, 123456789, 1<<30 - 1}
	for _, c := range []struct {
		d     DType
		top   uint16
		value func(uint16) float64
	}{{Float16, 0x7c00, halfValue}, {BFloat16, 0x7f80, bhalfValue}} {
		buf := make([]byte, 2*int(c.top))
		for _, n := range ns {
			for i := range int(c.top) {
				ne.PutUint16(buf[2*i:], uint16(i))
			}
			Divide(c.d, buf, n)
			for i := range int(c.top) {
				want := roundRef(c.value(uint16(i))/float64(n), c.top, c.value)
				if got := ne.Uint16(buf[2*i:]); got != want { // not require: a million calls
					t.Fatalf("%v %#04x / %d = %#04x, want %#04x", c.d, i, n, got, want)
				}
			}
		}
	}
}
