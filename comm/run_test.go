package comm_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/transport"
)

// A blocking collective of small messages allocates nothing: not on the rank that issues it, not
// on the rank that answers it (both in this process, so AllocsPerRun counts both).
func TestSmallCollectivesAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocations are counted without it")
	}
	const n = 2
	comms := group(t, n, comm.Config{})
	in := [n][]float32{make([]float32, 1024), make([]float32, 1024)}
	out := [n][]float32{make([]float32, 1024), make([]float32, 1024)}
	gathered := [n][]float32{make([]float32, 2048), make([]float32, 2048)}
	ops := map[string]func(r int) comm.Operation{
		"allreduce":         func(r int) comm.Operation { return comm.AllReduceOp(comm.Of(in[r]), comm.Of(out[r]), comm.Sum) },
		"allreduce/inplace": func(r int) comm.Operation { return comm.AllReduceOp(comm.Of(in[r]), comm.Of(in[r]), comm.Max) },
		"broadcast":         func(r int) comm.Operation { return comm.BroadcastOp(comm.Of(in[r]), comm.Of(out[r]), 0) },
		"allgather":         func(r int) comm.Operation { return comm.AllGatherOp(comm.Of(in[r]), comm.Of(gathered[r])) },
		"barrier":           func(int) comm.Operation { return comm.BarrierOp() },
	}
	// A context that can end costs nothing either, when every call passes the same one.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			start := make(chan struct{})
			done := make(chan error)
			go func() {
				for range start {
					done <- comms[1].Run(context.Background(), op(1))
				}
			}()
			defer close(start)
			run := func() {
				start <- struct{}{}
				require.NoError(t, comms[0].Run(ctx, op(0)))
				require.NoError(t, <-done)
			}
			run() // build and cache the schedule
			require.Zero(t, testing.AllocsPerRun(100, run))
		})
	}
}

// A blocking call issued while an asynchronous one is queued waits its turn: the two run in
// issue order on every rank (the other order would fail with ErrMismatch: the counts differ).
func TestRunKeepsIssueOrder(t *testing.T) {
	comms := group(t, 2, comm.Config{})
	errs := each(comms, func(c *comm.Comm) error {
		ctx := context.Background()
		a, b := []float32{1, 2, 3}, []float32{1, 2, 3, 4, 5}
		if c.Rank() == 0 {
			w := c.Start(ctx, comm.AllReduceOp(comm.Of(a), comm.Of(a), comm.Sum))
			if err := c.AllReduce(ctx, comm.Of(b), comm.Of(b), comm.Sum); err != nil {
				return err
			}
			if err := w.Wait(); err != nil {
				return err
			}
		} else {
			if err := c.AllReduce(ctx, comm.Of(a), comm.Of(a), comm.Sum); err != nil {
				return err
			}
			if err := c.AllReduce(ctx, comm.Of(b), comm.Of(b), comm.Sum); err != nil {
				return err
			}
		}
		require.Equal(t, []float32{2, 4, 6}, a)
		require.Equal(t, []float32{2, 4, 6, 8, 10}, b)
		return nil
	})
	noErrors(t, errs)
}

// The end of a call's context, or of the communicator's timeout, after the call has returned
// does not touch the calls that follow (collectives share one context and one timer, see
// bound.go).
func TestLateCancelAndIdleTimeout(t *testing.T) {
	const timeout = 250 * time.Millisecond // far above one call, even under -race on a loaded machine
	comms := group(t, 2, comm.Config{Timeout: timeout})
	step := func(ctx context.Context) {
		t.Helper()
		noErrors(t, each(comms, func(c *comm.Comm) error {
			b := comm.Of([]int32{int32(c.Rank())})
			return c.AllReduce(ctx, b, b, comm.Sum)
		}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	step(ctx)
	cancel()
	step(context.Background())
	time.Sleep(3 * timeout) // idle past the timeout: nothing is running, so nothing expires
	step(context.Background())
	for _, c := range comms {
		require.NoError(t, c.Err())
	}
}

// A context passed to several calls ends the one running when it ends.
func TestSharedContextEndsRunningCall(t *testing.T) {
	comms := group(t, 2, comm.Config{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	noErrors(t, each(comms, func(c *comm.Comm) error {
		b := comm.Of([]int32{1})
		return c.AllReduce(ctx, b, b, comm.Sum)
	}))
	b := comm.Of([]int32{1})
	err := comms[0].AllReduce(ctx, b, b, comm.Sum) // rank 1 does not come
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var pe *comm.PeerError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 1, pe.Rank)
}

// A small collective whose program starts with a message to the next rank sends that message
// inside its call description: two ranks exchange one message each per call, not two; past
// transport.SmallMessage the description and the data travel apart.
func TestSmallCallOneMessageEach(t *testing.T) {
	local := newCountingNet("local")
	comms := initHosts(t, []string{"A", "A"}, newCountingNet("remote"), local, "", comm.Config{})
	allReduceWorks(t, comms) // connections and schedules made
	for _, tc := range []struct {
		name  string
		count int // float32 elements
		op    func(c *comm.Comm, in, out []float32) error
		msgs  int64
	}{
		{"allreduce", 1024, func(c *comm.Comm, in, out []float32) error {
			return c.AllReduce(t.Context(), comm.Of(in), comm.Of(out), comm.Sum)
		}, 2},
		{"allreduce/inplace", 1024, func(c *comm.Comm, in, _ []float32) error {
			return c.AllReduce(t.Context(), comm.Of(in), comm.Of(in), comm.Sum)
		}, 2},
		{"broadcast", 1024, func(c *comm.Comm, in, out []float32) error {
			return c.Broadcast(t.Context(), comm.Of(in), comm.Of(out), 0)
		}, 2},
		{"barrier", 0, func(c *comm.Comm, _, _ []float32) error { return c.Barrier(t.Context()) }, 2},
		{"allreduce/large", transport.SmallMessage, func(c *comm.Comm, in, out []float32) error {
			return c.AllReduce(t.Context(), comm.Of(in), comm.Of(out), comm.Sum)
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := local.msgs.Load()
			outs := make([][]float32, len(comms))
			noErrors(t, each(comms, func(c *comm.Comm) error {
				in := make([]float32, tc.count)
				for i := range in {
					in[i] = float32(1 + c.Rank() + i%7)
				}
				outs[c.Rank()] = make([]float32, tc.count)
				if tc.name == "allreduce/inplace" {
					outs[c.Rank()] = in
				}
				return tc.op(c, in, outs[c.Rank()])
			}))
			require.Equal(t, tc.msgs, local.msgs.Load()-before, "messages sent")
			for r, out := range outs {
				for i, v := range out {
					want := float32(3 + 2*(i%7)) // sum over ranks 0 and 1
					if tc.name == "broadcast" {
						want = float32(1 + i%7) // rank 0's
					}
					require.Equal(t, want, v, "rank %d element %d", r, i)
				}
			}
		})
	}
}
