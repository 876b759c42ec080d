// Package topology models the system a job runs on: which ranks share a host, what each rank
// runs on (CPUs, NUMA nodes, network interfaces), which transport joins each pair of ranks, and
// rings and trees that cross host boundaries as few times as possible.
//
// The communicator uses it in three steps. Each rank describes itself with Local, publishes the
// description (Encode) through the rendezvous store, and reads everyone else's (Decode). Every
// rank then calls Build with the same descriptions and gets the same System, from which it takes
// the transport of each pair (System.Transport), the ring order (System.Ring) and the tree
// (System.Tree). Build is a pure function of its input, so all ranks agree without talking.
//
// What makes two ranks one host is explained at HostID.
package topology

import "errors"

// Sentinel errors. Functions wrap them with %w and context.
var (
	// ErrMalformed: a peer description is not valid (bad JSON, a field out of range, too large).
	ErrMalformed = errors.New("chorus: topology: malformed peer description")
	// ErrPeerSet: the peers given to Build are not ranks 0..n-1 each exactly once.
	ErrPeerSet = errors.New("chorus: topology: invalid peer set")
	// ErrTransport: a forced transport cannot join every pair of the peers (shm across hosts,
	// inproc across processes).
	ErrTransport = errors.New("chorus: topology: transport cannot join these peers")
	// ErrRank: a rank passed to a method is outside 0..size-1.
	ErrRank = errors.New("chorus: topology: rank out of range")
)
