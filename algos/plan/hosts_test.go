package plan

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHostsZeroValueIsOneHost(t *testing.T) {
	var h Hosts
	require.True(t, h.IsZero())
	require.Equal(t, 0, h.Len())
	require.Equal(t, 1, h.Count())
	require.Equal(t, 0, h.Of(0))
	require.Equal(t, 0, h.Of(41), "every rank is on host 0")
	require.Nil(t, h.Slice())
	require.Equal(t, "[one host]", h.String())

	empty, err := NewHosts(nil)
	require.NoError(t, err)
	require.Equal(t, h, empty)
	empty, err = NewHosts([]int{})
	require.NoError(t, err)
	require.Equal(t, h, empty)
}

func TestNewHosts(t *testing.T) {
	in := []int{1, 0, 2, 1, 0}
	h, err := NewHosts(in)
	require.NoError(t, err)
	require.False(t, h.IsZero())
	require.Equal(t, 5, h.Len())
	require.Equal(t, 3, h.Count())
	for r, want := range in {
		require.Equal(t, want, h.Of(r), "rank %d", r)
	}
	require.Equal(t, -1, h.Of(5))
	require.Equal(t, -1, h.Of(-1))
	require.Equal(t, in, h.Slice())
	require.Equal(t, "[1 0 2 1 0]", h.String())

	in[0] = 2 // NewHosts copied its argument
	require.Equal(t, 1, h.Of(0))

	// Equal assignments give equal values, usable as map keys, as Request is.
	again, err := NewHosts([]int{1, 0, 2, 1, 0})
	require.NoError(t, err)
	require.True(t, h == again)
	seen := map[Request]bool{{Coll: AllReduce, Ranks: 5, ElemSize: 4, Hosts: h}: true}
	require.True(t, seen[Request{Coll: AllReduce, Ranks: 5, ElemSize: 4, Hosts: again}])
	require.False(t, seen[Request{Coll: AllReduce, Ranks: 5, ElemSize: 4}])

	big := make([]int, 1000)
	for r := range big {
		big[r] = r
	}
	h, err = NewHosts(big)
	require.NoError(t, err)
	require.Equal(t, 1000, h.Count())
	require.Equal(t, 999, h.Of(999))
}

func TestNewHostsRejects(t *testing.T) {
	for _, bad := range [][]int{
		{-1, 0},
		{0, 2},       // host 1 missing
		{1, 1},       // host 0 missing
		{0, 0, 5},    // beyond the ranks
		{3, 2, 1, 4}, // host 0 missing
	} {
		_, err := NewHosts(bad)
		require.Error(t, err, "%v", bad)
		require.Contains(t, err.Error(), "plan: ")
	}
}

func TestRequestValidateHosts(t *testing.T) {
	h, err := NewHosts([]int{0, 0, 1, 1})
	require.NoError(t, err)
	req := Request{Coll: AllReduce, Ranks: 4, Count: 8, ElemSize: 4, Hosts: h}
	require.NoError(t, req.Validate())
	req.Ranks = 5
	require.ErrorContains(t, req.Validate(), "hosts describe 4 ranks of 5")
	req.Ranks = 3
	require.Error(t, req.Validate())
	req.Hosts = Hosts{}
	require.NoError(t, req.Validate(), "the zero value fits any number of ranks")
}
