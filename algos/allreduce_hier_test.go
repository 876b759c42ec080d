package algos_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/algos/simulate"
)

// hostSizes returns the number of ranks on each host of h over n ranks.
func hostSizes(h plan.Hosts, n int) []int {
	sizes := make([]int, h.Count())
	for r := range n {
		sizes[h.Of(r)]++
	}
	return sizes
}

// ringCrossBytes is the formula for the bytes the ring all-reduce sends between hosts of h: at
// each crossing edge of hostRing from position q, 2·Count less chunks q and q+1 (checked against
// the simulator by TestRingsKeepHostsTogether).
func ringCrossBytes(h plan.Hosts, n, count int) int64 {
	ring := refRing(h, n)
	sizes := chunkSizes(count, n)
	var elems int64
	for q, r := range ring {
		if h.Of(r) != h.Of(ring[(q+1)%n]) {
			elems += int64(2*count - sizes[q] - sizes[(q+1)%n])
		}
	}
	return elems * elemSize
}

// The hierarchical all-reduce is correct for every size and count of the matrix over every host
// layout (one host, one rank per host, equal and unequal hosts, interleaved and random ones), in
// place and not; it moves exactly 2(H-1)·Count elements between hosts, never more than the ring
// through the same hosts and fewer when some host has several ranks; with equal hosts of L ranks
// its critical path is 2(L-1) + 2(H-1) messages. To keep the matrix fast under -race, the large
// count runs only with the sizes of largeCountRanks and 8, and the layouts of bigLayout, and n ≥ 16
// with three layouts.
func TestHierarchicalAllReduce(t *testing.T) {
	bigLayout := map[string]bool{"blocks-of-3": true, "blocks-of-4": true, "round-robin-2": true}
	for _, n := range testRanks {
		layouts := hostLayouts(t, n)
		if n >= 16 {
			var few []hostLayout
			for _, l := range layouts {
				if l.name == "blocks-of-3" || l.name == "round-robin-2" || l.name == layouts[len(layouts)-1].name {
					few = append(few, l)
				}
			}
			layouts = few
		}
		for _, layout := range layouts {
			hosts := layout.hosts
			hc := hosts.Count()
			sizes := hostSizes(hosts, n)
			for _, count := range testCounts(plan.AllReduce, n) {
				if count > 1009 && (!(largeCountRanks[n] || n == 8) || !bigLayout[layout.name]) {
					continue
				}
				for _, inPlace := range []bool{false, true} {
					req := testReq(plan.AllReduce, n, count, 0, inPlace)
					req.Hosts = hosts
					name := fmt.Sprintf("n=%d/%s/count=%d/inplace=%v", n, layout.name, count, inPlace)
					t.Run(name, func(t *testing.T) {
						res := checkAlgo(t, req, "hierarchical")
						for r := 1; r < n; r++ {
							require.True(t, bytes.Equal(res.Out[0], res.Out[r]), "rank %d differs from rank 0", r)
						}
						cross := res.CrossHostBytes(hosts)
						require.Equal(t, int64(2*(hc-1)*count*elemSize), cross, "bytes between hosts")
						ring := ringCrossBytes(hosts, n, count)
						require.LessOrEqual(t, cross, ring, "bytes between hosts against the ring")
						if hc > 1 && hc < n && count >= n {
							require.Less(t, cross, ring, "bytes between hosts against the ring")
						}
						if equal := sizes[0] * hc; equal == n && count >= n {
							l := sizes[0]
							require.Equal(t, 2*(l-1)+2*(hc-1), res.Rounds, "critical path of %d hosts of %d", hc, l)
						}
					})
				}
			}
		}
	}
}

// TestHierarchicalAllReduceTwoByFour pins the numbers of the usual case, two hosts of four ranks:
// a quarter of the buffer per rank crosses between hosts, 2·Count in all against 3.5·Count for
// the ring, and the critical path is 8 messages against the ring's 14.
func TestHierarchicalAllReduceTwoByFour(t *testing.T) {
	const count = 1 << 12
	req := testReq(plan.AllReduce, 8, count, 0, false)
	req.Hosts = blockHosts(t, 8, 4)
	hier := checkAlgo(t, req, "hierarchical")
	ring := checkAlgo(t, req, "ring")
	require.Equal(t, int64(2*count*elemSize), hier.CrossHostBytes(req.Hosts))
	require.Equal(t, int64(7*count/2*elemSize), ring.CrossHostBytes(req.Hosts))
	require.Equal(t, 8, hier.Rounds)
	require.Equal(t, 14, ring.Rounds)
	for r := range 8 {
		// count/4 in each phase inside the host, count/4 between hosts (half of a slice, twice).
		require.Equal(t, int64(3*count/4+count/4+3*count/4), hier.Sent[r], "rank %d elements sent", r)
	}
}

// hierValues fills b with count elements of d drawn from rng, chosen so that every op combines
// them exactly in any order: integers at random (they wrap), floats as small integers for sums,
// minima and maxima, and as ±1 and ±2 for products.
func hierValues(d reduce.DType, op reduce.Op, b []byte, rng *rand.Rand) {
	es := d.Size()
	for i := 0; i+es <= len(b); i += es {
		v := float32(rng.IntN(9) - 4)
		if op == reduce.Prod {
			v = []float32{1, -1, 2, -2}[rng.IntN(4)]
		}
		switch d {
		case reduce.Float16:
			binary.NativeEndian.PutUint16(b[i:], uint16(reduce.Float16From(v)))
		case reduce.BFloat16:
			binary.NativeEndian.PutUint16(b[i:], uint16(reduce.BFloat16From(v)))
		case reduce.Float32:
			binary.NativeEndian.PutUint32(b[i:], math.Float32bits(v))
		case reduce.Float64:
			binary.NativeEndian.PutUint64(b[i:], math.Float64bits(float64(v)))
		default:
			for k := range es {
				b[i+k] = byte(rng.Uint32())
			}
		}
	}
}

