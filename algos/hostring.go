// Host-aware orders of ranks for the rings and chains: the ranks of each host next to each other,
// so that data crosses a slow link between hosts as few times as it can.

package algos

import (
	"github.com/chorus-cc/chorus/algos/plan"
)

// hostGroups returns the ranks of every host of req: hosts in the order of their lowest rank, the
// ranks of a host in increasing order. With req.Hosts zero it is one group holding every rank.
func hostGroups(req plan.Request) [][]int {
	n := req.Ranks
	if req.Hosts.IsZero() {
		all := make([]int, n)
		for r := range all {
			all[r] = r
		}
		return [][]int{all}
	}
	slot := make([]int, req.Hosts.Count()) // host index -> position in groups, +1; 0 if unseen
	var groups [][]int
	for r := range n {
		h := req.Hosts.Of(r)
		if slot[h] == 0 {
			groups = append(groups, nil)
			slot[h] = len(groups)
		}
		g := slot[h] - 1
		groups[g] = append(groups[g], r)
	}
	return groups
}

// hostRing returns the ranks of req in ring order, position by position: the groups of
// hostGroups one after the other. With H > 1 hosts the ring crosses between hosts exactly H times,
// the fewest a ring through every host can; with one host (req.Hosts zero) it is 0, 1, ..., n-1.
// Hosts {0: ranks 0,2,5}, {1: ranks 1,4}, {2: rank 3}; ══► crosses between hosts:
//
//	 host 0              host 1       host 2
//	[0 ──► 2 ──► 5] ══► [1 ──► 4] ══► [3] ══╗
//	 ▲                                      ║
//	 ╚══════════════════════════════════════╝
func hostRing(req plan.Request) []int {
	order := make([]int, 0, req.Ranks)
	for _, g := range hostGroups(req) {
		order = append(order, g...)
	}
	return order
}

// hostChain returns the ranks of req in chain order from root: root first, then the ranks of
// root's host that follow it in hostRing, then those that precede it, then the other hosts' ranks
// in ring order from there. The chain crosses between hosts H-1 times with H hosts, each host's
// ranks in one run; with one host it is root, root+1, ..., root-1 (mod n). Root 2 in the hosts of
// hostRing's example:
//
//	2 ──► 5 ──► 0 ══► 1 ──► 4 ══► 3      (══► crosses hosts)
func hostChain(req plan.Request, root int) []int {
	var before, chain []int // ranks of the groups before root's; the chain from root on
	for _, g := range hostGroups(req) {
		at := -1
		for i, r := range g {
			if r == root {
				at = i
			}
		}
		switch {
		case at >= 0:
			chain = append(append(chain, g[at:]...), g[:at]...)
		case chain != nil:
			chain = append(chain, g...)
		default:
			before = append(before, g...)
		}
	}
	return append(chain, before...)
}
