package algos_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/simulate"
)

// hostsOf returns the Hosts of the host indexes idx, one per rank.
func hostsOf(t *testing.T, idx ...int) plan.Hosts {
	t.Helper()
	h, err := plan.NewHosts(idx)
	require.NoError(t, err)
	return h
}

// randomHosts spreads n ranks over h hosts (1 ≤ h ≤ n), each host getting at least one rank and
// the ranks of a host scattered, from a generator seeded with seed.
func randomHosts(t *testing.T, n, h int, seed uint64) plan.Hosts {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(n)<<16|uint64(h)))
	idx := make([]int, n)
	for r := range idx {
		idx[r] = rng.IntN(h)
	}
	for k, r := range rng.Perm(n)[:h] { // every host gets a rank
		idx[r] = k
	}
	return hostsOf(t, idx...)
}

// blockHosts puts ranks per consecutive ranks on each host; the last host may have fewer.
func blockHosts(t *testing.T, n, per int) plan.Hosts {
	t.Helper()
	idx := make([]int, n)
	for r := range idx {
		idx[r] = r / per
	}
	return hostsOf(t, idx...)
}

// hostLayout is a named assignment of ranks to hosts.
type hostLayout struct {
	name  string
	hosts plan.Hosts
}

// hostLayouts returns the assignments of n ranks to hosts that the host tests run: one host (the
// zero value), one rank per host, blocks of 2, 3 and 4 ranks, ranks dealt round robin to 2 and 3
// hosts, and two random ones, without two of the same name.
func hostLayouts(t *testing.T, n int) []hostLayout {
	t.Helper()
	out := []hostLayout{{"one-host", plan.Hosts{}}}
	idx := make([]int, n)
	for r := range idx {
		idx[r] = r
	}
	out = append(out, hostLayout{"per-rank", hostsOf(t, idx...)})
	for _, per := range []int{2, 3, 4} {
		if per < n {
			out = append(out, hostLayout{fmt.Sprintf("blocks-of-%d", per), blockHosts(t, n, per)})
		}
	}
	for _, h := range []int{2, 3} {
		if h < n {
			for r := range idx {
				idx[r] = r % h
			}
			out = append(out, hostLayout{fmt.Sprintf("round-robin-%d", h), hostsOf(t, idx...)})
		}
	}
	rng := rand.New(rand.NewPCG(11, uint64(n)))
	for seed := range uint64(2) {
		h := 1 + rng.IntN(n)
		out = append(out, hostLayout{fmt.Sprintf("random-%d-hosts-seed-%d", h, seed), randomHosts(t, n, h, seed)})
	}
	return out
}

// refRing is the ring order the host-aware rings must use: hosts in the order of their lowest
// rank, the ranks of a host in increasing order.
func refRing(h plan.Hosts, n int) []int {
	var hosts []int            // host indexes in the order of their lowest rank
	members := map[int][]int{} // host index -> its ranks
	for r := range n {
		k := h.Of(r)
		if members[k] == nil {
			hosts = append(hosts, k)
		}
		members[k] = append(members[k], r)
	}
	var out []int
	for _, k := range hosts {
		out = append(out, members[k]...)
	}
	return out
}

// ringCrossings returns the edges of ring (position q to q+1, cyclic) between ranks of different
// hosts, as [from, to] pairs.
func ringCrossings(h plan.Hosts, ring []int) [][2]int {
	var out [][2]int
	for q, r := range ring {
		next := ring[(q+1)%len(ring)]
		if h.Of(r) != h.Of(next) {
			out = append(out, [2]int{r, next})
		}
	}
	return out
}

// requireHostPath requires links (rank pairs between hosts) to enter and leave every host at most
// once, and exactly once each when cycle is set: the way a ring or chain through host-contiguous
// runs crosses.
func requireHostPath(t *testing.T, h plan.Hosts, links [][2]int, cycle bool) {
	t.Helper()
	out, in := map[int]int{}, map[int]int{}
	for _, l := range links {
		out[h.Of(l[0])]++
		in[h.Of(l[1])]++
	}
	for k := range h.Count() {
		require.LessOrEqual(t, out[k], 1, "host %d left %d times", k, out[k])
		require.LessOrEqual(t, in[k], 1, "host %d entered %d times", k, in[k])
		if cycle && h.Count() > 1 {
			require.Equal(t, 1, out[k], "host %d left", k)
			require.Equal(t, 1, in[k], "host %d entered", k)
		}
	}
}

// linkPairs turns the links of a simulate.Result into [from, to] pairs.
func linkPairs(ps []simulate.Pair) [][2]int {
	out := make([][2]int, len(ps))
	for i, p := range ps {
		out[i] = [2]int{p.From, p.To}
	}
	return out
}

// The rings of all-reduce, all-gather and reduce-scatter, given ranks scattered at random over
// pretend hosts, keep each host's ranks together: the ring crosses between H > 1 hosts exactly H
// times, entering and leaving each host once, and the bytes that cross are those of the ring's
// formula at the crossing edges.
func TestRingsKeepHostsTogether(t *testing.T) {
	for _, n := range testRanks {
		if n == 1 {
			continue
		}
		rng := rand.New(rand.NewPCG(7, uint64(n)))
		for seed := range uint64(3) {
			hosts := randomHosts(t, n, 1+rng.IntN(n), seed)
			ring := refRing(hosts, n)
			crossings := ringCrossings(hosts, ring)
			hc := hosts.Count()
			for _, coll := range []plan.Collective{plan.AllReduce, plan.AllGather, plan.ReduceScatter} {
				for _, count := range []int{0, 1, n + 1, 2*n + 3} {
					for _, inPlace := range []bool{false, true} {
						req := testReq(coll, n, count, 0, inPlace)
						req.Hosts = hosts
						name := fmt.Sprintf("%s/n=%d/hosts=%v/count=%d/inplace=%v", coll, n, hosts, count, inPlace)
						t.Run(name, func(t *testing.T) {
							res := checkAlgo(t, req, "ring")
							links := linkPairs(res.CrossHostLinks(hosts))
							requireHostPath(t, hosts, links, false)
							full := count >= n || (coll != plan.AllReduce && count > 0) // every edge carries data
							if !full {
								require.LessOrEqual(t, len(links), len(crossings))
								return
							}
							require.ElementsMatch(t, crossings, links, "the ring's edges between hosts")
							if hc > 1 {
								require.Len(t, links, hc, "a ring through %d hosts crosses %d times", hc, hc)
							}
							requireHostPath(t, hosts, links, true)
							var elems int64
							pos := map[int]int{}
							for q, r := range ring {
								pos[r] = q
							}
							sizes := chunkSizes(count, n)
							for _, c := range crossings {
								switch coll {
								case plan.AllReduce:
									q := pos[c[0]]
									elems += int64(2*count - sizes[q] - sizes[(q+1)%n])
								default:
									elems += int64((n - 1) * count)
								}
							}
							require.Equal(t, elems*elemSize, res.CrossHostBytes(hosts), "bytes between hosts")
						})
					}
				}
			}
		}
	}
}

// refChain is the chain order the host-aware chains must use from root: root, the rest of its
// host in ring order, then the other hosts in ring order.
func refChain(h plan.Hosts, n, root int) []int {
	ring := refRing(h, n)
	at := 0
	for q, r := range ring {
		if r == root {
			at = q
		}
	}
	rot := append(append([]int(nil), ring[at:]...), ring[:at]...)
	var chain, rest []int
	for _, r := range rot {
		if h.Of(r) == h.Of(root) {
			chain = append(chain, r)
		} else {
			rest = append(rest, r)
		}
	}
	return append(chain, rest...)
}

// The broadcast and reduce chains keep each host's ranks together: with ranks scattered over
// H pretend hosts they cross between hosts H-1 times, along the chain, each host entered and left
// at most once, and every crossing carries the whole buffer once.
func TestChainsKeepHostsTogether(t *testing.T) {
	for _, n := range testRanks {
		if n == 1 {
			continue
		}
		rng := rand.New(rand.NewPCG(9, uint64(n)))
		for seed := range uint64(3) {
			hosts := randomHosts(t, n, 1+rng.IntN(n), seed)
			hc := hosts.Count()
			for _, coll := range []plan.Collective{plan.Broadcast, plan.Reduce} {
				for _, root := range testRoots(n) {
					chain := refChain(hosts, n, root)
					var want [][2]int
					for v := 0; v+1 < n; v++ {
						from, to := chain[v], chain[v+1]
						if coll == plan.Reduce {
							from, to = to, from
						}
						if hosts.Of(from) != hosts.Of(to) {
							want = append(want, [2]int{from, to})
						}
					}
					require.Len(t, want, hc-1, "refChain: one run per host")
					for _, count := range []int{0, 1, 1009} {
						for _, inPlace := range []bool{false, true} {
							req := testReq(coll, n, count, root, inPlace)
							req.Hosts = hosts
							name := fmt.Sprintf("%s/n=%d/hosts=%v/root=%d/count=%d/inplace=%v", coll, n, hosts, root, count, inPlace)
							t.Run(name, func(t *testing.T) {
								res := checkAlgo(t, req, "chain")
								links := linkPairs(res.CrossHostLinks(hosts))
								if count == 0 {
									require.Empty(t, links)
									return
								}
								require.ElementsMatch(t, want, links, "the chain's edges between hosts")
								requireHostPath(t, hosts, links, false)
								require.Equal(t, int64((hc-1)*count*elemSize), res.CrossHostBytes(hosts))
								last := chain[n-1] // sends nothing in a broadcast
								for r := range n {
									sends := r != last
									if coll == plan.Reduce {
										sends = r != root
									}
									require.Equal(t, int64(count*btoi(sends)), res.Sent[r], "rank %d elements sent", r)
								}
							})
						}
					}
				}
			}
		}
	}
}

// Hosts that change nothing change no schedule: every algorithm builds the same programs for one
// explicit host as for the zero value, and the rings build the same programs for hosts that are
// runs of consecutive ranks as without hosts, as do the chains rooted at a host's first rank.
func TestHostsThatChangeNothing(t *testing.T) {
	for _, a := range algos.List(0) {
		for _, n := range []int{1, 2, 5, 8} {
			count := 1009
			if a.Coll() == plan.Barrier {
				count = 0
			}
			req := plan.Request{Coll: a.Coll(), Ranks: n, Count: count, ElemSize: 4}
			flat, err := a.Build(req)
			require.NoError(t, err)
			req.Hosts = hostsOf(t, make([]int, n)...)
			one, err := a.Build(req)
			require.NoError(t, err)
			require.Equal(t, flat.Progs, one.Progs, "%s %s n=%d: one explicit host", a.Coll(), a.Name(), n)

			ringLike := a.Name() == "ring" || a.Name() == "chain"
			if !ringLike || n < 4 {
				continue
			}
			req.Hosts = blockHosts(t, n, 3)
			blocks, err := a.Build(req)
			require.NoError(t, err)
			require.Equal(t, flat.Progs, blocks.Progs, "%s %s n=%d: hosts in runs of 3 ranks", a.Coll(), a.Name(), n)
		}
	}
}

// TestEveryAlgorithmWithHosts runs every registered algorithm over a small matrix with ranks
// spread over hosts in every layout of hostLayouts and compares its output with reference, even
// where its cost says another algorithm should run the request.
func TestEveryAlgorithmWithHosts(t *testing.T) {
	for _, a := range algos.List(0) {
		coll := a.Coll()
		for n := 2; n <= 6; n++ {
			counts := []int{0, 1, n + 1, 13}
			if coll == plan.Barrier {
				counts = []int{0}
			}
			roots := []int{0}
			if coll.Rooted() {
				roots = testRoots(n)
			}
			for _, layout := range hostLayouts(t, n) {
				for _, count := range counts {
					for _, root := range roots {
						for _, inPlace := range []bool{false, true} {
							req := testReq(coll, n, count, root, inPlace)
							req.Hosts = layout.hosts
							name := fmt.Sprintf("%s/%s/n=%d/%s/count=%d/root=%d/inplace=%v", coll, a.Name(), n, layout.name, count, root, inPlace)
							t.Run(name, func(t *testing.T) { checkAlgo(t, req, a.Name()) })
						}
					}
				}
			}
		}
	}
}
