package algos_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/simulate"
)

// reduceSent is the byte formula of the binomial and chain reduces: Count from every rank but
// the root.
func reduceSent(req plan.Request) []int64 {
	sent := make([]int64, req.Ranks)
	for r := range sent {
		if r != req.Root {
			sent[r] = int64(req.Count)
		}
	}
	return sent
}

func TestBinomialReduce(t *testing.T) {
	forEachTrimmedCase(t, plan.Reduce, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "binomial")
		require.Equal(t, reduceSent(req), res.Sent, "elements sent")
		if req.Count > 0 {
			require.Equal(t, floorLog2(req.Ranks), res.Rounds)
		}
	})
}

// TestBinomialReduceOrder requires the documented order with an op that is neither commutative
// nor associative: acc(v) = own, then the children v+1, v+2, v+4, ... in that order.
func TestBinomialReduceOrder(t *testing.T) {
	for _, n := range []int{2, 3, 5, 8, 11} {
		for _, root := range testRoots(n) {
			t.Run(fmt.Sprintf("n=%d/root=%d", n, root), func(t *testing.T) {
				req := testReq(plan.Reduce, n, 40, root, false)
				s, err := algos.Build(req, "binomial", algos.Model{})
				require.NoError(t, err)
				in := makeInputs(req, 4)
				res, err := simulate.Run(s, in, treeFold)
				require.NoError(t, err)
				var acc func(v int) []byte
				acc = func(v int) []byte {
					out := append([]byte(nil), in[(v+root)%n]...)
					for m := 1; v+m < n && (v == 0 || m < v&-v); m <<= 1 {
						treeFold(out, acc(v+m))
					}
					return out
				}
				require.True(t, bytes.Equal(acc(0), res.Out[root]))
			})
		}
	}
}
