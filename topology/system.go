package topology

import (
	"fmt"
	"slices"
)

// Transport names the System chooses between. Options.Transport may name any other.
const (
	// TransportSHM joins two ranks of one host through shared memory.
	TransportSHM = "shm"
	// TransportQUIC joins two ranks over the network.
	TransportQUIC = "quic"
	// TransportInproc joins goroutines of one process; it is only ever forced, never chosen.
	TransportInproc = "inproc"
)

// Options tunes Build.
type Options struct {
	// Transport, when not empty, is used for every pair instead of the choice by host (shm
	// inside a host, quic between hosts). Build refuses "shm" for peers on several hosts and
	// "inproc" for peers in several processes; other names are not checked here. The
	// communicator fills it from CHORUS_TRANSPORT.
	Transport string
}

// Host is one host of a System: the ranks that share its identity.
type Host struct {
	// ID is the host identity the ranks reported (see HostID).
	ID string `json:"id"`
	// Hostname is the hostname its lowest rank reported.
	Hostname string `json:"hostname,omitempty"`
	// Ranks are the host's ranks in ascending order.
	Ranks []int `json:"ranks"`
}

// System is the model of a job: its hosts, its ranks, and how they connect. Only Build makes
// one; it is not changed afterwards, so its methods may be called from many goroutines, and
// callers must not modify Hosts or Peers.
type System struct {
	// Hosts are ordered by their lowest rank, so host 0 holds rank 0.
	Hosts []Host
	// Peers holds the description of every rank, indexed by rank.
	Peers []Peer

	hostOf []int  // host index by rank
	forced string // Options.Transport
}

// Build makes the System of the given peers, which must be ranks 0..len(peers)-1, each once, in
// any order. Every rank calling Build with the same peers and options gets the same System.
// Errors wrap ErrMalformed (a peer that does not pass Validate), ErrPeerSet (ranks missing,
// repeated or out of range) or ErrTransport (a forced transport that cannot join the peers).
func Build(peers []Peer, opts Options) (*System, error) {
	n := len(peers)
	if n == 0 {
		return nil, fmt.Errorf("topology: build: %w: no peers", ErrPeerSet)
	}
	if n > MaxRanks {
		return nil, fmt.Errorf("topology: build: %w: %d peers (at most %d)", ErrPeerSet, n, MaxRanks)
	}
	s := &System{Peers: make([]Peer, n), hostOf: make([]int, n), forced: opts.Transport}
	seen := make([]bool, n)
	for i, p := range peers {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("topology: build: peer %d: %w", i, err)
		}
		if p.Rank >= n {
			return nil, fmt.Errorf("topology: build: %w: peer %d has rank %d, but there are %d peers (ranks 0..%d)",
				ErrPeerSet, i, p.Rank, n, n-1)
		}
		if seen[p.Rank] {
			return nil, fmt.Errorf("topology: build: %w: rank %d appears twice (and so %s)",
				ErrPeerSet, p.Rank, missing(peers))
		}
		seen[p.Rank] = true
		s.Peers[p.Rank] = p
	}
	index := make(map[string]int)
	for r, p := range s.Peers {
		h, ok := index[p.Host]
		if !ok {
			h = len(s.Hosts)
			index[p.Host] = h
			s.Hosts = append(s.Hosts, Host{ID: p.Host, Hostname: p.Hostname})
		}
		s.Hosts[h].Ranks = append(s.Hosts[h].Ranks, r)
		s.hostOf[r] = h
	}
	if err := s.checkForced(); err != nil {
		return nil, fmt.Errorf("topology: build: %w", err)
	}
	return s, nil
}

// missing names the ranks in 0..len(peers)-1 that no peer has, for an error message.
func missing(peers []Peer) string {
	have := make([]bool, len(peers))
	for _, p := range peers {
		if p.Rank >= 0 && p.Rank < len(peers) {
			have[p.Rank] = true
		}
	}
	var miss []int
	for r, ok := range have {
		if !ok {
			miss = append(miss, r)
		}
	}
	const show = 8
	if len(miss) > show {
		return fmt.Sprintf("ranks %v and %d more are missing", miss[:show], len(miss)-show)
	}
	return fmt.Sprintf("ranks %v are missing", miss)
}

func (s *System) checkForced() error {
	switch s.forced {
	case TransportSHM:
		if len(s.Hosts) > 1 {
			return fmt.Errorf("%w: %q needs one host, but ranks %d and %d are on hosts %q and %q",
				ErrTransport, s.forced, s.Hosts[0].Ranks[0], s.Hosts[1].Ranks[0], s.Hosts[0].ID, s.Hosts[1].ID)
		}
	case TransportInproc:
		for r, p := range s.Peers {
			if p.Host != s.Peers[0].Host || p.PID != s.Peers[0].PID {
				return fmt.Errorf("%w: %q needs one process, but ranks 0 and %d are pid %d on %q and pid %d on %q",
					ErrTransport, s.forced, r, s.Peers[0].PID, s.Peers[0].Host, p.PID, p.Host)
			}
		}
	}
	return nil
}

// Size returns the number of ranks.
func (s *System) Size() int { return len(s.Peers) }

// HostOf returns the host index (into Hosts) of every rank, indexed by rank. The slice is a copy.
func (s *System) HostOf() []int { return slices.Clone(s.hostOf) }

// SameHost reports whether ranks a and b are on one host; false when either is out of range.
func (s *System) SameHost(a, b int) bool {
	return s.valid(a) && s.valid(b) && s.hostOf[a] == s.hostOf[b]
}

// Transport returns the transport that joins ranks a and b: Options.Transport when it was set,
// otherwise "shm" when they are on one host (a == b included) and "quic" when not. It returns ""
// when a or b is out of range.
func (s *System) Transport(a, b int) string {
	switch {
	case !s.valid(a) || !s.valid(b):
		return ""
	case s.forced != "":
		return s.forced
	case s.hostOf[a] == s.hostOf[b]:
		return TransportSHM
	default:
		return TransportQUIC
	}
}

// Transports returns the transport of every pair as a matrix indexed [a][b]; it is symmetric.
func (s *System) Transports() [][]string {
	m := make([][]string, s.Size())
	for a := range m {
		m[a] = make([]string, s.Size())
		for b := range m[a] {
			m[a][b] = s.Transport(a, b)
		}
	}
	return m
}

func (s *System) valid(r int) bool { return r >= 0 && r < len(s.Peers) }

// Oversubscribed reports whether some host runs more processes than there are CPUs in the union
// of their ranks' affinities, so that the operating system has them take turns on the CPUs.
// Ranks with the same PID on a host are one process (goroutines, as with comm.NewLocal), which
// the Go scheduler runs without time slices. A host where a rank's CPUs are unknown does not
// count, nor do processes that show one PID from different PID namespaces. Every rank sees the
// same answer, since it depends on the System only.
func (s *System) Oversubscribed() bool {
	for _, h := range s.Hosts {
		if _, _, over := s.load(h); over {
			return true
		}
	}
	return false
}

// load returns how many processes (distinct PIDs) run the ranks of h, how many CPUs their
// affinities hold together (0 when a rank's CPUs are unknown), and whether that makes h
// oversubscribed.
func (s *System) load(h Host) (procs, cpus int, over bool) {
	var all CPUSet
	pids := map[int]bool{}
	for _, r := range h.Ranks {
		p := s.Peers[r]
		if len(p.CPUs) == 0 {
			return len(h.Ranks), 0, false
		}
		all = NewCPUSet(append(all, p.CPUs...)...)
		pids[p.PID] = true
	}
	return len(pids), len(all), len(pids) > len(all)
}
