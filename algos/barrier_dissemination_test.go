package algos_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

func TestDisseminationBarrier(t *testing.T) {
	forEachTrimmedCase(t, plan.Barrier, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "dissemination")
		for r := range req.Ranks {
			require.Equal(t, ceilLog2(req.Ranks), res.Msgs[r], "rank %d messages", r)
			require.Zero(t, res.Sent[r])
		}
		require.Equal(t, ceilLog2(req.Ranks), res.Rounds)
	})
}

// TestDisseminationBarrierSynchronizes follows what each rank can know when it ends: a message
// carries everything its sender knew when it posted it, so a rank's program ending means every
// rank has at least started only if, at its end, it knows of all n ranks.
func TestDisseminationBarrierSynchronizes(t *testing.T) {
	for n := 1; n <= 40; n++ {
		s, err := algos.Build(testReq(plan.Barrier, n, 0, 0, false), "dissemination", algos.Model{})
		require.NoError(t, err)
		known := make([]map[int]bool, n)
		pc := make([]int, n)
		queues := map[[2]int][]map[int]bool{}
		for r := range n {
			known[r] = map[int]bool{r: true}
		}
		for moved := true; moved; {
			moved = false
			for r := range n {
				for pc[r] < len(s.Progs[r].Steps) {
					st := s.Progs[r].Steps[pc[r]]
					key := [2]int{st.Peer, r}
					if st.Op == plan.Send {
						cp := map[int]bool{}
						for k := range known[r] {
							cp[k] = true
						}
						queues[[2]int{r, st.Peer}] = append(queues[[2]int{r, st.Peer}], cp)
					} else {
						if len(queues[key]) == 0 {
							break
						}
						for k := range queues[key][0] {
							known[r][k] = true
						}
						queues[key] = queues[key][1:]
					}
					pc[r]++
					moved = true
				}
			}
		}
		for r := range n {
			require.Len(t, s.Progs[r].Steps, pc[r], "n=%d rank %d stuck", n, r)
			require.Len(t, known[r], n, "n=%d: rank %d ends knowing %d ranks", n, r, len(known[r]))
		}
	}
}

// TestCostShapes checks the algorithms of the tree, doubling, chain, binomial, pairwise, linear and
// dissemination files: finite, non-negative costs that do not
// fall as the count grows, and +Inf for another collective.
func TestCostShapes(t *testing.T) {
	algs := []struct {
		coll plan.Collective
		name string
	}{
		{plan.AllReduce, "tree"}, {plan.AllReduce, "recursive-doubling"}, {plan.AllReduce, "halving-doubling"},
		{plan.Broadcast, "chain"}, {plan.Broadcast, "binomial"},
		{plan.Reduce, "binomial"}, {plan.Reduce, "chain"},
		{plan.AllToAll, "pairwise"},
		{plan.Gather, "linear"}, {plan.Gather, "binomial"},
		{plan.Scatter, "linear"}, {plan.Scatter, "binomial"},
		{plan.Barrier, "dissemination"},
	}
	for _, a := range algs {
		alg, err := algos.Lookup(a.coll, a.name)
		require.NoError(t, err)
		require.Equal(t, a.name, alg.Name())
		require.Equal(t, a.coll, alg.Coll())
		for _, n := range []int{1, 2, 7, 16} {
			prev := 0.0
			counts := []int{0, 1, 1000, 1 << 20}
			if a.coll == plan.Barrier {
				counts = []int{0}
			}
			for _, c := range counts {
				req := testReq(a.coll, n, c, n-1, false)
				if !a.coll.Rooted() {
					req.Root = 0
				}
				cost := alg.Cost(req, algos.Model{})
				require.False(t, cost < 0 || cost != cost || cost > 1e9, "%s %s n=%d count=%d: cost %v", a.coll, a.name, n, c, cost)
				require.GreaterOrEqual(t, cost, prev, "%s %s n=%d count=%d", a.coll, a.name, n, c)
				prev = cost
			}
		}
		other := plan.AllGather
		require.Equal(t, math.Inf(1), alg.Cost(testReq(other, 4, 10, 0, false), algos.Model{}), "%s %s", a.coll, a.name)
		_, err = alg.Build(testReq(other, 4, 10, 0, false))
		require.Error(t, err)
	}
}

func TestAllReduceCostPicksBySize(t *testing.T) {
	m := algos.Model{}
	rd, err := algos.Lookup(plan.AllReduce, "recursive-doubling")
	require.NoError(t, err)
	hd, err := algos.Lookup(plan.AllReduce, "halving-doubling")
	require.NoError(t, err)
	small := testReq(plan.AllReduce, 16, 1, 0, false)
	large := testReq(plan.AllReduce, 16, 1<<24, 0, false)
	require.Less(t, rd.Cost(small, m), hd.Cost(small, m), "small messages: recursive doubling")
	require.Less(t, hd.Cost(large, m), rd.Cost(large, m), "large messages: halving-doubling")
}
