package algos_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/simulate"
)

func TestChainReduce(t *testing.T) {
	forEachTrimmedCase(t, plan.Reduce, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "chain")
		require.Equal(t, reduceSent(req), res.Sent, "elements sent")
		if req.Count > 0 {
			require.Equal(t, req.Ranks-1, res.Rounds)
		}
	})
}

// TestChainReducePieces cuts the buffer into many pieces (64 KiB elements) and reduces with an op
// that is neither commutative nor associative: the root must end with x_0 op (x_1 op (... op
// x_{n-1})), ranks taken from the root.
func TestChainReducePieces(t *testing.T) {
	for _, n := range []int{2, 3, 6} {
		for _, count := range []int{3, 17} {
			for _, root := range testRoots(n) {
				req := plan.Request{Coll: plan.Reduce, Ranks: n, Count: count, ElemSize: 64 << 10, Root: root}
				s, err := algos.Build(req, "chain", algos.Model{})
				require.NoError(t, err)
				in := makeInputs(req, 6)
				res, err := simulate.Run(s, in, treeFold)
				require.NoError(t, err)
				require.Equal(t, reduceSent(req), res.Sent)
				require.Equal(t, min(count, 16), res.Msgs[(root+n-1)%n], "pieces sent by the chain's first rank")
				want := append([]byte(nil), in[(root+n-1)%n]...)
				for v := n - 2; v >= 0; v-- {
					acc := append([]byte(nil), in[(root+v)%n]...)
					treeFold(acc, want)
					want = acc
				}
				require.True(t, bytes.Equal(want, res.Out[root]), "n=%d count=%d root=%d", n, count, root)
			}
		}
	}
}
