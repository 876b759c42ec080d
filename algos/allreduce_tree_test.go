package algos_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/simulate"
)

// refBtree is a line-by-line transcription of ncclGetBtree (NCCL src/graph/trees.cc), kept
// apart from the implementation so that the tests check it against the original.
func refBtree(nranks, rank int) (u, d0, d1 int) {
	bit := 1
	for bit = 1; bit < nranks; bit <<= 1 {
		if bit&rank != 0 {
			break
		}
	}
	if rank == 0 {
		d1 = -1
		if nranks > 1 {
			d1 = bit >> 1
		}
		return -1, -1, d1
	}
	up := (rank ^ bit) | (bit << 1)
	if up >= nranks {
		up = rank ^ bit
	}
	lowbit := bit >> 1
	down0 := -1
	if lowbit != 0 {
		down0 = rank - lowbit
	}
	down1 := -1
	if lowbit != 0 {
		down1 = rank + lowbit
	}
	for down1 >= nranks {
		down1 = -1
		if lowbit != 0 {
			down1 = rank + lowbit
		}
		lowbit >>= 1
	}
	return up, down0, down1
}

// refTree is one tree of the double binary tree: parent and children (in NCCL's d0, d1 order).
type refTree struct {
	root   int
	parent []int
	kids   [][]int
}

// refDtree transcribes ncclGetDtree: the btree, and the mirrored (even n) or shifted (odd n) one.
func refDtree(n int) [2]refTree {
	var out [2]refTree
	for k := range out {
		out[k] = refTree{parent: make([]int, n), kids: make([][]int, n)}
	}
	for r := range n {
		u, d0, d1 := refBtree(n, r)
		out[0].parent[r] = u
		for _, d := range []int{d0, d1} {
			if d >= 0 {
				out[0].kids[r] = append(out[0].kids[r], d)
			}
		}
		var s1, e0, e1 int
		if n%2 == 1 {
			u, d0, d1 := refBtree(n, (r-1+n)%n)
			mp := func(x int) int {
				if x == -1 {
					return -1
				}
				return (x + 1) % n
			}
			s1, e0, e1 = mp(u), mp(d0), mp(d1)
		} else {
			u, d0, d1 := refBtree(n, n-1-r)
			mp := func(x int) int {
				if x == -1 {
					return -1
				}
				return n - 1 - x
			}
			s1, e0, e1 = mp(u), mp(d0), mp(d1)
		}
		out[1].parent[r] = s1
		for _, d := range []int{e0, e1} {
			if d >= 0 {
				out[1].kids[r] = append(out[1].kids[r], d)
			}
		}
	}
	for k := range out {
		for r := range n {
			if out[k].parent[r] == -1 {
				out[k].root = r
			}
		}
	}
	return out
}

func TestRefDtreeShape(t *testing.T) {
	for n := 1; n <= 70; n++ {
		trees := refDtree(n)
		for k, tr := range trees {
			roots := 0
			for r := range n {
				if tr.parent[r] == -1 {
					roots++
					continue
				}
				require.Contains(t, tr.kids[tr.parent[r]], r, "n=%d tree %d: rank %d not a child of its parent", n, k, r)
			}
			require.Equal(t, 1, roots, "n=%d tree %d", n, k)
			for r := range n {
				for _, c := range tr.kids[r] {
					require.Equal(t, r, tr.parent[c], "n=%d tree %d", n, k)
				}
			}
		}
		require.Equal(t, 0, trees[0].root)
		if n > 1 {
			want := n - 1
			if n%2 == 1 {
				want = 1
			}
			require.Equal(t, want, trees[1].root, "n=%d", n)
		}
		for r := range n {
			interior := 0
			for _, tr := range trees {
				if len(tr.kids[r]) > 0 {
					interior++
				}
			}
			if r == 0 && n%2 == 1 {
				continue // the documented exception
			}
			require.LessOrEqual(t, interior, 1, "n=%d: rank %d interior in both trees", n, r)
		}
	}
}

// treeSent is the byte formula of the tree all-reduce: Σ_k H_k (non-root_k + children_k(r)).
func treeSent(req plan.Request) []int64 {
	n, c := req.Ranks, req.Count
	sent := make([]int64, n)
	if n == 1 {
		return sent
	}
	halves := chunkSizes(c, 2)
	for k, tr := range refDtree(n) {
		for r := range n {
			e := len(tr.kids[r])
			if r != tr.root {
				e++
			}
			sent[r] += int64(halves[k] * e)
		}
	}
	return sent
}

func TestTreeAllReduce(t *testing.T) {
	forEachTrimmedCase(t, plan.AllReduce, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "tree")
		want := treeSent(req)
		require.Equal(t, want, res.Sent, "elements sent")
		require.Equal(t, want, res.Recvd, "elements received")
	})
}

// treeFold is a reduction that is neither commutative nor associative: dst = 3 dst + src over
// int64 elements.
func treeFold(dst, src []byte) {
	for i := 0; i+8 <= len(dst); i += 8 {
		a := binary.LittleEndian.Uint64(dst[i:])
		b := binary.LittleEndian.Uint64(src[i:])
		binary.LittleEndian.PutUint64(dst[i:], 3*a+b)
	}
}

