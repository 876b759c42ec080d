package comm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport/shm"
)

// settle waits (at most a minute, polling) until no more goroutines run than baseline, and returns
// "" then, or the stacks of every goroutine.
func settle(baseline int) string {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if runtime.NumGoroutine() <= baseline {
			return ""
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling, not synchronisation: the deadline bounds it
	}
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestMain lets multi-process tests re-execute this test binary as ranks: with
// CHORUS_TEST_CHILD set, the process runs that child instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CHORUS_TEST_CHILD"); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// sharedEnv makes a child rank's buffers come from comm.Alloc (where its mode says so).
const sharedEnv = "CHORUS_TEST_SHARED"

// oneCPUEnv makes a child rank run on the first CPU of its affinity only.
const oneCPUEnv = "CHORUS_TEST_ONE_CPU"

// pinToFirstCPU binds every thread of this process to the first CPU it may use. Threads made
// later inherit the binding from the thread that makes them, which is bound already; a second
// pass catches a thread made during the first.
func pinToFirstCPU() error {
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return err
	}
	for c := 0; c < len(all)*64; c++ {
		if all.IsSet(c) {
			one.Set(c)
			break
		}
	}
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				return err
			}
			if err := unix.SchedSetaffinity(tid, &one); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
	}
	return nil
}

func child(mode string) int {
	ctx := context.Background()
	baseline := runtime.NumGoroutine()
	switch mode {
	case "bench-raw":
		return benchRaw(ctx)
	case "bench-quicgo":
		return benchQUICGo(ctx)
	}
	if os.Getenv(oneCPUEnv) != "" {
		if err := pinToFirstCPU(); err != nil {
			fmt.Fprintln(os.Stderr, "pinning:", err)
			return 1
		}
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
		alg, err := c.Algorithm(comm.AllReduceOp(comm.Of(x[:1024]), comm.Of(x[:1024]), comm.Sum))
		if err != nil {
			fmt.Fprintln(os.Stderr, "algorithm:", err)
			return 1
		}
		fmt.Printf("rank %d of %d ok, transports %v, 4 KiB all-reduce %s\n", c.Rank(), n, c.Transports(), alg)
		return 0
	case "sigkill":
		// Every rank all-reduces in a loop; rank 1 dies by SIGKILL in the middle of its second.
		x := make([]float32, 1<<22)
		if os.Getenv(sharedEnv) != "" {
			if x, err = comm.Alloc[float32](len(x)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		// A survivor reports its error, how long after the start of the failed call it came (an
		// upper bound on the time to notice the death), and whether every goroutine that the
		// communicator started ended once it was closed.
		for i := 0; ; i++ {
			start := time.Now()
			w := c.Start(ctx, comm.AllReduceOp(comm.Of(x), comm.Of(x), comm.Sum))
			if c.Rank() == 1 && i == 1 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			if err := w.Wait(); err != nil {
				fmt.Printf("rank %d failed: %v\n", c.Rank(), err)
				fmt.Printf("noticed within %v\n", time.Since(start).Round(time.Millisecond))
				c.Close()
				if leaked := settle(baseline); leaked != "" {
					fmt.Printf("goroutines leaked:\n%s\n", leaked)
				} else {
					fmt.Println("goroutines back to the baseline")
				}
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
	case "shared":
		if err := sharedBuffers(ctx, c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var lent uint64
		for p := range c.Size() {
			if sc, ok := comm.ConnTo(c, p).(*shm.Conn); ok {
				lent += sc.Stats().Lent
			}
		}
		fmt.Printf("rank %d of %d ok, lent %d\n", c.Rank(), c.Size(), lent)
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

// sharedBuffers runs large collectives on buffers from comm.Alloc, which ranks of one host lend
// to each other, checks every value, frees the buffers, and checks that an all-reduce on
// ordinary memory still works afterwards.
func sharedBuffers(ctx context.Context, c *comm.Comm) error {
	n, me := c.Size(), c.Rank()
	const count = 1<<20 + 3 // 4 MiB of float32: the engine's sender goroutines lend the messages
	x, err := comm.Alloc[float32](count)
	if err != nil {
		return err
	}
	y, err := comm.Alloc[float32](count * n)
	if err != nil {
		return err
	}
	reset := func() {
		for i := range x {
			x[i] = float32(me + i%7)
		}
	}
	check := func(what string, got []float32, want func(i int) float32) error {
		for i, v := range got {
			if v != want(i) {
				return fmt.Errorf("%s: element %d is %v, want %v", what, i, v, want(i))
			}
		}
		return nil
	}
	sum := func(i int) float32 { return float32(n*(n-1)/2 + n*(i%7)) }
	reset()
	if err := c.AllReduce(ctx, comm.Of(x), comm.Of(y[:count]), comm.Sum); err != nil {
		return err
	}
	if err := check("all-reduce out of place", y[:count], sum); err != nil {
		return err
	}
	if err := c.AllReduce(ctx, comm.Of(x), comm.Of(x), comm.Sum); err != nil {
		return err
	}
	if err := check("all-reduce in place", x, sum); err != nil {
		return err
	}
	reset()
	if err := c.AllGather(ctx, comm.Of(x), comm.Of(y)); err != nil {
		return err
	}
	if err := check("all-gather", y, func(i int) float32 { return float32(i/count + (i%count)%7) }); err != nil {
		return err
	}
	root := n - 1
	if me != root {
		clear(x)
	}
	if err := c.Broadcast(ctx, comm.Of(x), comm.Of(x), root); err != nil {
		return err
	}
	if err := check("broadcast", x, func(i int) float32 { return float32(root + i%7) }); err != nil {
		return err
	}
	if err := errors.Join(comm.Free(x), comm.Free(y)); err != nil {
		return err
	}
	z := make([]float32, count)
	for i := range z {
		z[i] = 1
	}
	if err := c.AllReduce(ctx, comm.Of(z), comm.Of(z), comm.Sum); err != nil {
		return err
	}
	return check("all-reduce after Free", z, func(int) float32 { return float32(n) })
}
