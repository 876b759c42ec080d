package topology

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"unicode/utf8"
)

// Limits on a peer description. A description comes over the wire from the rendezvous store,
// so every list and string in it is bounded; these bounds are far above real machines.
const (
	// MaxRanks bounds the rank numbers (and so the size of a System).
	MaxRanks = 1 << 20
	// MaxNUMA bounds the NUMA node numbers (Linux's own limit is 1024).
	MaxNUMA = 1024

	// The bounds below keep the encoding of every valid description under MaxEncodedSize.
	maxHostID     = 255
	maxName       = 255
	maxInterfaces = 256
	maxAddrs      = 1024 // over all interfaces
	maxGPUs       = 64
)

// Peer describes one rank: where it runs and what it can reach. Local fills it for the calling
// process; Encode and Decode carry it through the rendezvous store. The JSON field names are
// part of the wire format and do not change.
type Peer struct {
	// Rank is the rank's index in its communicator.
	Rank int `json:"rank"`
	// Host is the host identity (see HostID); ranks with equal Host share memory.
	Host string `json:"host"`
	// Hostname is the machine's name, for people; it decides nothing.
	Hostname string `json:"hostname,omitempty"`
	// PID is the process id, in the rank's own PID namespace.
	PID int `json:"pid"`
	// NUMA lists, ascending, the NUMA nodes of the CPUs in CPUs; empty when unknown.
	NUMA []int `json:"numa,omitempty"`
	// CPUs is the process's CPU affinity; empty when unknown.
	CPUs CPUSet `json:"cpus,omitempty"`
	// Interfaces lists the network interfaces that are up and have addresses.
	Interfaces []Interface `json:"interfaces,omitempty"`
	// GPUs lists the rank's GPUs; nothing fills it yet.
	GPUs []GPU `json:"gpus,omitempty"`
}

// Interface is one network interface of a peer.
type Interface struct {
	// Name is the interface's name ("eth0").
	Name string `json:"name"`
	// MTU is the interface's maximum transmission unit in bytes.
	MTU int `json:"mtu,omitempty"`
	// Loopback is set for the loopback interface.
	Loopback bool `json:"loopback,omitempty"`
	// Addrs are the interface's addresses with their prefix length ("10.0.0.2/24").
	Addrs []string `json:"addrs"`
}

// GPU is one GPU of a peer. It is a placeholder for the GPU topology to come.
type GPU struct {
	// Index is the device's ordinal as the rank's driver numbers it.
	Index int `json:"index"`
	// UUID is the device's UUID, which names it across processes.
	UUID string `json:"uuid,omitempty"`
	// BusID is the device's PCI bus id ("0000:3b:00.0").
	BusID string `json:"bus_id,omitempty"`
}

// Local describes the calling process as the given rank: its host identity (HostID), hostname,
// PID, CPU affinity and the NUMA nodes of those CPUs, and its network interfaces that are up and
// have addresses.
func Local(rank int) (Peer, error) {
	if rank < 0 || rank >= MaxRanks {
		return Peer{}, fmt.Errorf("topology: local rank %d: %w", rank, ErrRank)
	}
	host, err := HostID()
	if err != nil {
		return Peer{}, fmt.Errorf("topology: local rank %d: %w", rank, err)
	}
	hostname, _ := os.Hostname() // only shown to people; empty when unknown
	hostname = printable(hostname, maxName)
	cpus, err := affinity()
	if err != nil {
		return Peer{}, fmt.Errorf("topology: local rank %d: cpu affinity: %w", rank, err)
	}
	ifaces, err := localInterfaces()
	if err != nil {
		return Peer{}, fmt.Errorf("topology: local rank %d: %w", rank, err)
	}
	p := Peer{
		Rank:       rank,
		Host:       host,
		Hostname:   hostname,
		PID:        os.Getpid(),
		NUMA:       numaNodes("/sys", cpus),
		CPUs:       cpus,
		Interfaces: ifaces,
	}
	if err := p.Validate(); err != nil {
		return Peer{}, fmt.Errorf("topology: local rank %d: %w", rank, err)
	}
	return p, nil
}

