package topology

import "encoding/json"

// Summary is everything a System knows, in a form meant for JSON (the `chorus topo --json`
// output). Its field names are stable.
type Summary struct {
	// Size is the number of ranks.
	Size int `json:"size"`
	// Forced is Options.Transport, empty when the transport is chosen per pair.
	Forced string `json:"forced_transport,omitempty"`
	// Hosts are the hosts in order of their lowest rank.
	Hosts []Host `json:"hosts"`
	// HostOf is the host index of each rank.
	HostOf []int `json:"host_of"`
	// Peers are the ranks' descriptions, indexed by rank.
	Peers []Peer `json:"peers"`
	// Transports is the transport of every pair, indexed [a][b] (size² entries).
	Transports [][]string `json:"transports"`
	// Ring is the ring order (System.Ring).
	Ring []int `json:"ring"`
	// Crossings counts the ring's steps between hosts.
	Crossings int `json:"crossings"`
	// TreeRoot is the root of Tree.
	TreeRoot int `json:"tree_root"`
	// Tree is the parent of each rank in the tree rooted at TreeRoot (System.Tree), -1 at the root.
	Tree []int `json:"tree"`
}

// Summary returns the system's summary, with the tree rooted at rank 0.
func (s *System) Summary() Summary {
	ring := s.Ring()
	tree, _ := s.Tree(0) // rank 0 always exists
	return Summary{
		Size:       s.Size(),
		Forced:     s.forced,
		Hosts:      s.Hosts,
		HostOf:     s.HostOf(),
		Peers:      s.Peers,
		Transports: s.Transports(),
		Ring:       ring,
		Crossings:  s.Crossings(ring),
		TreeRoot:   0,
		Tree:       tree,
	}
}

// MarshalJSON encodes the system as its Summary.
func (s *System) MarshalJSON() ([]byte, error) { return json.Marshal(s.Summary()) }
