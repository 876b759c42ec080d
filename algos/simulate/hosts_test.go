package simulate

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
)

// chainSchedule is a broadcast over four ranks down the chain 0 -> 1 -> 2 -> 3 of count elements
// of 8 bytes, with rank 1 sending its part twice, in two halves.
func chainSchedule(count int) *plan.Schedule {
	whole := plan.Region{Buf: plan.Out, Len: count}
	lo := plan.Region{Buf: plan.Out, Len: count / 2}
	hi := plan.Region{Buf: plan.Out, Off: count / 2, Len: count - count/2}
	return &plan.Schedule{
		Algo: "chain",
		Req:  plan.Request{Coll: plan.Broadcast, Ranks: 4, Count: count, ElemSize: 8},
		Progs: []plan.Program{
			{Steps: []plan.Step{
				{Op: plan.Send, Peer: 1, Src: plan.Region{Buf: plan.In, Len: count}},
				{Op: plan.Copy, Src: plan.Region{Buf: plan.In, Len: count}, Dst: whole},
			}},
			{Steps: []plan.Step{
				{Op: plan.Recv, Peer: 0, Dst: whole},
				{Op: plan.Send, Peer: 2, Src: lo},
				{Op: plan.Send, Peer: 2, Src: hi},
			}},
			{Steps: []plan.Step{
				{Op: plan.Recv, Peer: 1, Dst: lo},
				{Op: plan.Recv, Peer: 1, Dst: hi},
				{Op: plan.Send, Peer: 3, Src: whole},
			}},
			{Steps: []plan.Step{{Op: plan.Recv, Peer: 2, Dst: whole}}},
		},
	}
}

func TestCrossHostTraffic(t *testing.T) {
	const count = 5
	res, err := Check(chainSchedule(count))
	require.NoError(t, err)
	require.Equal(t, 8, res.ElemSize)
	require.Equal(t, map[Pair]int64{{0, 1}: count, {1, 2}: count, {2, 3}: count}, res.PairSent)

	require.Zero(t, res.CrossHostBytes(plan.Hosts{}), "one host")
	require.Empty(t, res.CrossHostLinks(plan.Hosts{}))

	split, err := plan.NewHosts([]int{0, 0, 1, 1}) // the chain crosses once, 1 -> 2
	require.NoError(t, err)
	require.Equal(t, int64(count*8), res.CrossHostBytes(split))
	require.Equal(t, []Pair{{1, 2}}, res.CrossHostLinks(split))

	apart, err := plan.NewHosts([]int{0, 1, 0, 1}) // every hop crosses
	require.NoError(t, err)
	require.Equal(t, int64(3*count*8), res.CrossHostBytes(apart))
	require.Equal(t, []Pair{{0, 1}, {1, 2}, {2, 3}}, res.CrossHostLinks(apart))
}

func TestCrossHostTrafficEmpty(t *testing.T) {
	res, err := Check(chainSchedule(0))
	require.NoError(t, err)
	require.Empty(t, res.PairSent, "zero-length messages carry no data")
	h, err := plan.NewHosts([]int{0, 1, 2, 3})
	require.NoError(t, err)
	require.Zero(t, res.CrossHostBytes(h))
	require.Empty(t, res.CrossHostLinks(h))
}
