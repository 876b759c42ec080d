package algos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
)

func TestLinearScatter(t *testing.T) {
	forEachTrimmedCase(t, plan.Scatter, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "linear")
		for r := range req.Ranks {
			want := int64(0)
			if r == req.Root {
				want = int64((req.Ranks - 1) * req.Count)
			}
			require.Equal(t, want, res.Sent[r], "rank %d elements sent", r)
		}
		if req.Count > 0 && req.Ranks > 1 {
			require.Equal(t, 1, res.Rounds)
		}
	})
}

func TestBinomialScatter(t *testing.T) {
	forEachTrimmedCase(t, plan.Scatter, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "binomial")
		n := req.Ranks
		for r := range n {
			v := (r - req.Root + n) % n
			want := int64(req.Count * (binomialSize(v, n) - 1))
			require.Equal(t, want, res.Sent[r], "rank %d elements sent", r)
		}
		if req.Count > 0 {
			require.Equal(t, floorLog2(n), res.Rounds)
		}
	})
}
