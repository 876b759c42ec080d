package comm_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// TestMain lets multi-process tests re-execute this test binary as ranks: with
// CHORUS_TEST_CHILD set, the process runs that child instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CHORUS_TEST_CHILD"); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

func child(mode string) int {
	ctx := context.Background()
	if mode == "bench-raw" {
		return benchRaw(ctx)
	}
	c, err := comm.InitFromEnv(ctx, comm.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	defer c.Close()
	switch mode {
	case "allreduce":
		x := make([]float32, 1<<20+3)
		for i := range x {
			x[i] = float32(c.Rank() + i%7)
		}
		if err := c.AllReduce(ctx, comm.Of(x), comm.Of(x), comm.Sum); err != nil {
			fmt.Fprintln(os.Stderr, "allreduce:", err)
			return 1
		}
		n := c.Size()
		for i, v := range x {
			if want := float32(n*(n-1)/2 + n*(i%7)); v != want {
				fmt.Fprintf(os.Stderr, "element %d is %v, want %v\n", i, v, want)
				return 1
			}
		}
		fmt.Printf("rank %d of %d ok\n", c.Rank(), n)
		return 0
	case "sigkill":
		// Every rank all-reduces in a loop; rank 1 dies by SIGKILL in the middle of its second.
		x := make([]float32, 1<<22)
		for i := 0; ; i++ {
			w := c.Start(ctx, comm.AllReduceOp(comm.Of(x), comm.Of(x), comm.Sum))
			if c.Rank() == 1 && i == 1 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			if err := w.Wait(); err != nil {
				fmt.Printf("rank %d failed: %v\n", c.Rank(), err)
				return 0
			}
		}
	case "resilient":
		// One all-reduce, then wait (through the store) while the test attacks the job, then
		// another all-reduce that must still work.
		for round := 0; round < 2; round++ {
			x := []int64{int64(c.Rank()), 1}
			if err := c.AllReduce(ctx, comm.Of(x), comm.Of(x), comm.Sum); err != nil {
				fmt.Fprintf(os.Stderr, "round %d: %v\n", round, err)
				return 1
			}
			if n := int64(c.Size()); x[0] != n*(n-1)/2 || x[1] != n {
				fmt.Fprintf(os.Stderr, "round %d: got %v\n", round, x)
				return 1
			}
			if round == 0 {
				store, err := rendezvous.Open(ctx, "env://", nil)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				if err := store.Set(ctx, fmt.Sprintf("test/ready/%d", c.Rank()), []byte{1}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				if _, err := store.Get(ctx, "test/go"); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				store.Close()
			}
		}
		fmt.Printf("rank %d of %d ok\n", c.Rank(), c.Size())
		return 0
	case "bench-allreduce":
		x := comm.Of(make([]float32, benchBytes/4))
		for i := 0; i <= benchIters; i++ {
			if i == 1 { // the first is a warm-up
				if err := c.Barrier(ctx); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
			}
			start := time.Now()
			if err := c.AllReduce(ctx, x, x, comm.Sum); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if i > 0 {
				fmt.Printf("elapsed_ns %d\n", time.Since(start).Nanoseconds())
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}