// TestTreeAllReduceOrder runs the trees with a reduction that is neither commutative nor
// associative, with elements big enough that each half is cut into many pieces, and requires
// every rank to end with the same bits: the value of the tree in which each node combines its own
// input, then its first child's result, then its second's.
func TestTreeAllReduceOrder(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5, 8, 13, 14} {
		for _, es := range []int{8, 4 << 10} {
			for _, inPlace := range []bool{false, true} {
				req := plan.Request{Coll: plan.AllReduce, Ranks: n, Count: 21, ElemSize: es, InPlace: inPlace}
				t.Run(fmt.Sprintf("n=%d/es=%d/inplace=%v", n, es, inPlace), func(t *testing.T) {
					s, err := algos.Build(req, "tree", algos.Model{})
					require.NoError(t, err)
					in := makeInputs(req, 3)
					res, err := simulate.Run(s, in, treeFold)
					require.NoError(t, err)
					trees := refDtree(n)
					halves := chunkSizes(req.Count, 2)
					want := make([]byte, 0, req.Count*es)
					for k, tr := range trees {
						off := k * halves[0] * es
						part := func(r int) []byte { return in[r][off : off+halves[k]*es] }
						var eval func(v int) []byte
						eval = func(v int) []byte {
							acc := append([]byte(nil), part(v)...)
							for _, c := range tr.kids[v] {
								treeFold(acc, eval(c))
							}
							return acc
						}
						want = append(want, eval(tr.root)...)
					}
					for r := range n {
						require.True(t, bytes.Equal(want, res.Out[r]), "rank %d", r)
					}
				})
			}
		}
	}
}

func TestTreeAllReducePieces(t *testing.T) {
	// Wide elements cut small counts into several pieces per half (64 KiB each at least): the
	// pipelined interleaving of both trees must still be deadlock free and correct.
	cases := []struct{ n, count, elemSize int }{
		{2, 5, 64 << 10}, {3, 5, 64 << 10}, {7, 5, 64 << 10}, {10, 5, 64 << 10},
		{3, 33, 64 << 10}, {6, 33, 16 << 10},
	}
	for _, tc := range cases {
		for _, inPlace := range []bool{false, true} {
			req := plan.Request{Coll: plan.AllReduce, Ranks: tc.n, Count: tc.count, ElemSize: tc.elemSize, InPlace: inPlace}
			res := checkWide(t, req, "tree")
			require.Equal(t, treeSent(req), res.Sent, "%+v", req)
		}
	}
}

func TestTreeAllReduceCost(t *testing.T) {
	a, err := algos.Lookup(plan.AllReduce, "tree")
	require.NoError(t, err)
	small := a.Cost(testReq(plan.AllReduce, 16, 1, 0, false), algos.Model{})
	big := a.Cost(testReq(plan.AllReduce, 16, 1<<20, 0, false), algos.Model{})
	require.Greater(t, small, 0.0)
	require.Greater(t, big, small)
}

// largeCountRanks are the communicator sizes that forEachTrimmedCase runs the large count with:
// one that is not a power of two (so the power-of-two algorithms fold) and is odd (so the double
// binary tree shifts).
var largeCountRanks = map[int]bool{5: true}

// forEachTrimmedCase is forEachCase with the large count of testCounts only for the sizes in
// largeCountRanks, and there only with the root n-1 for rooted collectives, which keeps the matrix
// of every algorithm fast under -race: ranks testRanks × counts (0, 1, n-1, n, n+1, 1009, and the
// large one where chosen) × roots (testRoots when coll is rooted) × out of place and in place.
func forEachTrimmedCase(t *testing.T, coll plan.Collective, f func(t *testing.T, req plan.Request)) {
	t.Helper()
	for _, n := range testRanks {
		for _, count := range testCounts(coll, n) {
			large := count > 1009
			if large && !largeCountRanks[n] {
				continue
			}
			roots := []int{0}
			switch {
			case coll.Rooted() && large:
				roots = []int{n - 1}
			case coll.Rooted():
				roots = testRoots(n)
			}
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

// checkWide builds req (whose ElemSize may be anything divisible by 8) with the algorithm called
// name, runs it with the int64 sum and requires every rank's Out to equal simulate.Reference.
// Wide elements make pipelined algorithms cut small counts into many pieces.
func checkWide(t *testing.T, req plan.Request, name string) *simulate.Result {
	t.Helper()
	s, err := algos.Build(req, name, algos.Model{})
	require.NoError(t, err)
	in := makeInputs(req, 5)
	want, err := simulate.Reference(req, in, sumInt64)
	require.NoError(t, err)
	res, err := simulate.Run(s, in, sumInt64)
	require.NoError(t, err)
	require.NoError(t, simulate.Compare(s, res, want))
	return res
}

// ceilLog2 returns the smallest k with 2^k >= n.
func ceilLog2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

// floorLog2 returns the largest k with 2^k <= n (n >= 1).
func floorLog2(n int) int {
	_, k := pow2Below(n)
	return k
}
