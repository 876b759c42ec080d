//go:build amd64 && !purego

package reduce

import "unsafe"

// The vector loops of reduce_amd64.s. Each computes dst = dst op src over n bytes, n a multiple
// of 64 (Z, AVX-512) or 32 (Y, AVX2); the div loops compute dst = dst / d. The I loops serve
// the unsigned types too where the operation is the same (add, mul).

//go:noescape
func addF32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func mulF32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func addF64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func mulF64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func addI32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func mulI32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minI32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxI32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minU32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxU32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func addI64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func mulI64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minI64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxI64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minU64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxU64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func addI8Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minI8Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxI8Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minU8Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxU8Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minF32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxF32Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minF64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxF64Z(dst, src unsafe.Pointer, n int)

//go:noescape
func addF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func mulF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func divF16Z(dst unsafe.Pointer, n int, d float32)

//go:noescape
func addBF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func mulBF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func minBF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func maxBF16Z(dst, src unsafe.Pointer, n int)

//go:noescape
func divBF16Z(dst unsafe.Pointer, n int, d float32)

//go:noescape
func divF32Z(dst unsafe.Pointer, n int, d float32)

//go:noescape
func divF64Z(dst unsafe.Pointer, n int, d float64)

//go:noescape
func addF32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func mulF32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func addF64Y(dst, src unsafe.Pointer, n int)

//go:noescape
func mulF64Y(dst, src unsafe.Pointer, n int)

//go:noescape
func addI32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func mulI32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minI32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxI32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minU32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxU32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func addI64Y(dst, src unsafe.Pointer, n int)

//go:noescape
func addI8Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minI8Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxI8Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minU8Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxU8Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minF32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxF32Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minF64Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxF64Y(dst, src unsafe.Pointer, n int)

//go:noescape
func addF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func mulF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func divF16Y(dst unsafe.Pointer, n int, d float32)

//go:noescape
func addBF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func mulBF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func minBF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func maxBF16Y(dst, src unsafe.Pointer, n int)

//go:noescape
func divBF16Y(dst unsafe.Pointer, n int, d float32)

//go:noescape
func divF32Y(dst unsafe.Pointer, n int, d float32)

//go:noescape
func divF64Y(dst unsafe.Pointer, n int, d float64)