// capInterfaces keeps the first interfaces and addresses within the limits of a valid Peer
// (maxInterfaces, maxAddrs): a host with hundreds of virtual interfaces (a container host)
// still describes itself, without the ones past the limit, which it is unlikely to be reached
// through.
func capInterfaces(in []Interface) []Interface {
	out := in[:0:0]
	addrs := 0
	for _, ifc := range in {
		if len(out) == maxInterfaces || addrs == maxAddrs {
			break
		}
		if len(ifc.Addrs) > maxAddrs-addrs {
			ifc.Addrs = ifc.Addrs[:maxAddrs-addrs]
		}
		addrs += len(ifc.Addrs)
		out = append(out, ifc)
	}
	return out
}

// localInterfaces lists the interfaces that are up, with their addresses; interfaces without
// addresses are left out, since nothing can be dialled through them.
func localInterfaces() ([]Interface, error) {
	ifcs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("network interfaces: %w", err)
	}
	var out []Interface
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		var list []string
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				list = append(list, p.String())
			}
		}
		if len(list) == 0 {
			continue
		}
		out = append(out, Interface{
			Name:     printable(ifc.Name, maxName),
			MTU:      ifc.MTU,
			Loopback: ifc.Flags&net.FlagLoopback != 0,
			Addrs:    list,
		})
	}
	return capInterfaces(out), nil
}

// Validate reports whether p is a description Build accepts: a rank in 0..MaxRanks-1, a host
// identity, and every list and string within the package's bounds. Its errors wrap ErrMalformed.
func (p Peer) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: rank %d: %s", ErrMalformed, p.Rank, fmt.Sprintf(format, args...))
	}
	if p.Rank < 0 || p.Rank >= MaxRanks {
		return fmt.Errorf("%w: rank %d out of range 0..%d", ErrMalformed, p.Rank, MaxRanks-1)
	}
	if p.Host == "" {
		return bad("no host identity")
	}
	if err := checkText(p.Host, maxHostID); err != nil {
		return bad("host identity: %v", err)
	}
	if err := checkText(p.Hostname, maxName); err != nil {
		return bad("hostname: %v", err)
	}
	if p.PID < 0 {
		return bad("negative pid %d", p.PID)
	}
	if len(p.NUMA) > MaxNUMA {
		return bad("%d numa nodes (at most %d)", len(p.NUMA), MaxNUMA)
	}
	for i, n := range p.NUMA {
		if n < 0 || n >= MaxNUMA || (i > 0 && n <= p.NUMA[i-1]) {
			return bad("numa nodes %v are not ascending in 0..%d", p.NUMA, MaxNUMA-1)
		}
	}
	if !p.CPUs.valid() {
		return bad("cpu set is not ascending in 0..%d", MaxCPU-1)
	}
	if len(p.Interfaces) > maxInterfaces {
		return bad("%d interfaces (at most %d)", len(p.Interfaces), maxInterfaces)
	}
	addrs := 0
	for _, ifc := range p.Interfaces {
		if ifc.Name == "" {
			return bad("interface without a name")
		}
		if err := checkText(ifc.Name, maxName); err != nil {
			return bad("interface name: %v", err)
		}
		if ifc.MTU < 0 {
			return bad("interface %s: negative mtu %d", ifc.Name, ifc.MTU)
		}
		if addrs += len(ifc.Addrs); addrs > maxAddrs {
			return bad("more than %d addresses", maxAddrs)
		}
		for _, a := range ifc.Addrs {
			if _, err := netip.ParsePrefix(a); err != nil {
				return bad("interface %s: address %q: %v", ifc.Name, a, err)
			}
		}
	}
	if len(p.GPUs) > maxGPUs {
		return bad("%d gpus (at most %d)", len(p.GPUs), maxGPUs)
	}
	for _, g := range p.GPUs {
		if g.Index < 0 || g.Index >= maxGPUs {
			return bad("gpu index %d out of range 0..%d", g.Index, maxGPUs-1)
		}
		if err := checkText(g.UUID, maxName); err != nil {
			return bad("gpu %d uuid: %v", g.Index, err)
		}
		if err := checkText(g.BusID, maxName); err != nil {
			return bad("gpu %d bus id: %v", g.Index, err)
		}
	}
	return nil
}

// checkText accepts printable ASCII (space included) of at most max bytes.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes (at most %d)", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("character %q at byte %d is not printable ASCII", r, i)
		}
	}
	return nil
}

// printable returns s with every byte that checkText refuses escaped Go-style, cut to max bytes.
func printable(s string, max int) string {
	if checkText(s, max) == nil {
		return s
	}
	q := strconv.QuoteToASCII(s)
	q = q[1 : len(q)-1]
	if len(q) > max {
		q = q[:max]
	}
	return q
}
