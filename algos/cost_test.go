package algos_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

// The cost model picks a logarithmic-latency all-reduce for tiny messages and a bandwidth-optimal
// one (each rank sends about 2(n-1)/n of the buffer, never count·log n) for large ones.
func TestSelectBySize(t *testing.T) {
	m := algos.DefaultModel()
	for _, n := range []int{4, 8, 16} {
		small, err := algos.Select(plan.Request{Coll: plan.AllReduce, Ranks: n, Count: 16, ElemSize: 4}, m)
		require.NoError(t, err)
		require.Contains(t, []string{"recursive-doubling", "halving-doubling"}, small.Name(), "n=%d", n)
		require.NotEqual(t, "ring", small.Name(), "ring takes 2(n-1) steps for 64 bytes")

		large, err := algos.Select(plan.Request{Coll: plan.AllReduce, Ranks: n, Count: 16 << 20, ElemSize: 4}, m)
		require.NoError(t, err)
		require.NotEqual(t, "recursive-doubling", large.Name(), "n=%d: recursive doubling sends count·log n", n)
	}
	for _, n := range []int{4, 16} {
		large, err := algos.Select(plan.Request{Coll: plan.Broadcast, Ranks: n, Count: 16 << 20, ElemSize: 4}, m)
		require.NoError(t, err)
		require.Equal(t, "chain", large.Name(), "a pipelined chain moves a large broadcast in about one buffer time")
	}
}

func TestSelectIsDeterministicAndListed(t *testing.T) {
	for _, coll := range plan.Collectives() {
		list := algos.List(coll)
		require.NotEmpty(t, list, "%s has no algorithm", coll)
		req := plan.Request{Coll: coll, Ranks: 5, Count: 1000, ElemSize: 8}
		if coll == plan.Barrier {
			req.Count = 0
		}
		a, err := algos.Select(req, algos.Model{})
		require.NoError(t, err)
		b, err := algos.Select(req, algos.Model{})
		require.NoError(t, err)
		require.Equal(t, a.Name(), b.Name())
		_, err = algos.Lookup(coll, "no-such-algorithm")
		require.Error(t, err)
	}
}

// Over two hosts of four ranks a large all-reduce goes hierarchical: most of its bytes stay
// inside hosts. A small one does not (recursive doubling keeps two of its three rounds inside
// hosts), nor does any all-reduce on one host, where the hierarchy has nothing to exploit, or
// over one rank per host.
func TestSelectHierarchical(t *testing.T) {
	m := algos.DefaultModel()
	const large = 16 << 20 // 64 MiB of float32
	req := plan.Request{Coll: plan.AllReduce, Ranks: 8, Count: large, ElemSize: 4}
	for _, hosts := range []plan.Hosts{blockHosts(t, 8, 4), blockHosts(t, 16, 4), blockHosts(t, 16, 8), randomHosts(t, 12, 3, 1)} {
		req.Ranks = hosts.Len()
		req.Hosts = hosts
		a, err := algos.Select(req, m)
		require.NoError(t, err)
		require.Equal(t, "hierarchical", a.Name(), "hosts %v, 64 MiB", hosts)

		small := req
		small.Count = 16
		a, err = algos.Select(small, m)
		require.NoError(t, err)
		require.Equal(t, "recursive-doubling", a.Name(), "hosts %v, 64 bytes", hosts)
	}

	// Dealt round robin to two hosts, halving-doubling's large rounds (distances 4 and 2) stay
	// inside hosts too, and only its smallest crosses: it moves what the hierarchical moves
	// between hosts, and either may win.
	req.Ranks = 8
	req.Hosts = hostsOf(t, 0, 1, 0, 1, 0, 1, 0, 1)
	a, err := algos.Select(req, m)
	require.NoError(t, err)
	require.Contains(t, []string{"hierarchical", "halving-doubling"}, a.Name())

	for _, hosts := range []plan.Hosts{{}, hostsOf(t, 0, 0, 0, 0, 0, 0, 0, 0), hostsOf(t, 0, 1, 2, 3, 4, 5, 6, 7)} {
		req.Hosts = hosts
		a, err := algos.Select(req, m)
		require.NoError(t, err)
		require.NotEqual(t, "hierarchical", a.Name(), "hosts %v", hosts)
	}
}

