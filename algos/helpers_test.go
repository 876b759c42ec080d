// The tests of package algos live in the external test package algos_test: they run schedules
// through algos/simulate, and a test inside package algos could not import it should simulate ever
// import algos. This file holds helpers shared by the tests of every algorithm; keep the names
// stable, other test files use them:
//
//	elemSize                       bytes per element in tests (int64)
//	testReq(coll, n, count, root, inPlace)  a plan.Request with ElemSize elemSize
//	testRanks, testCounts(coll, n), testRoots(n)  the test matrix
//	forEachCase(t, coll, f)        runs f in a subtest per request of the matrix
//	makeInputs(req, seed)          random In buffers, one per rank
//	sumInt64(dst, src)             dst += src over little-endian int64 elements, wrapping
//	reference(req, inputs)         the Out buffers a correct run ends with (int64 sum)
//	runSim(t, req, name)           builds with the named algorithm and runs it in the simulator
//	checkAlgo(t, req, name)        runSim, then requires Out to equal reference; returns the result
//	requireOut(t, req, got, want)  requires equal outputs, naming the first wrong element
//	chunkSizes(count, parts)       near-equal split: the first count%parts parts get one more
//
// hostring_test.go holds the helpers for ranks spread over hosts: hostsOf, randomHosts,
// blockHosts, hostLayouts (the layouts every host test runs), refRing and refChain (the orders
// the host-aware rings and chains must follow).
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
	"github.com/chorus-cc/chorus/algos/simulate"
)

// elemSize is the element size of every test request: int64.
const elemSize = 8

// testRanks are the communicator sizes of the test matrix.
var testRanks = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33}

// maxTestElems bounds the elements all ranks' buffers hold together in one test case of the
// matrix; smallTestElems replaces it with -short or -race, where large cases only cost time.
const (
	maxTestElems   = 8 << 20
	smallTestElems = 1 << 19
)

// testReq returns a request with ElemSize elemSize.
func testReq(coll plan.Collective, n, count, root int, inPlace bool) plan.Request {
	return plan.Request{Coll: coll, Ranks: n, Count: count, ElemSize: elemSize, Root: root, InPlace: inPlace}
}

// testCounts returns the counts of the test matrix for coll over n ranks: 0, 1, n-1, n, n+1, the
// prime 1009 and a large count, without duplicates. The large count is 100003 (prime) unless the
// buffers of all ranks together would exceed maxTestElems (smallTestElems with -short or -race),
// as with collectives whose buffers grow with n×count; then it is the largest count that fits,
// made not divisible by n.
func testCounts(coll plan.Collective, n int) []int {
	large := 100003
	limit := maxTestElems
	if testing.Short() || raceEnabled {
		limit = smallTestElems
	}
	perCount := 0 // elements of all ranks' buffers per unit of count
	for r := range n {
		req := testReq(coll, n, 1, 0, false)
		i, o := req.Sizes(r)
		perCount += i + o
	}
	if perCount > 0 && large*perCount > limit {
		large = limit / perCount
		if n > 1 && large%n == 0 {
			large--
		}
	}
	var out []int
	seen := map[int]bool{}
	for _, c := range []int{0, 1, n - 1, n, n + 1, 1009, large} {
		if c >= 0 && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if coll == plan.Barrier {
		return []int{0}
	}
	return out
}

// testRoots returns the roots to test over n ranks: 0, n/2 and n-1, without duplicates.
func testRoots(n int) []int {
	out := []int{0}
	for _, r := range []int{n / 2, n - 1} {
		if r != out[len(out)-1] && r != 0 {
			out = append(out, r)
		}
	}
	return out
}

// forEachCase runs f in a subtest for every request of the matrix for coll: testRanks ×
// testCounts × (testRoots when coll is rooted) × out of place and in place.
func forEachCase(t *testing.T, coll plan.Collective, f func(t *testing.T, req plan.Request)) {
	t.Helper()
	for _, n := range testRanks {
		roots := []int{0}
		if coll.Rooted() {
			roots = testRoots(n)
		}
		for _, count := range testCounts(coll, n) {
			for _, root := range roots {
				for _, inPlace := range []bool{false, true} {
					req := testReq(coll, n, count, root, inPlace)
					name := fmt.Sprintf("n=%d/count=%d/root=%d/inplace=%v", n, count, root, inPlace)
					t.Run(name, func(t *testing.T) { f(t, req) })
				}
			}
		}
	}
}

// makeInputs returns random In buffers for req, one per rank, from a generator seeded with seed.
func makeInputs(req plan.Request, seed uint64) [][]byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(req.Ranks))
	binary.LittleEndian.PutUint64(key[16:], uint64(req.Count))
	rng := rand.NewChaCha8(key)
	in := make([][]byte, req.Ranks)
	for r := range in {
		n, _ := req.Sizes(r)
		in[r] = make([]byte, n*req.ElemSize)
		_, _ = rng.Read(in[r])
	}
	return in
}

// sumInt64 computes dst += src over little-endian int64 elements, wrapping on overflow.
func sumInt64(dst, src []byte) {
	if len(dst) != len(src) || len(dst)%8 != 0 {
		panic(fmt.Sprintf("sumInt64: %d and %d bytes", len(dst), len(src)))
	}
	for i := 0; i < len(dst); i += 8 {
		a := binary.LittleEndian.Uint64(dst[i:])
		b := binary.LittleEndian.Uint64(src[i:])
		binary.LittleEndian.PutUint64(dst[i:], a+b)
	}
}

