package comm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/comm"
)

// operation returns the comm operation for req with the given buffers.
func operation(req plan.Request, send, recv comm.Buffer, op reduce.Op) comm.Operation {
	switch req.Coll {
	case plan.AllReduce:
		return comm.AllReduceOp(send, recv, op)
	case plan.AllGather:
		return comm.AllGatherOp(send, recv)
	case plan.ReduceScatter:
		return comm.ReduceScatterOp(send, recv, op)
	case plan.Broadcast:
		return comm.BroadcastOp(send, recv, req.Root)
	case plan.Reduce:
		return comm.ReduceOp(send, recv, op, req.Root)
	case plan.AllToAll:
		return comm.AllToAllOp(send, recv)
	case plan.Gather:
		return comm.GatherOp(send, recv, req.Root)
	case plan.Scatter:
		return comm.ScatterOp(send, recv, req.Root)
	}
	return comm.BarrierOp()
}

// matrixCase is one collective call checked on every rank against the reference.
type matrixCase struct {
	req     plan.Request
	dt      reduce.DType
	op      reduce.Op
	inPlace bool
}

func (m matrixCase) String() string {
	return fmt.Sprintf("%s/n%d/count%d/%s/%s/root%d/inplace=%v", m.req.Coll, m.req.Ranks, m.req.Count, m.dt, m.op, m.req.Root, m.inPlace)
}

// runCase runs one case on the group and checks every rank's output.
func runCase(t *testing.T, comms []*comm.Comm, m matrixCase, rng *rand.Rand) {
	t.Helper()
	n := len(comms)
	m.req.Ranks = n
	m.req.ElemSize = m.dt.Size()
	in := make([][]int64, n)
	for r := range in {
		inLen, _ := m.req.Sizes(r)
		if inLen > 0 {
			in[r] = values(rng, m.dt, m.op, inLen)
		}
	}
	want := reference(m.req, m.op, m.dt, in)
	outs := make([][]byte, n)
	ops := make([]comm.Operation, n)
	for r := range comms {
		send, recv, out := buffers(t, m.req, r, m.dt, encode(m.dt, toFloat(in[r])), m.inPlace)
		outs[r], ops[r] = out, operation(m.req, send, recv, m.op)
	}
	errs := each(comms, func(c *comm.Comm) error {
		return c.Start(context.Background(), ops[c.Rank()]).Wait()
	})
	for r := range comms {
		require.NoError(t, errs[r], "%v rank %d", m, r)
		require.Equal(t, len(want[r]), len(outs[r]), "%v rank %d", m, r)
		if len(want[r]) > 0 {
			require.Equal(t, want[r], outs[r], "%v rank %d", m, r)
		}
	}
}

// counts returns the counts of the matrix for n ranks.
func counts(n int) []int {
	return []int{0, 1, n - 1, n, n + 1, 1009}
}

// TestMatrix runs every collective with every algorithm over ranks 1-9, 16 and 33, counts 0, 1,
// n-1, n, n+1 and a prime, in place and out of place, and compares each rank's result with a
// naive reference bit for bit. Reducing collectives run every dtype × op on up to 9 ranks, and a
// sample of them beyond; a large count (about 1M elements) runs on 2 and 8 ranks. With -short
// (which the race-detector run of scripts/test.sh uses) it runs 1, 2, 3, 5 and 8 ranks and no
// large count.
func TestMatrix(t *testing.T) {
	ranks := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33}
	if testing.Short() {
		ranks = []int{1, 2, 3, 5, 8}
	}
	for _, n := range ranks {
		t.Run(fmt.Sprintf("n%d", n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			for _, coll := range plan.Collectives() {
				if coll == plan.Barrier {
					continue
				}
				for _, a := range algos.List(coll) {
					comms := group(t, n, comm.Config{Algorithms: map[string]string{coll.String(): a.Name()}})
					for _, m := range matrixCases(coll, n, rng) {
						runCase(t, comms, m, rng)
					}
				}
			}
		})
	}
}

func matrixCases(coll plan.Collective, n int, rng *rand.Rand) []matrixCase {
	dts := reduce.DTypes()
	ops := reduce.Ops()
	if !coll.Reduces() {
		ops = []reduce.Op{reduce.Sum}
	}
	if n > 9 {
		dts = []reduce.DType{reduce.Int8, reduce.BFloat16, reduce.Float32}
	}
	var out []matrixCase
	for _, count := range counts(n) {
		for _, dt := range dts {
			for _, op := range ops {
				for _, inPlace := range []bool{false, true} {
					root := 0
					if coll.Rooted() {
						root = rng.IntN(n)
					}
					out = append(out, matrixCase{
						req: plan.Request{Coll: coll, Count: count, Root: root},
						dt:  dt, op: op, inPlace: inPlace,
					})
				}
			}
		}
	}
	if (n == 2 || n == 8) && !testing.Short() {
		large := 1 << 20 // about 1M elements per rank's largest buffer
		if coll == plan.AllGather || coll == plan.ReduceScatter || coll == plan.AllToAll || coll == plan.Gather || coll == plan.Scatter {
			large /= n
		}
		for _, inPlace := range []bool{false, true} {
			out = append(out, matrixCase{req: plan.Request{Coll: coll, Count: large + 3, Root: n - 1}, dt: reduce.Float32, op: reduce.Sum, inPlace: inPlace})
		}
	}
	return out
}
