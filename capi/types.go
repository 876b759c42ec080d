package main

import (
	"math"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
)

// dtypes maps chorusDataType_t (NCCL's numbering) to comm's element types.
var dtypes = [...]comm.DType{
	0: comm.Int8,
	1: comm.Uint8,
	2: comm.Int32,
	3: comm.Uint32,
	4: comm.Int64,
	5: comm.Uint64,
	6: comm.Float16,
	7: comm.Float32,
	8: comm.Float64,
	9: comm.BFloat16,
}

// ops maps chorusRedOp_t (NCCL's numbering) to comm's operators.
var ops = [...]comm.Op{
	0: comm.Sum,
	1: comm.Prod,
	2: comm.Max,
	3: comm.Min,
	4: comm.Avg,
}

// dtypeOf returns the element type numbered d in chorus.h.
func dtypeOf(d int) (comm.DType, error) {
	if d < 0 || d >= len(dtypes) {
		return 0, invalidf("unknown data type %d (want 0..%d, see chorusDataType_t)", d, len(dtypes)-1)
	}
	return dtypes[d], nil
}

// opOf returns the reduction operator numbered o in chorus.h.
func opOf(o int) (comm.Op, error) {
	if o < 0 || o >= len(ops) {
		return 0, invalidf("unknown reduction operator %d (want 0..%d, see chorusRedOp_t)", o, len(ops)-1)
	}
	return ops[o], nil
}

// elems returns count times mult as an element count, failing when the bytes of that many
// elements of dt do not fit in an int.
func elems(count uint64, mult int, dt comm.DType) (int, error) {
	limit := uint64(math.MaxInt) / uint64(dt.Size()) / uint64(mult)
	if count > limit {
		return 0, invalidf("count %d is too large", count)
	}
	return int(count) * mult, nil
}

// buffer returns a Buffer of n elements of dt at p. A NULL p gives the zero Buffer when absent
// is true (a buffer the operation does not use on this rank), an empty Buffer of dt when n is
// 0, and an error otherwise.
func buffer(p unsafe.Pointer, n int, dt comm.DType, absent bool, what string) (comm.Buffer, error) {
	if p == nil && absent {
		return comm.Buffer{}, nil
	}
	if p == nil && n > 0 {
		return comm.Buffer{}, invalidf("%s is NULL", what)
	}
	b, err := comm.OfPointer(p, n, dt)
	if err != nil {
		return comm.Buffer{}, invalidf("%s: %v", what, err)
	}
	return b, nil
}