// elems decodes little-endian int64 elements.
func elems(b []byte) []int64 {
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// encode encodes int64 elements little-endian.
func encode(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// reference returns the Out buffer of every rank after a correct run of req on inputs, with the
// int64 sum as reduction, computed naively from the definition of each collective: blocks are
// copied where they belong, and sums add every rank's element in rank order.
func reference(req plan.Request, inputs [][]byte) [][]byte {
	n, c := req.Ranks, req.Count
	cb := c * elemSize // bytes of one block of count elements
	block := func(b []byte, i int) []byte { return b[i*cb : (i+1)*cb] }
	// sum returns the element-wise sum over every rank j of part(j).
	sum := func(part func(j int) []byte) []byte {
		acc := make([]uint64, c)
		for j := range n {
			p := part(j)
			for i := range acc {
				acc[i] += binary.LittleEndian.Uint64(p[8*i:])
			}
		}
		b := make([]byte, cb)
		for i, v := range acc {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		return b
	}
	out := make([][]byte, n)
	for r := range n {
		_, l := req.Sizes(r)
		out[r] = make([]byte, l*elemSize)
	}
	switch req.Coll {
	case plan.AllReduce:
		all := sum(func(j int) []byte { return inputs[j] })
		for r := range n {
			copy(out[r], all)
		}
	case plan.AllGather:
		for r := range n {
			for j := range n {
				copy(block(out[r], j), inputs[j])
			}
		}
	case plan.ReduceScatter:
		for r := range n {
			copy(out[r], sum(func(j int) []byte { return block(inputs[j], r) }))
		}
	case plan.Broadcast:
		for r := range n {
			copy(out[r], inputs[req.Root])
		}
	case plan.Reduce:
		copy(out[req.Root], sum(func(j int) []byte { return inputs[j] }))
	case plan.AllToAll:
		for r := range n {
			for j := range n {
				copy(block(out[r], j), block(inputs[j], r))
			}
		}
	case plan.Gather:
		for j := range n {
			copy(block(out[req.Root], j), inputs[j])
		}
	case plan.Scatter:
		for r := range n {
			copy(out[r], block(inputs[req.Root], r))
		}
	case plan.Barrier:
	}
	return out
}

// runSim builds req's schedule with the algorithm called name and runs it in the simulator on
// inputs from makeInputs, reducing with sumInt64. It returns the result and the inputs.
func runSim(t *testing.T, req plan.Request, name string) (*simulate.Result, [][]byte) {
	t.Helper()
	require.Equal(t, elemSize, req.ElemSize, "tests use int64 elements")
	s, err := algos.Build(req, name, algos.Model{})
	require.NoError(t, err)
	require.Equal(t, req, s.Req, "schedule built for another request")
	in := makeInputs(req, 42)
	res, err := simulate.Run(s, in, sumInt64)
	require.NoError(t, err)
	return res, in
}

// checkAlgo runs req with the algorithm called name (runSim) and requires every rank's Out to
// equal reference. It returns the result for further checks (bytes sent, rounds).
func checkAlgo(t *testing.T, req plan.Request, name string) *simulate.Result {
	t.Helper()
	res, in := runSim(t, req, name)
	requireOut(t, req, res.Out, reference(req, in))
	return res
}

// requireOut requires got to equal want rank by rank, naming the first wrong element.
func requireOut(t *testing.T, req plan.Request, got, want [][]byte) {
	t.Helper()
	require.Len(t, got, len(want))
	for r := range want {
		require.Len(t, got[r], len(want[r]), "rank %d out bytes", r)
		if bytes.Equal(got[r], want[r]) {
			continue
		}
		g, w := elems(got[r]), elems(want[r])
		for i := range w {
			if g[i] != w[i] {
				require.Failf(t, "wrong output", "%v: rank %d out element %d is %d, want %d", req, r, i, g[i], w[i])
			}
		}
	}
}

// chunkSizes splits count into parts near-equal chunks: the first count%parts chunks hold one
// element more than the others.
func chunkSizes(count, parts int) []int {
	out := make([]int, parts)
	for i := range out {
		out[i] = count / parts
		if i < count%parts {
			out[i]++
		}
	}
	return out
}

func TestReferenceAgreesWithSimulate(t *testing.T) {
	for _, coll := range plan.Collectives() {
		for _, n := range []int{1, 2, 3, 5} {
			for _, root := range testRoots(n) {
				if !coll.Rooted() && root != 0 {
					continue
				}
				count := 7
				if coll == plan.Barrier {
					count = 0
				}
				req := testReq(coll, n, count, root, false)
				in := makeInputs(req, 7)
				want, err := simulate.Reference(req, in, sumInt64)
				require.NoError(t, err)
				requireOut(t, req, reference(req, in), want)
			}
		}
	}
}

// TestEveryAlgorithm runs every registered algorithm over a small matrix and compares its output
// with reference, so that an algorithm without a test of its own is still checked.
func TestEveryAlgorithm(t *testing.T) {
	for _, a := range algos.List(0) {
		coll := a.Coll()
		for n := 1; n <= 6; n++ {
			counts := []int{0, 1, n + 1, 13}
			if coll == plan.Barrier {
				counts = []int{0}
			}
			roots := []int{0}
			if coll.Rooted() {
				roots = testRoots(n)
			}
			for _, count := range counts {
				for _, root := range roots {
					for _, inPlace := range []bool{false, true} {
						req := testReq(coll, n, count, root, inPlace)
						if math.IsInf(a.Cost(req, algos.Model{}), 1) {
							continue // the algorithm does not run this request
						}
						name := fmt.Sprintf("%s/%s/n=%d/count=%d/root=%d/inplace=%v", coll, a.Name(), n, count, root, inPlace)
						t.Run(name, func(t *testing.T) { checkAlgo(t, req, a.Name()) })
					}
				}
			}
		}
	}
}
