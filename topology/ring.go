package topology

// Ring returns an order of all ranks for ring algorithms in which the ranks of each host are
// adjacent: hosts in order of their lowest rank, ranks ascending inside a host. Rank order[i]
// sends to order[i+1], and the last to the first.
//
// A ring over H hosts must leave every host at least once, so it crosses host boundaries at least
// H times when H > 1; this order crosses exactly H times (0 when H == 1), each inter-host step
// joining the last rank of one host to the first of the next:
//
//	host 0       host 1       host 2
//	0 -> 1 -> 2 | 3 -> 4 | 5 -> 6 | (back to 0)
//
// Ranks already numbered host by host keep their order, so the ring is then 0, 1, ..., n-1.
func (s *System) Ring() []int {
	order := make([]int, 0, s.Size())
	for _, h := range s.Hosts {
		order = append(order, h.Ranks...)
	}
	return order
}

// Crossings counts the steps of the ring order (including the one from the last rank back to the
// first) that join ranks of different hosts. Ranks out of range count as crossings.
func (s *System) Crossings(order []int) int {
	c := 0
	for i, r := range order {
		next := order[(i+1)%len(order)]
		if !s.SameHost(r, next) {
			c++
		}
	}
	return c
}
