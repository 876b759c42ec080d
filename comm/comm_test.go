package comm_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
)

func TestAllReduceInPlaceBitwiseIdentical(t *testing.T) {
	for _, algo := range []string{"ring", "tree", "recursive-doubling", "halving-doubling"} {
		t.Run(algo, func(t *testing.T) {
			comms := group(t, 5, comm.Config{Algorithms: map[string]string{"allreduce": algo}})
			bufs := make([][]float32, len(comms))
			rng := rand.New(rand.NewPCG(1, 2))
			for r := range bufs {
				bufs[r] = make([]float32, 4099)
				for i := range bufs[r] {
					bufs[r][i] = rng.Float32()*2 - 1 // not exact: the order of summation shows
				}
			}
			noErrors(t, each(comms, func(c *comm.Comm) error {
				b := comm.Of(bufs[c.Rank()])
				return c.AllReduce(context.Background(), b, b, comm.Sum)
			}))
			for r := 1; r < len(bufs); r++ {
				require.Equal(t, bufs[0], bufs[r], "rank %d differs from rank 0", r)
			}
		})
	}
}

func TestMismatchFailsEveryRank(t *testing.T) {
	cases := []struct {
		name string
		op   func(c *comm.Comm) comm.Operation
	}{
		{"count", func(c *comm.Comm) comm.Operation {
			n := 8
			if c.Rank() == 2 {
				n = 9
			}
			return comm.AllReduceOp(comm.Of(make([]float32, n)), comm.Of(make([]float32, n)), comm.Sum)
		}},
		{"dtype", func(c *comm.Comm) comm.Operation {
			if c.Rank() == 1 {
				return comm.AllReduceOp(comm.Of(make([]int32, 8)), comm.Of(make([]int32, 8)), comm.Sum)
			}
			return comm.AllReduceOp(comm.Of(make([]float32, 8)), comm.Of(make([]float32, 8)), comm.Sum)
		}},
		{"op", func(c *comm.Comm) comm.Operation {
			op := comm.Sum
			if c.Rank() == 3 {
				op = comm.Max
			}
			return comm.AllReduceOp(comm.Of(make([]float32, 8)), comm.Of(make([]float32, 8)), op)
		}},
		{"root", func(c *comm.Comm) comm.Operation {
			root := 0
			if c.Rank() == 0 {
				root = 1
			}
			return comm.BroadcastOp(comm.Of(make([]float64, 8)), comm.Of(make([]float64, 8)), root)
		}},
		{"collective", func(c *comm.Comm) comm.Operation {
			if c.Rank() == 2 {
				return comm.BarrierOp()
			}
			return comm.AllReduceOp(comm.Of(make([]float32, 8)), comm.Of(make([]float32, 8)), comm.Sum)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			comms := group(t, 4, comm.Config{Timeout: time.Minute})
			errs := each(comms, func(c *comm.Comm) error {
				return c.Start(context.Background(), tc.op(c)).Wait()
			})
			for r, err := range errs {
				require.ErrorIs(t, err, comm.ErrMismatch, "rank %d", r)
				require.Contains(t, err.Error(), "called", "rank %d: %v", r, err)
			}
			// The communicator stays aborted, with the mismatch as the cause.
			for _, c := range comms {
				require.ErrorIs(t, c.Barrier(context.Background()), comm.ErrMismatch)
			}
		})
	}
}

func TestMismatchNamesBothCalls(t *testing.T) {
	comms := group(t, 2, comm.Config{})
	errs := each(comms, func(c *comm.Comm) error {
		n := 10 + c.Rank()
		return c.AllReduce(context.Background(), comm.Of(make([]float32, n)), comm.Of(make([]float32, n)), comm.Sum)
	})
	for r, err := range errs {
		var me *comm.MismatchError
		require.ErrorAs(t, err, &me, "rank %d: %v", r, err)
		require.Contains(t, err.Error(), "count 10")
		require.Contains(t, err.Error(), "count 11")
		require.Contains(t, err.Error(), "rank 0")
		require.Contains(t, err.Error(), "rank 1")
	}
}

