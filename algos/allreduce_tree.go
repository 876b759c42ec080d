package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// treeAllReduce is the "tree" all-reduce: NCCL's double binary tree (Sanders, Speck and Träff,
// "Two-tree algorithms for full bandwidth broadcast, reduction and scan", Parallel Computing 35(12),
// 2009; NVIDIA NCCL 2.4, src/graph/trees.cc).
//
// # The trees
//
// The first tree is NCCL's binary tree over ranks 0..n-1 (see ncclBtree): rank 0 is the root and
// has a single child, the highest power of two below n; every other rank finds its parent and
// children by its lowest set bit, so odd ranks are leaves and even ranks are interior. For n = 14:
//
//	0---------------8
//	         ______/ \______
//	        4               12
//	      /   \            /  \
//	    2       6       10     \
//	   / \     / \     /  \     \
//	  1   3   5   7   9   11    13
//
// The second tree mirrors the first (rank r plays n-1-r) when n is even, so that the first tree's
// leaves (odd ranks) are the second tree's interior nodes and the reverse; n = 12:
//
//	0---------------8                   3----------------11
//	         ______/ \                 / \______
//	        4         \               /         7
//	      /   \        \             /        /   \
//	    2       6       10         1        5      9
//	   / \     / \     /  \       / \      / \    / \
//	  1   3   5   7   9   11     0   2    4   6  8   10
//
// When n is odd the second tree is the first shifted by one (rank r plays r-1 mod n); n = 13:
//
//	0---------------8            1---------------9
//	         ______/ \______              ______/ \______
//	        4               12           5                0
//	      /   \            /           /   \            /
//	    2       6       10           3       7       11
//	   / \     / \     /  \         / \     / \     /  \
//	  1   3   5   7   9   11       2   4   6   8  10   12
//
// So every rank is interior (has children) in at most one tree, with one exception that NCCL's
// construction has too: for odd n ≥ 3, rank 0, root of the first tree with a single child, is
// also interior in the second. The roots are 0 and n-1 (n even) or 1 (n odd).
//
// # The data path
//
// The first ceil(count/2) elements travel the first tree, the rest the second. Each half is cut
// into P pieces (pipelinePieces: at least 64 KiB each, at most 16, never more than the half's
// elements). For every piece, each interior node copies its In to Out, reduces into Out the
// partial result of its first child, then of its second (a fixed order: the result does not
// depend on timing, so it is bitwise reproducible), and sends it to its parent; leaves send their
// In directly. The root ends with the piece fully reduced and sends it down the same tree; each
// node receives it into Out and forwards it to its children. Every element is therefore reduced
// at exactly one place, along one tree, and then copied: all ranks end with identical bits, even
// for an op that is not commutative or associative.
//
// Pieces are interleaved so that the reduction of later pieces overlaps the broadcast of earlier
// ones: piece i is reduced at node v in round i+height(v) (leaves have height 0) and reaches v on
// the way down in round i+height(root)+depth(v); each rank's program lists its steps of both trees
// in round order. A message is one event in that order, written into the sender's and the
// receiver's programs at the same place (the receiver's round), so the k-th message of every pair
// is the same piece on both sides, even where two ranks are neighbours in both trees, and no rank
// waits for a step placed after its own. The price is that a rank posts the send of a piece in its
// parent's round rather than as soon as it could, after the receives the synchronous schedule
// puts before it; with stages of equal length that costs nothing.
//
// # Bytes
//
// With H_k the elements of half k (H_0 = ceil(count/2), H_1 = floor(count/2)), rank r sends
//
//	Sent(r) = Σ_k H_k × ( [r is not the root of tree k] + children_k(r) )
//
// elements and receives as many (every tree edge carries its half once up and once down). With
// count = 0 it sends nothing; one rank only copies In to Out.
type treeAllReduce struct{}

func init() { Register(treeAllReduce{}) }

// Name returns "tree".
func (treeAllReduce) Name() string { return "tree" }

// Coll returns plan.AllReduce.
func (treeAllReduce) Coll() plan.Collective { return plan.AllReduce }

