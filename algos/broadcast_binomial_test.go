package algos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
)

// binomialChildren returns the number of children of relative rank v in the binomial tree over
// n ranks: v+2^j < n for every 2^j below v's lowest set bit (every 2^j < n at the root).
func binomialChildren(v, n int) int {
	k := 0
	for m := 1; v+m < n; m <<= 1 {
		if v != 0 && m >= v&-v {
			break
		}
		k++
	}
	return k
}

// binomialSize returns the size of relative rank v's subtree: min(lowbit(v), n-v), n at the root.
func binomialSize(v, n int) int {
	if v == 0 {
		return n
	}
	return min(v&-v, n-v)
}

func TestBinomialBroadcast(t *testing.T) {
	forEachTrimmedCase(t, plan.Broadcast, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "binomial")
		n := req.Ranks
		want := make([]int64, n)
		for r := range n {
			want[r] = int64(req.Count * binomialChildren((r-req.Root+n)%n, n))
		}
		require.Equal(t, want, res.Sent, "elements sent")
		if req.Count > 0 {
			require.Equal(t, floorLog2(n), res.Rounds)
		}
	})
}

func TestBinomialTreeShape(t *testing.T) {
	// Children counts sum to n-1 and subtree sizes add up.
	for n := 1; n <= 40; n++ {
		total := 0
		for v := range n {
			total += binomialChildren(v, n)
		}
		require.Equal(t, n-1, total, "n=%d", n)
		require.Equal(t, 7, binomialChildren(0, 100))
		require.Equal(t, 2, binomialChildren(4, 7)) // 5, 6
	}
}
