package reduce

import "math"

// Half is an IEEE 754 binary16 number (the Float16 DType), stored as its bits: 1 sign bit,
// 5 exponent bits, 10 fraction bits.
type Half uint16

// BHalf is a bfloat16 number (the BFloat16 DType), stored as its bits: the top 16 bits of a
// float32 (1 sign bit, 8 exponent bits, 7 fraction bits).
type BHalf uint16

// Float16From returns f rounded to the nearest binary16 number, ties to even. Values too large
// round to ±Inf, values too small round to a subnormal or to a zero of f's sign. A NaN stays a
// NaN: it keeps its sign and the top 9 bits of its payload and is made quiet.
func Float16From(f float32) Half {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man == 0 {
			return Half(sign | 0x7c00)
		}
		return Half(sign | 0x7e00 | uint16(man>>13))
	}
	e := exp - 112 // binary16 biased exponent: (exp-127)+15
	if e >= 0x1f {
		return Half(sign | 0x7c00)
	}
	if e <= 0 {
		// The result is a binary16 subnormal (or zero, or the smallest normal after rounding).
		// In units of 2^-24 the value is (man|1<<23) >> (126-exp).
		s := uint32(126 - exp)
		if s > 24 {
			return Half(sign) // below half the smallest subnormal
		}
		m := man | 0x800000
		r := m >> s
		rem := m & (1<<s - 1)
		half := uint32(1) << (s - 1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return Half(sign | uint16(r))
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry out of the fraction bumps the exponent; past the top it makes Inf
	}
	return Half(sign | uint16(h))
}

// Float32 returns h as a float32. Every binary16 value is exact in float32; a NaN keeps its sign
// and payload (a signaling NaN stays signaling).
func (h Half) Float32() float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: man * 2^-24, normalised so that the leading 1 becomes the implicit bit.
	e := uint32(113) // biased float32 exponent of 2^-14 (the subnormal scale) is 113
	for man&0x400 == 0 {
		man <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
}

// BFloat16From returns f rounded to the nearest bfloat16 number, ties to even. Values too large
// round to ±Inf; subnormals are kept (bfloat16 has float32's exponent range). A NaN stays a NaN:
// it keeps its sign and the top 6 bits of its payload and is made quiet.
func BFloat16From(f float32) BHalf {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return BHalf(b>>16 | 0x40)
	}
	b += 0x7fff + (b>>16)&1
	return BHalf(b >> 16)
}

// Float32 returns b as a float32 (exact; a NaN keeps its sign and payload).
func (b BHalf) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }
