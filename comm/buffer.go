package comm

import (
	"fmt"
	"unsafe"

	"github.com/chorus-cc/chorus/algos/reduce"
)

// DType is the element type of a buffer.
type DType = reduce.DType

// The element types.
const (
	Int8     = reduce.Int8
	Uint8    = reduce.Uint8
	Int32    = reduce.Int32
	Uint32   = reduce.Uint32
	Int64    = reduce.Int64
	Uint64   = reduce.Uint64
	Float16  = reduce.Float16
	BFloat16 = reduce.BFloat16
	Float32  = reduce.Float32
	Float64  = reduce.Float64
)

// Half and BHalf are the Go types of float16 and bfloat16 elements (IEEE binary16 and bfloat16
// bits); convert with reduce.Float16From, Half.Float32 and the like.
type (
	Half  = reduce.Half
	BHalf = reduce.BHalf
)

// Op is a reduction operator.
type Op = reduce.Op

// The reduction operators. Avg sums, then divides by the number of ranks (integers truncate).
const (
	Sum  = reduce.Sum
	Prod = reduce.Prod
	Min  = reduce.Min
	Max  = reduce.Max
	Avg  = reduce.Avg
)

// Elem lists the Go element types a Buffer can be made of.
type Elem interface {
	int8 | uint8 | int32 | uint32 | int64 | uint64 | Half | BHalf | float32 | float64
}

// Buffer is a typed run of elements in memory that the caller owns: a view, never a copy. The
// zero Buffer is empty. A Buffer must stay valid, and must not be changed by the caller, while an
// operation that uses it is in flight.
//
// Today a Buffer is host memory; device memory will be a Buffer too, so code that passes Buffers
// around keeps working when it arrives.
type Buffer struct {
	ptr   unsafe.Pointer
	n     int
	dtype DType
}

// Of returns a Buffer over s, without copying.
func Of[T Elem](s []T) Buffer {
	var zero T
	var dt DType
	switch any(zero).(type) {
	case int8:
		dt = Int8
	case uint8:
		dt = Uint8
	case int32:
		dt = Int32
	case uint32:
		dt = Uint32
	case int64:
		dt = Int64
	case uint64:
		dt = Uint64
	case Half:
		dt = Float16
	case BHalf:
		dt = BFloat16
	case float32:
		dt = Float32
	case float64:
		dt = Float64
	}
	return Buffer{ptr: unsafe.Pointer(unsafe.SliceData(s)), n: len(s), dtype: dt}
}

// OfBytes returns a Buffer of elements of type dt stored in p, without copying. len(p) must be a
// multiple of dt's size.
func OfBytes(p []byte, dt DType) (Buffer, error) {
	if !dt.Valid() {
		return Buffer{}, fmt.Errorf("comm: invalid element type %d", dt)
	}
	if len(p)%dt.Size() != 0 {
		return Buffer{}, fmt.Errorf("comm: %d bytes is not a whole number of %s elements", len(p), dt)
	}
	return Buffer{ptr: unsafe.Pointer(unsafe.SliceData(p)), n: len(p) / dt.Size(), dtype: dt}, nil
}

// OfPointer returns a Buffer of n elements of type dt at ptr, which must stay valid while the
// Buffer is used. It is meant for memory owned outside Go, such as the C ABI's callers.
func OfPointer(ptr unsafe.Pointer, n int, dt DType) (Buffer, error) {
	switch {
	case !dt.Valid():
		return Buffer{}, fmt.Errorf("comm: invalid element type %d", dt)
	case n < 0:
		return Buffer{}, fmt.Errorf("comm: negative length %d", n)
	case ptr == nil && n > 0:
		return Buffer{}, fmt.Errorf("comm: nil pointer with %d elements", n)
	}
	return Buffer{ptr: ptr, n: n, dtype: dt}, nil
}

// Len returns the number of elements.
func (b Buffer) Len() int { return b.n }

// DType returns the element type (zero for the zero Buffer).
func (b Buffer) DType() DType { return b.dtype }

// Bytes returns the buffer's memory as bytes, without copying.
func (b Buffer) Bytes() []byte {
	if b.n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(b.ptr), b.n*b.dtype.Size())
}

// Slice returns the elements [i, j) of b, like a slice expression.
func (b Buffer) Slice(i, j int) Buffer {
	if i < 0 || j < i || j > b.n {
		panic(fmt.Sprintf("comm: Buffer.Slice(%d, %d) out of range for length %d", i, j, b.n))
	}
	if i == j {
		return Buffer{dtype: b.dtype}
	}
	return Buffer{ptr: unsafe.Add(b.ptr, i*b.dtype.Size()), n: j - i, dtype: b.dtype}
}

func (b Buffer) String() string { return fmt.Sprintf("%s[%d]", b.dtype, b.n) }

// span returns the byte addresses [lo, hi) of b's memory.
func (b Buffer) span() (lo, hi uintptr) {
	if b.n == 0 {
		return 0, 0
	}
	lo = uintptr(b.ptr)
	return lo, lo + uintptr(b.n*b.dtype.Size())
}
