package algos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

func TestPairwiseAllToAll(t *testing.T) {
	forEachTrimmedCase(t, plan.AllToAll, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "pairwise")
		n, c := req.Ranks, req.Count
		for r := range n {
			require.Equal(t, int64((n-1)*c), res.Sent[r], "rank %d elements sent", r)
			require.Equal(t, int64((n-1)*c), res.Recvd[r], "rank %d elements received", r)
		}
		if c > 0 {
			require.Equal(t, n-1, res.Rounds)
		}
	})
}

func TestPairwiseAllToAllScratch(t *testing.T) {
	for _, n := range []int{2, 5, 8} {
		out, err := algos.Build(testReq(plan.AllToAll, n, 10, 0, false), "pairwise", algos.Model{})
		require.NoError(t, err)
		in, err := algos.Build(testReq(plan.AllToAll, n, 10, 0, true), "pairwise", algos.Model{})
		require.NoError(t, err)
		for r := range n {
			require.Zero(t, out.Progs[r].Scratch)
			require.Equal(t, n/2*10, in.Progs[r].Scratch)
		}
	}
}
