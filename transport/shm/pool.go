package shm

import (
	"math/bits"
	"sync"
)

// Buffers for messages moved out of the ring and for assembling streamed ones, pooled by
// power-of-two size class so that the steady state does not allocate.
const (
	minBufClass = 6                                 // 64 bytes
	maxBufClass = 28                                // 256 MiB: MaxMessage
	_           = uint(1<<maxBufClass - MaxMessage) // MaxMessage must fit the largest class
)

var bufPools [maxBufClass + 1]sync.Pool

func bufClass(n int) int {
	return max(bits.Len(uint(n-1)), minBufClass)
}

// getBuf returns a buffer of at least n (0 < n <= MaxMessage) bytes.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if v := bufPools[c].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 1<<c)
	return &b
}

// putBuf gives a buffer from getBuf back; nil is ignored.
func putBuf(bp *[]byte) {
	if bp != nil {
		bufPools[bufClass(cap(*bp))].Put(bp)
	}
}
