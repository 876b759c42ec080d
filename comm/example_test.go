package comm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chorus-cc/chorus/comm"
)

// Every rank contributes a vector; AllReduce leaves the sum on every rank.
func ExampleComm_AllReduce() {
	ctx := context.Background()
	comms, _ := comm.NewLocal(ctx, 3, comm.Config{})
	out := make([][]float32, len(comms))
	var wg sync.WaitGroup
	for _, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := []float32{float32(c.Rank()), 10}
			_ = c.AllReduce(ctx, comm.Of(x), comm.Of(x), comm.Sum) // in place
			out[c.Rank()] = x
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	fmt.Println(out)
	// Output: [[3 30] [3 30] [3 30]]
}

// Start returns at once with a Work; several operations may be in flight, and they complete in
// the order they were issued on every rank.
func ExampleComm_Start() {
	ctx := context.Background()
	comms, _ := comm.NewLocal(ctx, 2, comm.Config{})
	res := make([][]int64, len(comms))
	var wg sync.WaitGroup
	for _, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := []int64{int64(c.Rank() + 1)}
			all := make([]int64, c.Size())
			gather := c.Start(ctx, comm.AllGatherOp(comm.Of(mine), comm.Of(all)))
			sum := []int64{int64(c.Rank() + 1)}
			reduce := c.Start(ctx, comm.AllReduceOp(comm.Of(sum), comm.Of(sum), comm.Max))
			if err := errors.Join(gather.Wait(), reduce.Wait()); err != nil {
				fmt.Println(err)
			}
			res[c.Rank()] = append(all, sum[0])
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	fmt.Println(res)
	// Output: [[1 2 2] [1 2 2]]
}

// Split makes sub-communicators: here the even and the odd ranks.
func ExampleComm_Split() {
	ctx := context.Background()
	comms, _ := comm.NewLocal(ctx, 4, comm.Config{})
	lines := make([]string, len(comms))
	var wg sync.WaitGroup
	for _, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub, err := c.Split(ctx, c.Rank()%2, c.Rank())
			if err != nil {
				lines[c.Rank()] = err.Error()
				return
			}
			defer sub.Close()
			x := []int32{int32(c.Rank())}
			_ = sub.AllReduce(ctx, comm.Of(x), comm.Of(x), comm.Sum)
			lines[c.Rank()] = fmt.Sprintf("rank %d: sub-rank %d of %d, sum %d", c.Rank(), sub.Rank(), sub.Size(), x[0])
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// rank 0: sub-rank 0 of 2, sum 2
	// rank 1: sub-rank 0 of 2, sum 4
	// rank 2: sub-rank 1 of 2, sum 2
	// rank 3: sub-rank 1 of 2, sum 4
}

// A mismatch (here, different counts) fails on every rank instead of hanging.
func ExampleMismatchError() {
	ctx := context.Background()
	comms, _ := comm.NewLocal(ctx, 2, comm.Config{})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for _, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float32, 4+c.Rank())
			errs[c.Rank()] = c.AllReduce(ctx, comm.Of(x), comm.Of(x), comm.Sum)
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	fmt.Println(errors.Is(errs[0], comm.ErrMismatch), errors.Is(errs[1], comm.ErrMismatch))
	// Output: true true
}
