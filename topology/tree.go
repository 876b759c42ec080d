package topology

import "fmt"

// Tree returns a spanning tree of the ranks rooted at root, as the parent of every rank
// (indexed by rank; -1 for the root). Each host has one leader: root on root's host, its lowest
// rank on every other. The leaders form a binary tree, root's host first and the other hosts in
// order of their lowest rank (the leader of the i-th host hangs under that of host (i-1)/2), and
// every other rank hangs directly under its host's leader. So only leaders talk across hosts:
// each host but root's has exactly one rank with a parent elsewhere, and a message from the root
// crosses about log2(H) host boundaries on its way to any rank. For six ranks on three hosts,
// {0,1} {2,3} {4,5}, rooted at 0:
//
//	0            host 0 (leader 0)
//	|-- 1
//	|-- 2        host 1 (leader 2)
//	|   `-- 3
//	`-- 4        host 2 (leader 4)
//	    `-- 5
//
// With more hosts the leaders' tree branches in twos (host 1 and 2 under host 0, hosts 3 and 4
// under host 1, ...). The error wraps ErrRank when root is out of range.
func (s *System) Tree(root int) ([]int, error) {
	if !s.valid(root) {
		return nil, fmt.Errorf("topology: tree: %w: root %d, size %d", ErrRank, root, s.Size())
	}
	// Leaders in tree order: root's host first, then the others in host order.
	rootHost := s.hostOf[root]
	leaders := []int{root}
	for h, host := range s.Hosts {
		if h != rootHost {
			leaders = append(leaders, host.Ranks[0])
		}
	}
	parent := make([]int, s.Size())
	for i, l := range leaders {
		if i == 0 {
			parent[l] = -1
		} else {
			parent[l] = leaders[(i-1)/2]
		}
		for _, r := range s.Hosts[s.hostOf[l]].Ranks {
			if r != l {
				parent[r] = l
			}
		}
	}
	return parent, nil
}
