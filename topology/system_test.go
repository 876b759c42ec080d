package topology

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildGroupsHosts(t *testing.T) {
	s := build(t, Options{}, "b", "a", "b", "c", "a")
	require.Equal(t, 5, s.Size())
	require.Equal(t, []Host{
		{ID: "b", Hostname: "b", Ranks: []int{0, 2}},
		{ID: "a", Hostname: "a", Ranks: []int{1, 4}},
		{ID: "c", Hostname: "c", Ranks: []int{3}},
	}, s.Hosts)
	require.Equal(t, []int{0, 1, 0, 2, 1}, s.HostOf())
	for r, p := range s.Peers {
		require.Equal(t, r, p.Rank)
	}
	h := s.HostOf()
	h[0] = 9
	require.Equal(t, 0, s.HostOf()[0], "HostOf returns a copy")
}

func TestBuildIgnoresInputOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hosts := randomHosts(rng, 12, 4)
	want := build(t, Options{}, hosts...)
	for range 20 {
		s, err := Build(shuffled(rng, peersOn(hosts...)), Options{})
		require.NoError(t, err)
		require.Equal(t, want.Hosts, s.Hosts)
		require.Equal(t, want.Peers, s.Peers)
		require.Equal(t, want.Ring(), s.Ring())
	}
}

func TestBuildErrors(t *testing.T) {
	withRanks := func(ranks ...int) []Peer {
		peers := make([]Peer, len(ranks))
		for i, r := range ranks {
			peers[i] = Peer{Rank: r, Host: "h"}
		}
		return peers
	}
	cases := []struct {
		peers []Peer
		is    error
		msg   string
	}{
		{nil, ErrPeerSet, "no peers"},
		{withRanks(0, 1, 3), ErrPeerSet, "peer 2 has rank 3, but there are 3 peers (ranks 0..2)"},
		{withRanks(0, 2, 2), ErrPeerSet, "rank 2 appears twice (and so ranks [1] are missing)"},
		{withRanks(1, 1, 1, 1), ErrPeerSet, "rank 1 appears twice (and so ranks [0 2 3] are missing)"},
		{withRanks(0, -1), ErrMalformed, "peer 1: chorus: topology: malformed peer description: rank -1 out of range"},
		{[]Peer{{Rank: 0}}, ErrMalformed, "no host identity"},
	}
	for _, c := range cases {
		_, err := Build(c.peers, Options{})
		require.ErrorIs(t, err, c.is, c.msg)
		require.ErrorContains(t, err, c.msg)
	}
	many := withRanks(make([]int, 20)...)
	_, err := Build(many, Options{})
	require.ErrorContains(t, err, "and 11 more are missing")
}

func TestTransportMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		n := 1 + rng.IntN(12)
		hosts := randomHosts(rng, n, 1+rng.IntN(4))
		s := build(t, Options{}, hosts...)
		m := s.Transports()
		require.Len(t, m, n)
		for a := range n {
			require.Len(t, m[a], n)
			for b := range n {
				require.Equal(t, m[a][b], m[b][a], "symmetric")
				require.Equal(t, m[a][b], s.Transport(a, b))
				if hosts[a] == hosts[b] {
					require.Equal(t, TransportSHM, m[a][b], "ranks %d and %d share host %s", a, b, hosts[a])
				} else {
					require.Equal(t, TransportQUIC, m[a][b], "ranks %d and %d are on %s and %s", a, b, hosts[a], hosts[b])
				}
			}
		}
	}
}

func TestTransportOutOfRange(t *testing.T) {
	s := build(t, Options{}, "a", "b")
	require.Equal(t, "", s.Transport(0, 2))
	require.Equal(t, "", s.Transport(-1, 0))
	require.False(t, s.SameHost(0, 5))
}

func TestTransportForced(t *testing.T) {
	s := build(t, Options{Transport: "quic"}, "a", "a", "b")
	require.Equal(t, "quic", s.Transport(0, 1), "forced even inside a host")
	require.Equal(t, "quic", s.Transport(1, 2))

	s = build(t, Options{Transport: "shm"}, "a", "a", "a")
	require.Equal(t, "shm", s.Transport(0, 2))

	_, err := Build(peersOn("a", "a", "b"), Options{Transport: "shm"})
	require.ErrorIs(t, err, ErrTransport)
	require.ErrorContains(t, err, `ranks 0 and 2 are on hosts "a" and "b"`)

	one := peersOn("a", "a", "a")
	for i := range one {
		one[i].PID = 7
	}
	s, err = Build(one, Options{Transport: "inproc"})
	require.NoError(t, err)
	require.Equal(t, "inproc", s.Transport(1, 2))
	one[2].PID = 8
	_, err = Build(one, Options{Transport: "inproc"})
	require.ErrorIs(t, err, ErrTransport)
	require.ErrorContains(t, err, "ranks 0 and 2 are pid 7")
}

func TestOversubscribed(t *testing.T) {
	withCPUs := func(hosts []string, cpus ...CPUSet) *System {
		peers := peersOn(hosts...)
		for r := range peers {
			peers[r].CPUs = cpus[r]
		}
		s, err := Build(peers, Options{})
		require.NoError(t, err)
		return s
	}
	// peersOn gives every rank two CPUs of its own.
	require.False(t, build(t, Options{}, "a", "a", "b").Oversubscribed())
	two := NewCPUSet(0, 1)
	// Three ranks that share two CPUs on host a.
	require.True(t, withCPUs([]string{"b", "a", "a", "a"}, two, two, two, two).Oversubscribed())
	// Two ranks on two CPUs, each bound to one; three ranks bound to two CPUs.
	require.False(t, withCPUs([]string{"a", "a"}, NewCPUSet(0), NewCPUSet(1)).Oversubscribed())
	require.True(t, withCPUs([]string{"a", "a", "a"}, NewCPUSet(0), NewCPUSet(1), NewCPUSet(1)).Oversubscribed())
	// Three ranks on two CPUs, but one rank's CPUs unknown: no claim.
	require.False(t, withCPUs([]string{"a", "a", "a"}, two, two, nil).Oversubscribed())
	// Ranks of one process (one PID) are goroutines, not processes that take turns.
	sameProcess := peersOn("a", "a", "a")
	for r := range sameProcess {
		sameProcess[r].PID, sameProcess[r].CPUs = 7, two
	}
	s, err := Build(sameProcess, Options{})
	require.NoError(t, err)
	require.False(t, s.Oversubscribed())
	// The same CPU numbers on different hosts are different CPUs.
	require.False(t, withCPUs([]string{"a", "b", "a", "b"}, two, two, two, two).Oversubscribed())
}