// The hierarchical all-reduce gives the reference result for every dtype and op with the reduce
// kernels, on equal, unequal and interleaved hosts.
func TestHierarchicalAllReduceDTypes(t *testing.T) {
	layouts := [][]int{{0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 1}, {0, 1, 2, 0, 1, 2, 0}, {1, 1, 0, 2, 0, 1}}
	for _, d := range reduce.DTypes() {
		for _, op := range reduce.Ops() {
			kernel := func(dst, src []byte) { reduce.Reduce(d, op, dst, src) }
			for _, idx := range layouts {
				for _, count := range []int{0, 1, 7, 1009} {
					n := len(idx)
					req := plan.Request{Coll: plan.AllReduce, Ranks: n, Count: count, ElemSize: d.Size(), Hosts: hostsOf(t, idx...)}
					t.Run(fmt.Sprintf("%s/%s/hosts=%v/count=%d", d, op, idx, count), func(t *testing.T) {
						rng := rand.New(rand.NewPCG(uint64(d), uint64(op)<<32|uint64(count)))
						in := make([][]byte, n)
						for r := range in {
							in[r] = make([]byte, count*d.Size())
							hierValues(d, op, in[r], rng)
						}
						s, err := algos.Build(req, "hierarchical", algos.Model{})
						require.NoError(t, err)
						res, err := simulate.Run(s, in, kernel)
						require.NoError(t, err)
						want, err := simulate.Reference(req, in, kernel)
						require.NoError(t, err)
						require.NoError(t, simulate.Compare(s, res, want))
					})
				}
			}
		}
	}
}

// With a reduction that is neither commutative nor associative, every rank still ends with the
// same bits: each element is combined at one rank per host, then at one rank between hosts, and
// only copied after that.
func TestHierarchicalAllReduceSameBits(t *testing.T) {
	for _, n := range []int{2, 5, 8, 9} {
		for _, layout := range hostLayouts(t, n) {
			for _, count := range []int{1, n + 1, 1009} {
				req := testReq(plan.AllReduce, n, count, 0, false)
				req.Hosts = layout.hosts
				s, err := algos.Build(req, "hierarchical", algos.Model{})
				require.NoError(t, err)
				res, err := simulate.Run(s, makeInputs(req, 4), treeFold)
				require.NoError(t, err)
				for r := 1; r < n; r++ {
					require.True(t, bytes.Equal(res.Out[0], res.Out[r]), "n=%d %s count=%d: rank %d differs", n, layout.name, count, r)
				}
			}
		}
	}
}

// With one host, or one rank per host, the hierarchy has nothing to exploit: the schedule sends
// the ring's messages, which is why its cost defers to the ring.
func TestHierarchicalAllReduceDegenerates(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8} {
		idx := make([]int, n)
		for r := range idx {
			idx[r] = r
		}
		for _, hosts := range []plan.Hosts{{}, hostsOf(t, idx...)} {
			for _, count := range []int{0, 1, n + 1, 1009} {
				req := plan.Request{Coll: plan.AllReduce, Ranks: n, Count: count, ElemSize: 4, Hosts: hosts}
				hier, err := algos.Build(req, "hierarchical", algos.Model{})
				require.NoError(t, err)
				ring, err := algos.Build(req, "ring", algos.Model{})
				require.NoError(t, err)
				require.Equal(t, wire(ring), wire(hier), "n=%d hosts %v count=%d", n, hosts, count)
			}
		}
	}
}

func TestHierarchicalAllReduceCost(t *testing.T) {
	a, err := algos.Lookup(plan.AllReduce, "hierarchical")
	require.NoError(t, err)
	m := algos.DefaultModel()
	req := plan.Request{Coll: plan.AllReduce, Ranks: 8, Count: 1 << 20, ElemSize: 4}
	require.True(t, math.IsInf(a.Cost(req, m), 1), "one host: the ring's schedule")
	req.Hosts = hostsOf(t, 0, 1, 2, 3, 4, 5, 6, 7)
	require.True(t, math.IsInf(a.Cost(req, m), 1), "one rank per host: the ring's schedule")
	req.Hosts = blockHosts(t, 8, 4)
	c := a.Cost(req, m)
	require.False(t, math.IsInf(c, 0))
	require.Greater(t, c, 0.0)

	// Two hosts of four, 4 MiB, unit model but for the slow links: inside, 3 hops of 1 MiB
	// reduced plus 3 hops of 1 MiB; between, 2 hops of 512 KiB, one reduced.
	unit := algos.Model{Latency: 1, Bandwidth: 1, ReduceBandwidth: 1, InterLatency: 10, InterBandwidth: 0.5}
	const mb = 1 << 20
	inside := (3 + 3*mb + 3*mb) + (3 + 3*mb)
	between := 2*10 + 2*(mb/2)/0.5 + mb/2
	require.Equal(t, float64(inside)+between, a.Cost(req, unit))

	req.Count = 0
	require.Equal(t, 0.0, a.Cost(req, m))
	req.Coll = plan.AllGather
	require.True(t, math.IsInf(a.Cost(req, m), 1))
}
