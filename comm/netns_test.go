package comm_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTwoNetworkNamespaces runs rank 0 in this network namespace and rank 1 in a namespace of
// its own, joined by a veth pair, so the all-reduce really crosses an interface between two
// addresses (10.213.77.1 and .2); each rank finds its own address from the route to the store.
func TestTwoNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and a veth pair (run as root, as CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (Debian package iproute2): " + err.Error())
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	ns, here, there := "chorus-t"+id, "cha"+id, "chb"+id
	ip := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", here).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	ip("link", "add", here, "type", "veth", "peer", "name", there)
	ip("link", "set", there, "netns", ns)
	ip("addr", "add", "10.213.77.1/24", "dev", here)
	ip("link", "set", here, "up")
	ip("netns", "exec", ns, "ip", "addr", "add", "10.213.77.2/24", "dev", there)
	ip("netns", "exec", ns, "ip", "link", "set", there, "up")
	ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")

	wrap := func(rank int) []string {
		if rank == 1 {
			return []string{"ip", "netns", "exec", ns}
		}
		return nil
	}
	rxBytes := func() int {
		stats, err := os.ReadFile("/sys/class/net/" + here + "/statistics/rx_bytes")
		require.NoError(t, err)
		rx, err := strconv.Atoi(strings.TrimSpace(string(stats)))
		require.NoError(t, err)
		return rx
	}

	// Two network namespaces of one machine are one host: the ranks share memory.
	before := rxBytes()
	outs, errs := rankRun{n: 2, mode: "allreduce", storeAddr: "10.213.77.1:0", wrap: wrap}.run(t)
	for r := range outs {
		require.NoError(t, errs[r], "rank %d: %s", r, outs[r])
		require.Contains(t, outs[r], fmt.Sprintf("rank %d of 2 ok, transports [shm]", r))
	}
	require.Less(t, rxBytes()-before, 2<<20, "the data crossed %s instead of shared memory", here)

	// Pretending to be two hosts, they talk QUIC across the veth pair: its counters move by far
	// more than the 4 MiB buffer.
	before = rxBytes()
	outs, errs = rankRun{n: 2, mode: "allreduce", storeAddr: "10.213.77.1:0", wrap: wrap,
		env: func(r int) []string { return []string{"CHORUS_HOST_ID=netns-" + strconv.Itoa(r)} }}.run(t)
	for r := range outs {
		require.NoError(t, errs[r], "rank %d: %s", r, outs[r])
		require.Contains(t, outs[r], fmt.Sprintf("rank %d of 2 ok, transports [quic]", r))
	}
	require.Greater(t, rxBytes()-before, 2<<20, "bytes received on %s", here)
}
