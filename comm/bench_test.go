package comm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chorus-cc/chorus/comm"
)

// BenchmarkAllReduce runs an in-place float32 sum all-reduce over 8 in-process ranks, from 1 KiB
// to 64 MiB per rank. Bytes per second count one rank's buffer per operation (nccl-tests' algbw).
func BenchmarkAllReduce(b *testing.B) {
	const n = 8
	for size := 1 << 10; size <= 64<<20; size *= 4 {
		b.Run(fmt.Sprintf("8ranks/%s", byteSize(size)), func(b *testing.B) {
			comms := group(b, n, comm.Config{})
			bufs := make([]comm.Buffer, n)
			for r := range bufs {
				bufs[r] = comm.Of(make([]float32, size/4))
			}
			// Ranks 1..n-1 follow rank 0 on their own goroutines, one operation per signal.
			next := make([]chan bool, n)
			var wg sync.WaitGroup
			errs := make([]error, n)
			for r := 1; r < n; r++ {
				next[r] = make(chan bool)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range next[r] {
						if err := comms[r].AllReduce(context.Background(), bufs[r], bufs[r], comm.Sum); err != nil && errs[r] == nil {
							errs[r] = err
						}
					}
				}()
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for r := 1; r < n; r++ {
					next[r] <- true
				}
				if err := comms[0].AllReduce(context.Background(), bufs[0], bufs[0], comm.Sum); err != nil {
					b.Fatal(err)
				}
			}
			for r := 1; r < n; r++ {
				close(next[r])
			}
			wg.Wait()
			for r, err := range errs {
				if err != nil {
					b.Fatalf("rank %d: %v", r, err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
