package topology

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTreeRandomAssignments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 500 {
		n := 1 + rng.IntN(40)
		hosts := randomHosts(rng, n, 1+rng.IntN(8))
		s := build(t, Options{}, hosts...)
		root := rng.IntN(n)
		parent, err := s.Tree(root)
		require.NoError(t, err)
		require.Len(t, parent, n)
		require.Equal(t, -1, parent[root])

		// Every rank reaches the root, without cycles, crossing at most floor(log2 h) hosts.
		h := len(s.Hosts)
		for r := range n {
			hops, crossings := 0, 0
			for x := r; x != root; x = parent[x] {
				require.GreaterOrEqual(t, parent[x], 0, "trial %d: rank %d has no parent", trial, x)
				if hosts[x] != hosts[parent[x]] {
					crossings++
				}
				hops++
				require.LessOrEqual(t, hops, n, "trial %d: cycle above rank %d", trial, r)
			}
			require.LessOrEqual(t, crossings, bits.Len(uint(h))-1, "trial %d: rank %d", trial, r)
		}

		// Per host: exactly one rank (the leader) has a parent on another host, none on the
		// root's; every other rank hangs under its host's leader.
		for _, host := range s.Hosts {
			var up []int
			for _, r := range host.Ranks {
				if r != root && hosts[parent[r]] != hosts[r] {
					up = append(up, r)
				}
			}
			leader := host.Ranks[0]
			if hosts[root] == host.ID {
				require.Empty(t, up, "trial %d: root's host", trial)
				leader = root
			} else {
				require.Equal(t, []int{leader}, up, "trial %d: host %s", trial, host.ID)
			}
			for _, r := range host.Ranks {
				if r != leader {
					require.Equal(t, leader, parent[r], "trial %d: rank %d", trial, r)
				}
			}
		}
	}
}

func TestTreeExample(t *testing.T) {
	s := build(t, Options{}, "a", "a", "b", "b", "c", "c", "d", "e")
	parent, err := s.Tree(0)
	require.NoError(t, err)
	// Leaders 0, 2, 4, 6, 7 form the binary tree 0 -> {2, 4}, 2 -> {6, 7}.
	require.Equal(t, []int{-1, 0, 0, 2, 0, 4, 2, 2}, parent)

	parent, err = s.Tree(3)
	require.NoError(t, err)
	// Root 3 leads host b; leaders in order 3, 0, 4, 6, 7.
	require.Equal(t, []int{3, 0, 3, -1, 3, 4, 0, 0}, parent)
}

func TestTreeBadRoot(t *testing.T) {
	s := build(t, Options{}, "a", "b")
	for _, root := range []int{-1, 2} {
		_, err := s.Tree(root)
		require.ErrorIs(t, err, ErrRank)
	}
}
