//go:build !amd64 || purego

package reduce

// reduceAccel reports false: this build has no vector loops.
func reduceAccel(DType, Op, []byte, []byte) bool { return false }

// divideAccel reports false: this build has no vector loops.
func divideAccel(DType, []byte, int) bool { return false }
