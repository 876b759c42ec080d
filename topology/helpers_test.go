package topology

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// peersOn returns one peer per rank, rank r on host hosts[r].
func peersOn(hosts ...string) []Peer {
	peers := make([]Peer, len(hosts))
	for r, h := range hosts {
		peers[r] = Peer{Rank: r, Host: h, Hostname: h, PID: 100 + r, NUMA: []int{r % 2}, CPUs: NewCPUSet(2*r, 2*r+1)}
	}
	return peers
}

// build builds the system of peersOn(hosts...) and fails the test on an error.
func build(t *testing.T, opts Options, hosts ...string) *System {
	t.Helper()
	s, err := Build(peersOn(hosts...), opts)
	require.NoError(t, err)
	return s
}

// randomHosts assigns n ranks to at most h pretend hosts at random.
func randomHosts(rng *rand.Rand, n, h int) []string {
	hosts := make([]string, n)
	for r := range hosts {
		hosts[r] = string(rune('A' + rng.IntN(h)))
	}
	return hosts
}

// shuffled returns the peers in a random order (Build must not care).
func shuffled(rng *rand.Rand, peers []Peer) []Peer {
	rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	return peers
}
