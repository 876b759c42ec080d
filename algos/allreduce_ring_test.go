package algos_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

func TestAllReduceRing(t *testing.T) {
	forEachCase(t, plan.AllReduce, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "ring")
		n := req.Ranks
		for r := 1; r < n; r++ {
			require.True(t, bytes.Equal(res.Out[0], res.Out[r]), "rank %d differs from rank 0", r)
		}
		sizes := chunkSizes(req.Count, n)
		for r := range n {
			sent, recvd := int64(0), int64(0)
			if n > 1 {
				// Rank r sends every chunk but r in the reduce-scatter and every chunk but r+1
				// in the all-gather; it receives every chunk but r-1, then every chunk but r.
				sent = int64(2*req.Count - sizes[r] - sizes[(r+1)%n])
				recvd = int64(2*req.Count - sizes[(r+n-1)%n] - sizes[r])
			}
			require.Equal(t, sent, res.Sent[r], "rank %d elements sent", r)
			require.Equal(t, recvd, res.Recvd[r], "rank %d elements received", r)
		}
		if req.Count%n == 0 {
			require.Equal(t, int64(2*(n-1)*req.Count/n), res.Sent[0])
		}
		wantRounds := 0
		if n > 1 && req.Count > 0 {
			wantRounds = 2 * (n - 1)
		}
		require.Equal(t, wantRounds, res.Rounds)
		if req.Count >= n {
			for r := range n {
				require.Equal(t, 2*(n-1), res.Msgs[r], "rank %d messages", r)
			}
		}
	})
}

func TestAllReduceRingSkipsEmptyChunks(t *testing.T) {
	req := testReq(plan.AllReduce, 5, 2, 0, false)
	s, err := algos.Build(req, "ring", algos.Model{})
	require.NoError(t, err)
	for r, p := range s.Progs {
		for i, st := range p.Steps {
			require.NotZero(t, max(st.Src.Len, st.Dst.Len), "rank %d step %d: %v", r, i, st)
		}
	}
	s, err = algos.Build(testReq(plan.AllReduce, 5, 0, 0, true), "ring", algos.Model{})
	require.NoError(t, err)
	for _, p := range s.Progs {
		require.Empty(t, p.Steps)
	}
}

func TestAllReduceRingCost(t *testing.T) {
	a, err := algos.Lookup(plan.AllReduce, "ring")
	require.NoError(t, err)
	m := algos.Model{Latency: 1, Bandwidth: 1, ReduceBandwidth: 1}
	// 4 ranks, 8 elements of 4 bytes: chunks of 8 bytes, 6 hops, 48 bytes moved, 24 reduced.
	req := testReq(plan.AllReduce, 4, 8, 0, false)
	req.ElemSize = 4
	require.Equal(t, 6.0+48+24, a.Cost(req, m))
	// 9 elements: the largest chunk (3 elements, 12 bytes) sets the pace.
	req.Count = 9
	require.Equal(t, 6.0+72+36, a.Cost(req, m))
	require.Equal(t, 0.0, a.Cost(testReq(plan.AllReduce, 1, 8, 0, false), m))
	require.Equal(t, 0.0, a.Cost(testReq(plan.AllReduce, 4, 0, 0, false), m))
	require.True(t, math.IsInf(a.Cost(testReq(plan.AllGather, 4, 8, 0, false), m), 1))
}