func TestTimeoutNamesMissingRank(t *testing.T) {
	comms := group(t, 2, comm.Config{Timeout: 200 * time.Millisecond})
	b := comm.Of(make([]float32, 1000))
	err := comms[0].AllReduce(context.Background(), b, b, comm.Sum) // rank 1 never calls
	require.ErrorIs(t, err, comm.ErrTimeout)
	var pe *comm.PeerError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 1, pe.Rank)
	require.Equal(t, uint64(0), pe.Seq)
	require.Contains(t, err.Error(), "allreduce(float32, count 1000, sum)")
	require.Contains(t, err.Error(), "waiting for rank 1")
	// The timeout aborted the communicator, and rank 1 was told.
	<-comms[1].Done()
	require.ErrorIs(t, comms[1].Err(), comm.ErrAborted)
	require.ErrorIs(t, comms[1].Err(), comm.ErrTimeout)
	require.ErrorIs(t, comms[1].Barrier(context.Background()), comm.ErrTimeout)
}

func TestMissingRankNamedAcrossGroup(t *testing.T) {
	const n, missing = 4, 2
	comms := group(t, n, comm.Config{Timeout: time.Minute})
	errs := each(comms, func(c *comm.Comm) error {
		ctx := context.Background()
		switch c.Rank() {
		case missing:
			return nil // never calls
		case missing + 1: // the rank after the missing one waits for it first
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
		}
		b := comm.Of(make([]float32, 1000))
		return c.AllReduce(ctx, b, b, comm.Sum)
	})
	var pe *comm.PeerError
	require.ErrorAs(t, errs[missing+1], &pe)
	require.Equal(t, missing, pe.Rank, "%v", errs[missing+1])
	require.ErrorIs(t, errs[missing+1], context.DeadlineExceeded)
	for r, err := range errs {
		if r == missing || r == missing+1 {
			continue
		}
		require.ErrorIs(t, err, comm.ErrAborted, "rank %d", r)
		require.Contains(t, err.Error(), fmt.Sprintf("waiting for rank %d", missing), "rank %d", r)
	}
}

func TestContextDeadline(t *testing.T) {
	comms := group(t, 2, comm.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := comms[0].Barrier(ctx) // rank 1 never comes
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var pe *comm.PeerError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 1, pe.Rank)
	require.ErrorIs(t, comms[0].Err(), comm.ErrAborted)
}

func TestAbortReachesEveryRank(t *testing.T) {
	const n = 5
	comms := group(t, n, comm.Config{Timeout: time.Minute})
	cause := errors.New("the operator pulled the plug")
	started := make(chan struct{}, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for _, c := range comms[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := comm.Of(make([]float64, 1<<16))
			w := c.Start(context.Background(), comm.AllReduceOp(b, b, comm.Sum))
			started <- struct{}{}
			errs[c.Rank()] = w.Wait()
		}()
	}
	for range n - 1 {
		<-started
	}
	comms[0].Abort(cause) // rank 0 never joins the all-reduce: the others are stuck until told
	wg.Wait()
	for r := 1; r < n; r++ {
		require.ErrorIs(t, errs[r], comm.ErrAborted, "rank %d", r)
		require.Contains(t, errs[r].Error(), cause.Error(), "rank %d", r)
		require.Contains(t, errs[r].Error(), "rank 0", "rank %d", r)
	}
	require.ErrorIs(t, comms[0].Barrier(context.Background()), comm.ErrAborted)
	require.ErrorIs(t, comms[0].Err(), cause)
	for _, c := range comms[1:] {
		require.ErrorIs(t, c.Barrier(context.Background()), comm.ErrAborted)
	}
}

