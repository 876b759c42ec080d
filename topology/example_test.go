package topology_test

import (
	"fmt"
	"os"

	"github.com/chorus-cc/chorus/topology"
)

// Four ranks on two hosts, numbered across the hosts: the ring keeps host-mates together.
func ExampleSystem_WriteText() {
	peers := []topology.Peer{
		{Rank: 0, Host: "a", Hostname: "node-a", PID: 10, NUMA: []int{0}, CPUs: topology.NewCPUSet(0, 1)},
		{Rank: 1, Host: "b", Hostname: "node-b", PID: 20, NUMA: []int{0}, CPUs: topology.NewCPUSet(0, 1)},
		{Rank: 2, Host: "a", Hostname: "node-a", PID: 11, NUMA: []int{1}, CPUs: topology.NewCPUSet(2, 3)},
		{Rank: 3, Host: "b", Hostname: "node-b", PID: 21, NUMA: []int{1}, CPUs: topology.NewCPUSet(2, 3)},
	}
	s, err := topology.Build(peers, topology.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.WriteText(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// system: 4 ranks on 2 hosts; transport by host (shm inside, quic between)
	// host 0: node-a (id a)
	//   rank 0  pid 10  numa 0  cpus 0-1
	//   rank 2  pid 11  numa 1  cpus 2-3
	// host 1: node-b (id b)
	//   rank 1  pid 20  numa 0  cpus 0-1
	//   rank 3  pid 21  numa 1  cpus 2-3
	// transports (- self, q quic, s shm):
	//      0 1 2 3
	//   0  - q s q
	//   1  q - q s
	//   2  s q - q
	//   3  q s q -
	// ring: 0 -> 2 | 1 -> 3 | (0)  (2 host crossings)
	// tree (root 0):
	//   0  [host 0]
	//   |-- 1  [host 1]
	//   |   `-- 3
	//   `-- 2
}
