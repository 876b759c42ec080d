package algos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

// The cost model picks a logarithmic-latency all-reduce for tiny messages and a bandwidth-optimal
// one (each rank sends about 2(n-1)/n of the buffer, never count·log n) for large ones.
func TestSelectBySize(t *testing.T) {
	m := algos.DefaultModel()
	for _, n := range []int{4, 8, 16} {
		small, err := algos.Select(plan.Request{Coll: plan.AllReduce, Ranks: n, Count: 16, ElemSize: 4}, m)
		require.NoError(t, err)
		require.Contains(t, []string{"recursive-doubling", "halving-doubling"}, small.Name(), "n=%d", n)
		require.NotEqual(t, "ring", small.Name(), "ring takes 2(n-1) steps for 64 bytes")

		large, err := algos.Select(plan.Request{Coll: plan.AllReduce, Ranks: n, Count: 16 << 20, ElemSize: 4}, m)
		require.NoError(t, err)
		require.NotEqual(t, "recursive-doubling", large.Name(), "n=%d: recursive doubling sends count·log n", n)
	}
	for _, n := range []int{4, 16} {
		large, err := algos.Select(plan.Request{Coll: plan.Broadcast, Ranks: n, Count: 16 << 20, ElemSize: 4}, m)
		require.NoError(t, err)
		require.Equal(t, "chain", large.Name(), "a pipelined chain moves a large broadcast in about one buffer time")
	}
}

func TestSelectIsDeterministicAndListed(t *testing.T) {
	for _, coll := range plan.Collectives() {
		list := algos.List(coll)
		require.NotEmpty(t, list, "%s has no algorithm", coll)
		req := plan.Request{Coll: coll, Ranks: 5, Count: 1000, ElemSize: 8}
		if coll == plan.Barrier {
			req.Count = 0
		}
		a, err := algos.Select(req, algos.Model{})
		require.NoError(t, err)
		b, err := algos.Select(req, algos.Model{})
		require.NoError(t, err)
		require.Equal(t, a.Name(), b.Name())
		_, err = algos.Lookup(coll, "no-such-algorithm")
		require.Error(t, err)
	}
}
