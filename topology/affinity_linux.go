package topology

import (
	"fmt"
	"syscall"
	"unsafe"
)

// affinity returns the CPUs the calling thread may run on (sched_getaffinity(2) of thread 0,
// which is the caller). Go threads inherit the process's mask, so this is the process's mask
// unless someone narrowed one thread.
func affinity() (CPUSet, error) {
	// Start with room for 1024 CPUs and grow while the kernel says the buffer is too small.
	for words := 16; words*64 <= MaxCPU; words *= 4 {
		mask := make([]uint64, words)
		n, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0,
			uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
		if errno == syscall.EINVAL {
			continue
		}
		if errno != 0 {
			return nil, fmt.Errorf("sched_getaffinity: %w", errno)
		}
		var s CPUSet
		for i := 0; i < int(n)*8; i++ {
			if mask[i/64]&(1<<(i%64)) != 0 {
				s = append(s, i)
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("sched_getaffinity: mask larger than %d cpus", MaxCPU)
}