func TestManyAsyncInFlight(t *testing.T) {
	const n, ops = 4, 64
	comms := group(t, n, comm.Config{})
	bufs := make([][][]int64, n)
	for r := range bufs {
		bufs[r] = make([][]int64, ops)
		for k := range bufs[r] {
			bufs[r][k] = make([]int64, 1+k*37)
			for i := range bufs[r][k] {
				bufs[r][k][i] = int64(r*1000 + k + i)
			}
		}
	}
	noErrors(t, each(comms, func(c *comm.Comm) error {
		works := make([]*comm.Work, ops)
		for k := range works {
			b := comm.Of(bufs[c.Rank()][k])
			works[k] = c.Start(context.Background(), comm.AllReduceOp(b, b, comm.Sum))
		}
		for k := len(works) - 1; k >= 0; k-- { // wait in reverse: order of waits must not matter
			if err := works[k].Wait(); err != nil {
				return err
			}
			if works[k].Seq() != uint64(k) {
				return fmt.Errorf("work %d has seq %d", k, works[k].Seq())
			}
		}
		return nil
	}))
	for r := range bufs {
		for k := range bufs[r] {
			for i, v := range bufs[r][k] {
				want := int64(0)
				for q := 0; q < n; q++ {
					want += int64(q*1000 + k + i)
				}
				require.Equal(t, want, v, "rank %d op %d elem %d", r, k, i)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	const n = 7
	comms := group(t, n, comm.Config{})
	subs := make([]*comm.Comm, n)
	noErrors(t, each(comms, func(c *comm.Comm) error {
		color := c.Rank() % 3
		if c.Rank() == 6 {
			color = comm.NoColor
		}
		sub, err := c.Split(context.Background(), color, -c.Rank()) // reverse order within a color
		subs[c.Rank()] = sub
		return err
	}))
	require.Nil(t, subs[6])
	// colors: 0 -> {0,3}, 1 -> {1,4}, 2 -> {2,5}; keys reverse the order.
	for r, s := range subs[:6] {
		require.Equal(t, 2, s.Size(), "rank %d", r)
		require.Equal(t, 1-r/3, s.Rank(), "rank %d", r)
		defer s.Close()
	}
	// The sub-communicators run while the parent runs its own all-reduce.
	parent := make([][]int32, n)
	child := make([][]int32, n)
	noErrors(t, each(comms, func(c *comm.Comm) error {
		r := c.Rank()
		parent[r] = []int32{int32(r), 1}
		pw := c.Start(context.Background(), comm.AllReduceOp(comm.Of(parent[r]), comm.Of(parent[r]), comm.Sum))
		if s := subs[r]; s != nil {
			child[r] = []int32{int32(r)}
			if err := s.AllReduce(context.Background(), comm.Of(child[r]), comm.Of(child[r]), comm.Max); err != nil {
				return err
			}
		}
		return pw.Wait()
	}))
	for r := 0; r < n; r++ {
		require.Equal(t, []int32{21, 7}, parent[r])
		if r < 6 {
			require.Equal(t, []int32{int32(r%3 + 3)}, child[r], "rank %d", r)
		}
	}
}

func TestSendRecv(t *testing.T) {
	const n = 4
	comms := group(t, n, comm.Config{})
	sizes := []int{0, 5, 300000} // the last is chunked and rendezvous
	noErrors(t, each(comms, func(c *comm.Comm) error {
		r := c.Rank()
		next, prev := (r+1)%n, (r+n-1)%n
		for _, size := range sizes {
			out := make([]uint8, size)
			for i := range out {
				out[i] = uint8(r + i)
			}
			in := make([]uint8, size)
			sw := c.Start(context.Background(), comm.SendOp(comm.Of(out), next))
			if err := c.Recv(context.Background(), comm.Of(in), prev); err != nil {
				return err
			}
			if err := sw.Wait(); err != nil {
				return err
			}
			for i := range in {
				if in[i] != uint8(prev+i) {
					return fmt.Errorf("rank %d size %d: byte %d is %d, want %d", r, size, i, in[i], uint8(prev+i))
				}
			}
		}
		return nil
	}))
}

func TestSendRecvLengthMismatch(t *testing.T) {
	comms := group(t, 2, comm.Config{})
	errs := each(comms, func(c *comm.Comm) error {
		if c.Rank() == 0 {
			return c.Send(context.Background(), comm.Of(make([]float32, 4)), 1)
		}
		return c.Recv(context.Background(), comm.Of(make([]float32, 5)), 0)
	})
	require.Error(t, errs[1])
	require.Contains(t, errs[1].Error(), "want 20")
}

func TestInvalidArguments(t *testing.T) {
	comms := group(t, 3, comm.Config{})
	c := comms[0]
	ctx := context.Background()
	f := func(n int) comm.Buffer { return comm.Of(make([]float32, n)) }
	big := make([]float32, 12)
	cases := map[string]error{
		"length":    c.AllReduce(ctx, f(3), f(4), comm.Sum),
		"dtype":     c.AllReduce(ctx, f(3), comm.Of(make([]int32, 3)), comm.Sum),
		"op":        c.AllReduce(ctx, f(3), f(3), comm.Op(99)),
		"root":      c.Broadcast(ctx, f(3), f(3), 3),
		"gather":    c.AllGather(ctx, f(3), f(8)),
		"alltoall":  c.AllToAll(ctx, f(4), f(4)),
		"overlap":   c.AllReduce(ctx, comm.Of(big[0:6]), comm.Of(big[3:9]), comm.Sum),
		"notype":    c.AllReduce(ctx, comm.Buffer{}, comm.Buffer{}, comm.Sum),
		"peer":      c.Send(ctx, f(1), 0),
		"peerrange": c.Recv(ctx, f(1), 5),
	}
	for name, err := range cases {
		require.ErrorIs(t, err, comm.ErrInvalid, name)
	}
	// Bad calls use no sequence number and do not abort: the group still works.
	noErrors(t, each(comms, func(c *comm.Comm) error { return c.Barrier(ctx) }))
}

func TestCloseFailsQueuedWork(t *testing.T) {
	comms, err := comm.NewLocal(context.Background(), 2, comm.Config{})
	require.NoError(t, err)
	b := comm.Of(make([]float32, 4))
	w1 := comms[0].Start(context.Background(), comm.AllReduceOp(b, b, comm.Sum))
	w2 := comms[0].Start(context.Background(), comm.AllReduceOp(b, b, comm.Sum))
	require.NoError(t, comms[0].Close())
	require.ErrorIs(t, w1.Wait(), comm.ErrClosed)
	require.ErrorIs(t, w2.Wait(), comm.ErrClosed)
	require.ErrorIs(t, comms[0].Barrier(context.Background()), comm.ErrClosed)
	require.NoError(t, comms[1].Close())
}

func TestConfigAlgorithms(t *testing.T) {
	all := comm.Algorithms()
	require.Contains(t, all["allreduce"], "ring")
	require.Contains(t, all["allreduce"], "tree")
	require.Len(t, all, 9)
	for coll, names := range all { // every listed name is accepted
		group(t, 1, comm.Config{Algorithms: map[string]string{coll: names[0]}})
	}
	_, err := comm.NewLocal(context.Background(), 2, comm.Config{Algorithms: map[string]string{"allreduce": "nope"}})
	require.ErrorIs(t, err, comm.ErrInvalid)
	_, err = comm.NewLocal(context.Background(), 2, comm.Config{Algorithms: map[string]string{"*": "nope"}})
	require.ErrorIs(t, err, comm.ErrInvalid)
	t.Setenv("CHORUS_ALGO", "allreduce=tree")
	group(t, 2, comm.Config{})
	t.Setenv("CHORUS_ALGO", "bogus=ring")
	_, err = comm.NewLocal(context.Background(), 2, comm.Config{})
	require.ErrorIs(t, err, comm.ErrInvalid)
	t.Setenv("CHORUS_TIMEOUT", "soon")
	_, err = comm.NewLocal(context.Background(), 2, comm.Config{})
	require.ErrorIs(t, err, comm.ErrInvalid)
}

// Ranks may mix in-place and out-of-place calls of one collective.
func TestMixedInPlace(t *testing.T) {
	for _, algo := range []string{"ring", "tree", "recursive-doubling", "halving-doubling"} {
		comms := group(t, 5, comm.Config{Algorithms: map[string]string{"allreduce": algo}})
		outs := make([][]int32, len(comms))
		noErrors(t, each(comms, func(c *comm.Comm) error {
			in := []int32{int32(c.Rank()), 1, 2}
			out := in
			if c.Rank()%2 == 1 {
				out = make([]int32, len(in))
			}
			outs[c.Rank()] = out
			return c.AllReduce(context.Background(), comm.Of(in), comm.Of(out), comm.Sum)
		}))
		for r, out := range outs {
			require.Equal(t, []int32{10, 5, 10}, out, "%s rank %d", algo, r)
		}
	}
}

// Closing every rank of a group stops every goroutine it started, after success and after an
// abort alike.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, abort := range []bool{false, true} {
		comms, err := comm.NewLocal(context.Background(), 4, comm.Config{})
		require.NoError(t, err)
		errs := each(comms, func(c *comm.Comm) error {
			b := comm.Of(make([]float32, 100000))
			if abort && c.Rank() == 0 {
				c.Abort(errors.New("stop"))
			}
			return c.AllReduce(context.Background(), b, b, comm.Sum)
		})
		if !abort {
			noErrors(t, errs)
		}
		for _, c := range comms {
			require.NoError(t, c.Close())
		}
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
}
