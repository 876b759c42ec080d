package reduce

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDTypes(t *testing.T) {
	names := []string{"int8", "uint8", "int32", "uint32", "int64", "uint64", "float16", "bfloat16", "float32", "float64"}
	sizes := []int{1, 1, 4, 4, 8, 8, 2, 2, 4, 8}
	ds := DTypes()
	require.Len(t, ds, len(names))
	for i, d := range ds {
		require.Equal(t, DType(i+1), d, "declaration order")
		require.True(t, d.Valid())
		require.Equal(t, names[i], d.String())
		require.Equal(t, sizes[i], d.Size())
		got, err := ParseDType(names[i])
		require.NoError(t, err)
		require.Equal(t, d, got)
		require.Equal(t, i >= 6, d.IsFloat(), "%v", d)
	}
	for _, d := range []DType{0, Float64 + 1, 255} {
		require.False(t, d.Valid())
		require.Zero(t, d.Size())
		require.False(t, d.IsFloat())
		require.Contains(t, d.String(), "DType(")
	}
}

func TestParseDTypeAliases(t *testing.T) {
	for s, want := range map[string]DType{
		"f32": Float32, "float": Float32, "FP32": Float32, " Float32 ": Float32,
		"f64": Float64, "double": Float64,
		"f16": Float16, "half": Float16, "fp16": Float16,
		"bf16": BFloat16, "BFloat16": BFloat16,
		"int": Int32, "i32": Int32, "uint": Uint32, "u32": Uint32,
		"i8": Int8, "char": Int8, "u8": Uint8, "byte": Uint8, "uint8": Uint8,
		"i64": Int64, "long": Int64, "u64": Uint64,
	} {
		got, err := ParseDType(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "float128", "int16", "f8", "DType(3)"} {
		_, err := ParseDType(s)
		require.Error(t, err, s)
		require.Contains(t, err.Error(), "float32")
		require.Contains(t, err.Error(), "bfloat16")
	}
}

func TestOps(t *testing.T) {
	names := []string{"sum", "prod", "min", "max", "avg"}
	ops := Ops()
	require.Len(t, ops, len(names))
	for i, o := range ops {
		require.Equal(t, Op(i+1), o)
		require.True(t, o.Valid())
		require.Equal(t, names[i], o.String())
		got, err := ParseOp(names[i])
		require.NoError(t, err)
		require.Equal(t, o, got)
	}
	for _, o := range []Op{0, Avg + 1} {
		require.False(t, o.Valid())
		require.Contains(t, o.String(), "Op(")
	}
	for s, want := range map[string]Op{"add": Sum, "SUM": Sum, "+": Sum, "mul": Prod, "product": Prod,
		"*": Prod, "mean": Avg, "average": Avg, " Max": Max, "minimum": Min} {
		got, err := ParseOp(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	_, err := ParseOp("xor")
	require.ErrorContains(t, err, "sum, prod, min, max, avg")
}
