package topology

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// distinct counts the different values.
func distinct(v []string) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return len(slices.Compact(s))
}

func TestRingRandomAssignments(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 500 {
		n := 1 + rng.IntN(40)
		hosts := randomHosts(rng, n, 1+rng.IntN(8))
		s, err := Build(shuffled(rng, peersOn(hosts...)), Options{})
		require.NoError(t, err)
		ring := s.Ring()

		// Every rank exactly once.
		got := slices.Clone(ring)
		slices.Sort(got)
		want := make([]int, n)
		for r := range want {
			want[r] = r
		}
		require.Equal(t, want, got, "trial %d: %v", trial, hosts)

		// Crossings, counted here from the pretend hosts rather than by the System.
		h := distinct(hosts)
		crossings := 0
		for i, r := range ring {
			if hosts[r] != hosts[ring[(i+1)%n]] {
				crossings++
			}
		}
		if h == 1 {
			require.Zero(t, crossings)
		} else {
			// Each host is entered at least once, so exactly h crossings means each host's
			// ranks form one run: host-mates are adjacent.
			require.Equal(t, h, crossings, "trial %d: hosts %v ring %v", trial, hosts, ring)
		}
		require.Equal(t, crossings, s.Crossings(ring))

		// Deterministic shape: hosts by lowest rank, ranks ascending inside.
		for i := 1; i < len(s.Hosts); i++ {
			require.Less(t, s.Hosts[i-1].Ranks[0], s.Hosts[i].Ranks[0])
		}
		for _, host := range s.Hosts {
			require.True(t, slices.IsSorted(host.Ranks))
		}
		require.Equal(t, 0, ring[0])
	}
}

func TestRingExamples(t *testing.T) {
	require.Equal(t, []int{0, 1, 2, 3}, build(t, Options{}, "a", "a", "b", "b").Ring())
	require.Equal(t, []int{0, 2, 1, 3}, build(t, Options{}, "a", "b", "a", "b").Ring())
	require.Equal(t, []int{0, 3, 1, 4, 2}, build(t, Options{}, "x", "y", "z", "x", "y").Ring())
	require.Equal(t, []int{0}, build(t, Options{}, "solo").Ring())
}

func TestCrossings(t *testing.T) {
	s := build(t, Options{}, "a", "b", "a", "b")
	require.Equal(t, 4, s.Crossings([]int{0, 1, 2, 3}), "rank order alternates hosts")
	require.Equal(t, 2, s.Crossings(s.Ring()))
	require.Equal(t, 0, s.Crossings(nil))
	require.Equal(t, 2, s.Crossings([]int{0, 9}), "an unknown rank counts as a crossing")
}
