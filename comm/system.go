package comm

import (
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/topology"
	"github.com/chorus-cc/chorus/transport"
)

// System returns the model of the machines the communicator runs on: its hosts, which ranks share
// one, and the transport of each pair (see topology.System, whose WriteText draws it). The
// collectives use it to keep traffic inside hosts. It is never nil for a communicator made by
// Init, NewLocal or Split.
func (c *Comm) System() *topology.System { return c.sys }

// TransportTo returns the name of the transport that joins this rank to peer ("quic", "shm",
// "inproc"), or "" for this rank itself or a peer out of range.
func (c *Comm) TransportTo(peer int) string {
	if peer < 0 || peer >= len(c.links) {
		return ""
	}
	return c.links[peer]
}

// Transports returns the distinct names of the transports this rank uses, sorted.
func (c *Comm) Transports() []string {
	var names []string
	for _, n := range c.links {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// setSystem records the system, the transport forced for every pair ("" when chosen by host)
// and the transport name of each peer (names[c.rank] is ignored).
func (c *Comm) setSystem(sys *topology.System, force string, names []string) {
	c.sys, c.force = sys, force
	if sys != nil && len(sys.Hosts) > 1 {
		// Every rank builds the same system from the same descriptions, so every rank gets the
		// same Hosts and so the same schedules. HostOf is dense from 0 by construction.
		c.hosts, _ = plan.NewHosts(sys.HostOf())
		c.hostsHash = xxhash.Sum64String(c.hosts.String())
	}
	c.links = slices.Clone(names)
	if c.rank < len(c.links) {
		c.links[c.rank] = ""
	}
	c.crowd()
}

// crowd marks the communicator crowded (see Comm.crowded) when its system is oversubscribed, and
// tells its connections.
func (c *Comm) crowd() {
	if c.sys == nil || !c.sys.Oversubscribed() {
		return
	}
	c.crowded = true
	for _, conn := range c.conns {
		if cr, ok := conn.(transport.Crowdable); ok {
			cr.SetCrowded(true)
		}
	}
}

// crowdedAllReduce is the all-reduce algorithm of a crowded communicator (see Comm.crowded).
// With more ranks than CPUs on a host, a rank waits whenever the one it needs is not running.
// The ring's ranks wait on one neighbour each and keep a pipeline going; halving-doubling
// and recursive doubling exchange pairwise, and a pair whose ranks are not running together
// stalls both for a time slice. Four ranks on the 2 CPUs of the development VM, median of 1000
// calls: ring 0.24-0.36 ms at 256 KiB and 1.1-1.8 ms at 2 MiB, halving-doubling 0.25-1.8 ms
// and 4.3-5.6 ms (chorus bench allreduce -N 4 -A ring, and without -A).
const crowdedAllReduce = "ring"

// algoFor returns the algorithm named for coll: Config.Algorithms' (or CHORUS_ALGO's) choice,
// else crowdedAllReduce for an all-reduce of a crowded communicator, else "" (the cost model
// picks).
func (c *Comm) algoFor(coll plan.Collective) string {
	if name := c.cfg.algo[coll]; name != "" {
		return name
	}
	if c.crowded && coll == plan.AllReduce {
		return crowdedAllReduce
	}
	return ""
}

// subSystem returns the system of a sub-communicator whose rank i is this one's rank members[i],
// and the transport names of its peers as seen from this rank's rank there.
func (c *Comm) subSystem(members []int) (*topology.System, []string, error) {
	names := make([]string, len(members))
	for i, r := range members {
		names[i] = c.TransportTo(r)
	}
	if c.sys == nil {
		return nil, names, nil
	}
	peers := make([]topology.Peer, len(members))
	for i, r := range members {
		peers[i] = c.sys.Peers[r]
		peers[i].Rank = i
	}
	sys, err := topology.Build(peers, topology.Options{Transport: c.force})
	if err != nil {
		return nil, names, fmt.Errorf("split: %w", err)
	}
	return sys, names, nil
}

// localSystem returns the system of n ranks in this process, joined by transport name.
func localSystem(n int, name string) (*topology.System, error) {
	self, err := topology.Local(0)
	if err != nil {
		return nil, err
	}
	peers := make([]topology.Peer, n)
	for r := range peers {
		peers[r] = self
		peers[r].Rank = r
	}
	return topology.Build(peers, topology.Options{Transport: name})
}
