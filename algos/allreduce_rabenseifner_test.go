package algos_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/simulate"
)

// hdSent is the byte formula of the halving-doubling all-reduce:
// (c - b_r) + Σ_k |W_k(r)| + c[r < e] for r < p, c for the extra ranks.
func hdSent(req plan.Request) []int64 {
	n, c := req.Ranks, req.Count
	p, log := pow2Below(n)
	blocks := chunkSizes(c, p)
	sent := make([]int64, n)
	for r := range n {
		if r >= p {
			sent[r] = int64(c)
			continue
		}
		s := c - blocks[r]
		for k := range log {
			lo := r >> k << k
			for j := lo; j < lo+1<<k; j++ {
				s += blocks[j]
			}
		}
		if r < n-p {
			s += c
		}
		sent[r] = int64(s)
	}
	return sent
}

func TestHalvingDoublingAllReduce(t *testing.T) {
	forEachTrimmedCase(t, plan.AllReduce, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "halving-doubling")
		require.Equal(t, hdSent(req), res.Sent, "elements sent")
		p, log := pow2Below(req.Ranks)
		if p == req.Ranks && req.Count >= p {
			require.Equal(t, 2*log, res.Rounds)
		}
		if p == req.Ranks && req.Count%p == 0 {
			require.Equal(t, int64(2*req.Count*(p-1)/p), res.Sent[0])
		}
	})
}

// TestHalvingDoublingBitwise reduces with an op that is neither commutative nor associative and
// requires the same bits on every rank: each element is reduced at one rank, then copied.
func TestHalvingDoublingBitwise(t *testing.T) {
	for _, n := range []int{2, 3, 5, 6, 8, 13, 16} {
		for _, inPlace := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d/inplace=%v", n, inPlace), func(t *testing.T) {
				req := testReq(plan.AllReduce, n, 301, 0, inPlace)
				s, err := algos.Build(req, "halving-doubling", algos.Model{})
				require.NoError(t, err)
				res, err := simulate.Run(s, makeInputs(req, 9), treeFold)
				require.NoError(t, err)
				requireSameOut(t, res)
			})
		}
	}
}

func TestHalvingDoublingNoScratch(t *testing.T) {
	s, err := algos.Build(testReq(plan.AllReduce, 12, 1000, 0, true), "halving-doubling", algos.Model{})
	require.NoError(t, err)
	for r, p := range s.Progs {
		require.Zero(t, p.Scratch, "rank %d", r)
	}
}
