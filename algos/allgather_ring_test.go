package algos_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

func TestAllGatherRing(t *testing.T) {
	forEachCase(t, plan.AllGather, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "ring")
		n, c := req.Ranks, req.Count
		wantMsgs, wantRounds := 0, 0
		if c > 0 {
			wantMsgs, wantRounds = n-1, n-1
		}
		for r := range n {
			require.Equal(t, int64((n-1)*c), res.Sent[r], "rank %d elements sent", r)
			require.Equal(t, int64((n-1)*c), res.Recvd[r], "rank %d elements received", r)
			require.Equal(t, wantMsgs, res.Msgs[r], "rank %d messages", r)
		}
		require.Equal(t, wantRounds, res.Rounds)
	})
}

func TestAllGatherRingCost(t *testing.T) {
	a, err := algos.Lookup(plan.AllGather, "ring")
	require.NoError(t, err)
	m := algos.Model{Latency: 1, Bandwidth: 1, ReduceBandwidth: 1}
	require.Equal(t, 3.0+3*5*8, a.Cost(testReq(plan.AllGather, 4, 5, 0, false), m))
	require.Equal(t, 0.0, a.Cost(testReq(plan.AllGather, 1, 5, 0, false), m))
	require.True(t, math.IsInf(a.Cost(testReq(plan.AllReduce, 4, 5, 0, false), m), 1))
}
