package topology

import (
	"fmt"

	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocal(t *testing.T) {
	t.Setenv(HostIDEnv, "")
	p, err := Local(5)
	require.NoError(t, err)
	require.Equal(t, 5, p.Rank)
	require.Equal(t, os.Getpid(), p.PID)
	require.NotEmpty(t, p.Host)
	require.NoError(t, p.Validate())
	cpus, err := affinity()
	require.NoError(t, err)
	require.Equal(t, cpus, p.CPUs)
	require.Empty(t, p.GPUs)
	for _, ifc := range p.Interfaces {
		require.NotEmpty(t, ifc.Addrs, "interface %s", ifc.Name)
	}

	_, err = Local(-1)
	require.ErrorIs(t, err, ErrRank)
	_, err = Local(MaxRanks)
	require.ErrorIs(t, err, ErrRank)
}

func TestLocalListsLoopback(t *testing.T) {
	p, err := Local(0)
	require.NoError(t, err)
	for _, ifc := range p.Interfaces {
		if ifc.Loopback {
			require.Contains(t, ifc.Addrs, "127.0.0.1/8")
			return
		}
	}
	t.Skip("no loopback interface is up in this network namespace")
}

func validPeer() Peer {
	return Peer{
		Rank: 2, Host: "h", Hostname: "node-a", PID: 42, NUMA: []int{0, 1}, CPUs: CPUSet{0, 1, 2},
		Interfaces: []Interface{{Name: "eth0", MTU: 1500, Addrs: []string{"10.0.0.2/24", "fe80::1/64"}}},
		GPUs:       []GPU{{Index: 0, UUID: "GPU-1234", BusID: "0000:3b:00.0"}},
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, validPeer().Validate())
	cases := map[string]func(p *Peer){
		"rank -1":               func(p *Peer) { p.Rank = -1 },
		"rank 1048576 out":      func(p *Peer) { p.Rank = MaxRanks },
		"no host identity":      func(p *Peer) { p.Host = "" },
		"not printable":         func(p *Peer) { p.Host = "a\x00b" },
		"hostname":              func(p *Peer) { p.Hostname = strings.Repeat("n", maxName+1) },
		"negative pid":          func(p *Peer) { p.PID = -3 },
		"numa nodes":            func(p *Peer) { p.NUMA = []int{1, 0} },
		"numa nodes [1024]":     func(p *Peer) { p.NUMA = []int{MaxNUMA} },
		"cpu set":               func(p *Peer) { p.CPUs = CPUSet{3, 3} },
		"interface without":     func(p *Peer) { p.Interfaces[0].Name = "" },
		"negative mtu":          func(p *Peer) { p.Interfaces[0].MTU = -1 },
		"address":               func(p *Peer) { p.Interfaces[0].Addrs = []string{"10.0.0.300/24"} },
		"interfaces":            func(p *Peer) { p.Interfaces = make([]Interface, maxInterfaces+1) },
		"gpu index":             func(p *Peer) { p.GPUs[0].Index = -1 },
		"gpu 0 uuid":            func(p *Peer) { p.GPUs[0].UUID = "\xff" },
		"more than 1024 addr":   func(p *Peer) { p.Interfaces[0].Addrs = make([]string, maxAddrs+1) },
		"gpus (at most":         func(p *Peer) { p.GPUs = make([]GPU, maxGPUs+1) },
		"numa nodes (at most":   func(p *Peer) { p.NUMA = make([]int, MaxNUMA+1) },
		"bus id: 2000 bytes":    func(p *Peer) { p.GPUs[0].BusID = strings.Repeat("b", 2000) },
		"interface name: 300 b": func(p *Peer) { p.Interfaces[0].Name = strings.Repeat("i", 300) },
	}
	for want, spoil := range cases {
		p := validPeer()
		spoil(&p)
		err := p.Validate()
		require.ErrorIs(t, err, ErrMalformed, want)
		require.ErrorContains(t, err, want)
	}
}

func TestPrintable(t *testing.T) {
	require.Equal(t, "plain", printable("plain", 10))
	require.Equal(t, `caf\u00e9`, printable("café", 10))
	require.Equal(t, `a\nb`, printable("a\nb", 10))
	require.Equal(t, "abc", printable("abcdef", 3))
	require.NoError(t, checkText(printable("\x01\x02\x03\xff", 5), 5))
}

// A host with more interfaces or addresses than a Peer may hold keeps the first ones and stays
// valid.
func TestCapInterfaces(t *testing.T) {
	many := make([]Interface, maxInterfaces+40)
	for i := range many {
		many[i] = Interface{Name: fmt.Sprintf("veth%d", i), Addrs: []string{fmt.Sprintf("10.%d.%d.1/24", i/256, i%256)}}
	}
	got := capInterfaces(many)
	require.Len(t, got, maxInterfaces)
	require.Equal(t, "veth0", got[0].Name)
	p := Peer{Host: "h", Interfaces: got}
	require.NoError(t, p.Validate())

	addrs := make([]string, maxAddrs+5)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.0.%d.%d/32", i/256, i%256)
	}
	got = capInterfaces([]Interface{{Name: "a", Addrs: addrs[:10]}, {Name: "b", Addrs: addrs}, {Name: "c", Addrs: addrs[:1]}})
	require.Len(t, got, 2)
	require.Len(t, got[1].Addrs, maxAddrs-10)
	p = Peer{Host: "h", Interfaces: got}
	require.NoError(t, p.Validate())
}
