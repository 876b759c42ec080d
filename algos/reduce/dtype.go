// Package reduce defines the element types (DType) and reduction operators (Op) of Chorus, and
// the kernels that combine one buffer into another: Reduce computes dst[i] = dst[i] op src[i]
// over raw bytes, and Divide finishes an average.
//
// The kernels are bitwise deterministic: for the same inputs they return the same bits whatever
// the alignment of the slices, their length and the code path (AVX-512, AVX2 or plain Go),
// NaN payloads included (see Reduce for the rules).
//
// On amd64 the float kernels (float16, bfloat16, float32, float64: every op, and Divide) and
// most integer kernels are vector loops in assembly, for AVX-512 and for AVX2; the rest, and
// everything on other architectures or when built with the purego tag, is plain Go.
package reduce

import (
	"fmt"
	"strings"
)

// DType is the element type of a buffer.
type DType uint8

// The element types. The zero DType is invalid.
const (
	Int8 DType = iota + 1
	Uint8
	Int32
	Uint32
	Int64
	Uint64
	Float16  // IEEE 754 binary16; Go type Half
	BFloat16 // bfloat16 (the top half of a float32); Go type BHalf
	Float32
	Float64
)

var dtypeNames = [...]string{
	Int8:     "int8",
	Uint8:    "uint8",
	Int32:    "int32",
	Uint32:   "uint32",
	Int64:    "int64",
	Uint64:   "uint64",
	Float16:  "float16",
	BFloat16: "bfloat16",
	Float32:  "float32",
	Float64:  "float64",
}

var dtypeSizes = [...]int{
	Int8:     1,
	Uint8:    1,
	Int32:    4,
	Uint32:   4,
	Int64:    8,
	Uint64:   8,
	Float16:  2,
	BFloat16: 2,
	Float32:  4,
	Float64:  8,
}

// dtypeAliases maps the other accepted spellings (lower case) to their DType.
var dtypeAliases = map[string]DType{
	"i8": Int8, "char": Int8, "s8": Int8,
	"u8": Uint8, "byte": Uint8,
	"i32": Int32, "int": Int32, "s32": Int32,
	"u32": Uint32, "uint": Uint32,
	"i64": Int64, "long": Int64, "s64": Int64,
	"u64": Uint64,
	"f16": Float16, "fp16": Float16, "half": Float16,
	"bf16": BFloat16,
	"f32":  Float32, "fp32": Float32, "float": Float32,
	"f64": Float64, "fp64": Float64, "double": Float64,
}

// DTypes returns every valid DType, in declaration order.
func DTypes() []DType {
	return []DType{Int8, Uint8, Int32, Uint32, Int64, Uint64, Float16, BFloat16, Float32, Float64}
}

// Valid reports whether d is one of the declared element types.
func (d DType) Valid() bool { return d >= Int8 && d <= Float64 }

// Size returns the number of bytes of one element of type d, or 0 when d is not valid.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeSizes[d]
}

// String returns the canonical name of d ("float32"), or "DType(n)" when d is not valid.
func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypeNames[d]
}

// IsFloat reports whether d is a floating-point type (float16, bfloat16, float32, float64).
func (d DType) IsFloat() bool { return d >= Float16 && d <= Float64 }

// ParseDType returns the DType named s. It accepts the names String returns and the usual
// aliases (i8, u8, byte, char, int, uint, i32, u32, long, i64, u64, f16, fp16, half, bf16, f32,
// fp32, float, f64, fp64, double), in any case and with surrounding spaces.
func ParseDType(s string) (DType, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for _, d := range DTypes() {
		if k == dtypeNames[d] {
			return d, nil
		}
	}
	if d, ok := dtypeAliases[k]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("chorus: unknown dtype %q (valid: %s; aliases: i8 u8 i32 u32 i64 u64 f16 bf16 f32 f64 half float double int)",
		s, strings.Join(dtypeNames[1:], ", "))
}

// Op is a reduction operator.
type Op uint8

// The reduction operators. The zero Op is invalid.
const (
	Sum Op = iota + 1
	Prod
	Min
	Max
	Avg // reduces as Sum; the caller divides by the number of contributions with Divide
)

var opNames = [...]string{Sum: "sum", Prod: "prod", Min: "min", Max: "max", Avg: "avg"}

var opAliases = map[string]Op{
	"add": Sum, "+": Sum,
	"product": Prod, "mul": Prod, "*": Prod,
	"minimum": Min,
	"maximum": Max,
	"average": Avg, "mean": Avg,
}

// Ops returns every valid Op, in declaration order.
func Ops() []Op { return []Op{Sum, Prod, Min, Max, Avg} }

// Valid reports whether o is one of the declared operators.
func (o Op) Valid() bool { return o >= Sum && o <= Avg }

// String returns the canonical name of o ("sum"), or "Op(n)" when o is not valid.
func (o Op) String() string {
	if !o.Valid() {
		return fmt.Sprintf("Op(%d)", uint8(o))
	}
	return opNames[o]
}

// ParseOp returns the Op named s. It accepts the names String returns and the aliases add, +,
// product, mul, *, minimum, maximum, average and mean, in any case and with surrounding spaces.
func ParseOp(s string) (Op, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for _, o := range Ops() {
		if k == opNames[o] {
			return o, nil
		}
	}
	if o, ok := opAliases[k]; ok {
		return o, nil
	}
	return 0, fmt.Errorf("chorus: unknown reduce op %q (valid: %s; aliases: add mul product mean average)",
		s, strings.Join(opNames[1:], ", "))
}
