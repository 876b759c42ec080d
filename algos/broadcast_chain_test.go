package algos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
)

// chainBroadcastSent is the byte formula of the chain broadcast: Count from every rank but the
// last of the chain, root-1 mod n.
func chainBroadcastSent(req plan.Request) []int64 {
	n := req.Ranks
	sent := make([]int64, n)
	for r := range n {
		if n > 1 && r != (req.Root-1+n)%n {
			sent[r] = int64(req.Count)
		}
	}
	return sent
}

func TestChainBroadcast(t *testing.T) {
	forEachTrimmedCase(t, plan.Broadcast, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "chain")
		require.Equal(t, chainBroadcastSent(req), res.Sent, "elements sent")
		want := 0
		if req.Count > 0 {
			want = req.Ranks - 1
		}
		require.Equal(t, want, res.Rounds)
	})
}

func TestChainBroadcastPieces(t *testing.T) {
	// 64 KiB elements: one piece per element, up to 16.
	for _, n := range []int{2, 5} {
		for _, count := range []int{3, 17} {
			for _, root := range testRoots(n) {
				req := plan.Request{Coll: plan.Broadcast, Ranks: n, Count: count, ElemSize: 64 << 10, Root: root}
				res := checkWide(t, req, "chain")
				require.Equal(t, chainBroadcastSent(req), res.Sent)
				require.Equal(t, min(count, 16), res.Msgs[root], "pieces sent by the root")
			}
		}
	}
}