// Without hosts (or with one), no cost depends on the parameters of the links between hosts, so
// every selection is what it was before the model knew of them.
func TestCostWithoutHostsIgnoresInterHost(t *testing.T) {
	slow := algos.DefaultModel()
	fast := slow
	slow.InterLatency, slow.InterBandwidth = 1, 1
	fast.InterLatency, fast.InterBandwidth = 1e-9, 1e12
	for _, a := range algos.List(0) {
		for _, n := range []int{1, 2, 5, 8, 33} {
			for _, count := range []int{0, 1, 1000, 1 << 22} {
				if a.Coll() == plan.Barrier {
					count = 0
				}
				req := plan.Request{Coll: a.Coll(), Ranks: n, Count: count, ElemSize: 4}
				want := a.Cost(req, algos.Model{})
				require.Equal(t, want, a.Cost(req, slow), "%s %s n=%d count=%d", a.Coll(), a.Name(), n, count)
				require.Equal(t, want, a.Cost(req, fast), "%s %s n=%d count=%d", a.Coll(), a.Name(), n, count)
				req.Hosts = hostsOf(t, make([]int, n)...)
				require.Equal(t, want, a.Cost(req, slow), "%s %s n=%d count=%d, one explicit host", a.Coll(), a.Name(), n, count)
			}
		}
	}
}

func TestModelLinkClasses(t *testing.T) {
	d := algos.DefaultModel()
	require.Less(t, d.Latency, d.InterLatency)
	require.Greater(t, d.Bandwidth, d.InterBandwidth)
	require.Equal(t, d, algos.Model{}.For(plan.Request{Ranks: 4}), "zero fields take the defaults")

	m := algos.Model{Latency: 1, Bandwidth: 8, ReduceBandwidth: 4, InterLatency: 10, InterBandwidth: 2}
	x := m.Crossing()
	require.Equal(t, algos.Model{Latency: 10, Bandwidth: 2, ReduceBandwidth: 4, InterLatency: 10, InterBandwidth: 2}, x)
	two := plan.Request{Ranks: 4, Hosts: hostsOf(t, 0, 0, 1, 1)}
	require.Equal(t, x, m.For(two))
	require.Equal(t, m, m.For(plan.Request{Ranks: 4}))
	// The slowest link wins even where the parameters say a link between hosts is faster.
	odd := algos.Model{Latency: 10, Bandwidth: 2, ReduceBandwidth: 4, InterLatency: 1, InterBandwidth: 8}
	require.Equal(t, 10.0, odd.For(two).Latency)
	require.Equal(t, 2.0, odd.For(two).Bandwidth)
}

// Costs over several hosts charge every step by its slowest link: the ring (a crossing in every
// step) entirely at the pace of links between hosts; recursive doubling per round, so that on
// hosts [0 0 1 1] only the round at distance 2 is slow.
func TestCostAcrossHosts(t *testing.T) {
	m := algos.Model{Latency: 1, Bandwidth: 1, ReduceBandwidth: 1, InterLatency: 10, InterBandwidth: 0.5}
	req := plan.Request{Coll: plan.AllReduce, Ranks: 4, Count: 8, ElemSize: 4, Hosts: hostsOf(t, 0, 0, 1, 1)}

	ring, err := algos.Lookup(plan.AllReduce, "ring")
	require.NoError(t, err)
	// 6 hops of 8-byte chunks: 6×10 latency, 48 bytes at 0.5 B/s, 24 bytes reduced at 1 B/s.
	require.Equal(t, 60.0+96+24, ring.Cost(req, m))

	rd, err := algos.Lookup(plan.AllReduce, "recursive-doubling")
	require.NoError(t, err)
	// Round 1 inside hosts: 1 + 32 + 32; round 2 between: 10 + 64 + 32.
	require.Equal(t, 65.0+106, rd.Cost(req, m))
	req.Hosts = hostsOf(t, 0, 1, 0, 1) // now round 1 crosses and round 2 does not
	require.Equal(t, 106.0+65, rd.Cost(req, m))

	hd, err := algos.Lookup(plan.AllReduce, "halving-doubling")
	require.NoError(t, err)
	// Distance 1 (between hosts [0 1 0 1]): 8 bytes each way; distance 2 (inside): 16.
	require.Equal(t, (10.0+16+8)+(10+16)+(1+16+16)+(1+16), hd.Cost(req, m))

	chain, err := algos.Lookup(plan.Broadcast, "chain")
	require.NoError(t, err)
	bc := plan.Request{Coll: plan.Broadcast, Ranks: 4, Count: 8, ElemSize: 4, Hosts: hostsOf(t, 0, 0, 1, 1)}
	// One piece, 3 stages, each at the pace of the slowest link.
	require.Equal(t, 30.0+3*64, chain.Cost(bc, m))
}
