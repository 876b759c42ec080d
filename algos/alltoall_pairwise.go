package algos

import (
	"fmt"
	"math"

	"github.com/chorus-cc/chorus/algos/plan"
)

// pairwiseAllToAll is the "pairwise" all-to-all: n-1 steps; in step k rank r sends its block for
// (r+k) mod n and receives the block of (r-k) mod n, so every rank sends and receives one block
// per step and each link is used once (Thakur, Rabenseifner and Gropp, "Optimization of
// Collective Communication Operations in MPICH", IJHPCA 19(1), 2005, on MPI_Alltoall: the pairwise
// exchange, here in its form for any n). Its own block is copied locally (in place it is already
// there).
//
//	n = 4, step 1: 0->1 1->2 2->3 3->0   step 2: 0->2 1->3 2->0 3->1   step 3: 0->3 1->0 2->1 3->2
//
// In place, block (r-k) of Out, written in step k, is the block In sends to rank r-k in step n-k.
// For k ≤ n/2 that send comes in the same step or later, so the block is first copied to Scratch
// (slot k-1) and later sent from there; for k > n/2 it was sent before and the receive only waits
// for that send to complete. Scratch is floor(n/2) × Count in place, none otherwise.
//
// Every rank sends (n-1) × Count elements in n-1 messages (Sent); Rounds is n-1.
type pairwiseAllToAll struct{}

func init() { Register(pairwiseAllToAll{}) }

// Name returns "pairwise".
func (pairwiseAllToAll) Name() string { return "pairwise" }

// Coll returns plan.AllToAll.
func (pairwiseAllToAll) Coll() plan.Collective { return plan.AllToAll }

// Build returns the pairwise-exchange schedule of req.
func (pairwiseAllToAll) Build(req plan.Request) (*plan.Schedule, error) {
	if req.Coll != plan.AllToAll {
		return nil, fmt.Errorf("pairwise all-to-all cannot run %s", req.Coll)
	}
	w := newSchedWriter(req)
	n, c := req.Ranks, req.Count
	for r := range n {
		w.copy(r, rIn(r*c, c), rOut(r*c, c))
		if req.InPlace && c > 0 {
			w.scratch(r, n/2*c)
		}
		for k := 1; k < n; k++ {
			to, from := (r+k)%n, (r-k+n)%n
			if req.InPlace && 2*k <= n {
				w.copy(r, rOut(from*c, c), rScratch((k-1)*c, c))
			}
			src := rIn(to*c, c)
			if req.InPlace && 2*(n-k) <= n {
				src = rScratch((n-k-1)*c, c)
			}
			w.send(r, to, src)
			w.recv(r, from, rOut(from*c, c))
		}
	}
	return w.schedule("pairwise"), nil
}

// Cost is n-1 steps of one block each.
func (pairwiseAllToAll) Cost(req plan.Request, m Model) float64 {
	if req.Coll != plan.AllToAll {
		return math.Inf(1)
	}
	if req.Count == 0 || req.Ranks == 1 {
		return m.Time(0, 0, 0)
	}
	steps := req.Ranks - 1
	return m.For(req).Time(steps, float64(steps)*float64(req.Count)*float64(req.ElemSize), 0)
}