// Build returns the double-binary-tree schedule of req.
func (treeAllReduce) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllReduce {
		return nil, fmt.Errorf("tree all-reduce cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c := req.Ranks, req.Count
	if n == 1 {
		w.copy(0, rIn(0, c), rOut(0, c))
		return w.schedule("tree"), nil
	}
	trees := doubleBinaryTree(n)
	type half struct {
		off, len, pieces int
	}
	var halves [2]half
	last := 0 // the last round of either tree
	for k := range trees {
		off, l := evenSplit(c, 2, k)
		p := pipelinePieces(l, req.ElemSize)
		halves[k] = half{off, l, p}
		if p > 0 {
			last = max(last, p-1+trees[k].height[trees[k].root]+trees[k].maxDepth())
		}
	}
	for t := 0; t <= last; t++ {
		for k := range trees {
			tr, h := &trees[k], halves[k]
			hr := tr.height[tr.root]
			// Reductions of round t: v reduces piece t-height(v), its children sending it.
			for v := range n {
				i := t - tr.height[v]
				if len(tr.kids[v]) == 0 || i < 0 || i >= h.pieces {
					continue
				}
				po, pl := evenSplit(h.len, h.pieces, i)
				piece := rOut(h.off+po, pl)
				w.copy(v, rIn(h.off+po, pl), piece)
				for _, kid := range tr.kids[v] {
					src := piece
					if len(tr.kids[kid]) == 0 {
						src = rIn(h.off+po, pl) // a leaf sends its input as it is
					}
					w.msgReduce(kid, src, v, piece)
				}
			}
			// Broadcasts of round t: v receives piece t-height(root)-depth(v) from its parent.
			for v := range n {
				i := t - hr - tr.depth[v]
				if v == tr.root || i < 0 || i >= h.pieces {
					continue
				}
				po, pl := evenSplit(h.len, h.pieces, i)
				piece := rOut(h.off+po, pl)
				w.msg(tr.parent[v], piece, v, piece)
			}
		}
	}
	return w.schedule("tree"), nil
}

// Cost estimates the pipelined trees: D+P-1 stages, where D = height(root)+depth of the deepest
// leaf and P the pieces per half, each stage costing one latency and, on the busiest rank, four
// pieces sent (two children in its interior tree, its parents in both) and two reduced.
func (treeAllReduce) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllReduce {
		return math.Inf(1)
	}
	if req.Ranks == 1 || req.Count == 0 {
		return m.Time(0, 0, 0)
	}
	tr := ncclTree(req.Ranks, func(r int) int { return r })
	_, l := evenSplit(req.Count, 2, 0)
	p := pipelinePieces(l, req.ElemSize)
	stages := tr.height[tr.root] + tr.maxDepth() + p - 1
	piece := float64(l) / float64(p) * float64(req.ElemSize)
	return m.For(req).Time(stages, float64(stages)*4*piece, float64(stages)*2*piece)
}

// binTree is one tree over the ranks: parent (-1 at the root), children in reduction order,
// height (0 at leaves) and depth (0 at the root) of every rank.
type binTree struct {
	root   int
	parent []int
	kids   [][]int
	height []int
	depth  []int
}

func (t *binTree) maxDepth() int {
	d := 0
	for _, x := range t.depth {
		d = max(d, x)
	}
	return d
}

// ncclBtree returns the parent and children of rank in NCCL's binary tree over n ranks rooted at
// 0 (ncclGetBtree in NCCL's src/graph/trees.cc), -1 where there is none. Let bit be the lowest set
// bit of rank: the parent is rank^bit|bit<<1, or rank^bit when that is out of range; the
// children are rank-bit/2 and rank+b for the largest b ≤ bit/2 that keeps it in range. Rank 0 has
// the single child 2^floor(log2(n-1)) (as d1, d0 being -1).
func ncclBtree(n, rank int) (up, d0, d1 int) {
	bit := 1
	for ; bit < n; bit <<= 1 {
		if bit&rank != 0 {
			break
		}
	}
	if rank == 0 {
		if n > 1 {
			return -1, -1, bit >> 1
		}
		return -1, -1, -1
	}
	up = (rank ^ bit) | (bit << 1)
	if up >= n {
		up = rank ^ bit
	}
	low := bit >> 1
	if low == 0 {
		return up, -1, -1
	}
	d0 = rank - low
	for low > 0 && rank+low >= n {
		low >>= 1
	}
	d1 = -1
	if low > 0 {
		d1 = rank + low
	}
	return up, d0, d1
}

// ncclTree returns NCCL's binary tree over n ranks with rank r of the tree played by rank
// perm(r) (perm is a bijection of 0..n-1).
func ncclTree(n int, perm func(int) int) binTree {
	t := binTree{
		parent: make([]int, n),
		kids:   make([][]int, n),
		height: make([]int, n),
		depth:  make([]int, n),
	}
	for r := range n {
		up, d0, d1 := ncclBtree(n, r)
		v := perm(r)
		t.parent[v] = -1
		if up >= 0 {
			t.parent[v] = perm(up)
		} else {
			t.root = v
		}
		for _, d := range []int{d0, d1} {
			if d >= 0 {
				t.kids[v] = append(t.kids[v], perm(d))
			}
		}
	}
	// Depths top down, heights bottom up, over a breadth-first order from the root.
	order := []int{t.root}
	for i := 0; i < len(order); i++ {
		v := order[i]
		for _, k := range t.kids[v] {
			t.depth[k] = t.depth[v] + 1
			order = append(order, k)
		}
	}
	if len(order) != n {
		panic(fmt.Sprintf("algos: binary tree over %d ranks reaches %d", n, len(order)))
	}
	for i := n - 1; i >= 0; i-- {
		v := order[i]
		for _, k := range t.kids[v] {
			t.height[v] = max(t.height[v], t.height[k]+1)
		}
	}
	return t
}

// doubleBinaryTree returns NCCL's two trees over n ranks (ncclGetDtree): the binary tree, and
// the same tree mirrored (rank r plays n-1-r) for even n or shifted (rank r plays r+1 mod n) for
// odd n.
func doubleBinaryTree(n int) [2]binTree {
	second := func(r int) int { return n - 1 - r }
	if n%2 == 1 {
		second = func(r int) int { return (r + 1) % n }
	}
	return [2]binTree{ncclTree(n, func(r int) int { return r }), ncclTree(n, second)}
}
