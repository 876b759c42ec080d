package comm

import (
	"fmt"
	"unsafe"

	"github.com/chorus-cc/chorus/transport/shm"
)

// Alloc returns n zeroed elements of shared memory (n > 0), for buffers of large collectives
// between ranks of one host. Sent from such memory, a message is not copied through the
// shared-memory ring: the receiving rank reads it, copying or reducing, straight out of this
// rank's buffer, and the sending rank waits until it has (transport.Lender). A 64 MiB broadcast
// or all-gather then costs one copy per rank instead of two or three.
//
// The memory is not Go's heap: the garbage collector never frees it, so give it back with Free
// once no operation uses it. Each allocation holds a file descriptor until then: allocate a few
// large buffers (a flat gradient buffer, say), not many small ones; messages below 256 KiB are
// copied anyway. Ranks on other hosts, and other transports, see ordinary memory. Off Linux,
// Alloc returns ordinary memory.
func Alloc[T Elem](n int) ([]T, error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n <= 0 || n > int(^uint(0)>>1)/size {
		return nil, fmt.Errorf("chorus: alloc of %d elements", n)
	}
	b, err := shm.Alloc(n * size)
	if err != nil {
		return nil, fmt.Errorf("chorus: %w", err)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

// Free gives back memory from Alloc: s must be the slice Alloc returned (or start where it
// does), and no operation may use it any more, nor may the caller.
func Free[T Elem](s []T) error {
	if len(s) == 0 {
		return fmt.Errorf("chorus: free of an empty slice")
	}
	var zero T
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
	if err := shm.Free(b); err != nil {
		return fmt.Errorf("chorus: %w", err)
	}
	return nil
}
