package comm_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/inproc"
)

// countingNet is an in-process network under a name of its own that counts the payload bytes
// sent over its connections.
type countingNet struct {
	*inproc.Network
	name  string
	bytes atomic.Int64
	msgs  atomic.Int64
}

func newCountingNet(name string) *countingNet { return &countingNet{Network: inproc.New(), name: name} }

func (n *countingNet) Name() string { return n.name }

func (n *countingNet) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := n.Network.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{c, n}, nil
}

func (n *countingNet) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	ln, err := n.Network.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	return countingListener{ln, n}, nil
}

type countingListener struct {
	transport.Listener
	net *countingNet
}

func (l countingListener) Accept(ctx context.Context) (transport.Conn, error) {
	c, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.net}, nil
}

type countingConn struct {
	transport.Conn
	net *countingNet
}

func (c countingConn) Send(ctx context.Context, tag transport.Tag, p []byte) error {
	c.net.bytes.Add(int64(len(p)))
	c.net.msgs.Add(1)
	return c.Conn.Send(ctx, tag, p)
}

// initHosts starts len(hosts) ranks through comm.Init, rank r on pretend host hosts[r], with
// remote between hosts and local inside them, as InitFromEnv does with QUIC and shared memory.
func initHosts(t *testing.T, hosts []string, remote, local *countingNet, force string, cfg comm.Config) []*comm.Comm {
	t.Helper()
	store := rendezvous.NewMemStore()
	comms := make([]*comm.Comm, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for r, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := comm.Member{Rank: r, Size: len(hosts), Store: store, Transport: remote, Local: local, Force: force, HostID: h}
			comms[r], errs[r] = comm.Init(t.Context(), m, cfg)
		}()
	}
	wg.Wait()
	t.Cleanup(func() { closeAll(comms) })
	noErrors(t, errs)
	return comms
}

// TestPretendHosts puts ranks 0 and 2 on one host and 1 and 3 on another: pairs on one host
// connect through the local transport, the others through the remote one, and every rank sees
// the same system, whose ring keeps host-mates adjacent.
func TestPretendHosts(t *testing.T) {
	remote, local := newCountingNet("remote"), newCountingNet("local")
	comms := initHosts(t, []string{"A", "B", "A", "B"}, remote, local, "", comm.Config{})
	for _, c := range comms {
		for p := range comms {
			want := "remote"
			if p%2 == c.Rank()%2 {
				want = "local"
			}
			if p == c.Rank() {
				want = ""
			}
			require.Equal(t, want, c.TransportTo(p), "rank %d to %d", c.Rank(), p)
		}
		require.Equal(t, []string{"local", "remote"}, c.Transports())
		sys := c.System()
		require.Len(t, sys.Hosts, 2)
		require.Equal(t, []int{0, 2}, sys.Hosts[0].Ranks)
		require.Equal(t, []int{0, 2, 1, 3}, sys.Ring())
	}
	allReduceWorks(t, comms)

	sub := make([]*comm.Comm, len(comms))
	noErrors(t, each(comms, func(c *comm.Comm) (err error) {
		sub[c.Rank()], err = c.Split(t.Context(), 0, -c.Rank()) // reversed: 3, 2, 1, 0
		return err
	}))
	t.Cleanup(func() { closeAll(sub) })
	for _, c := range sub {
		require.Equal(t, []int{0, 2}, c.System().Hosts[0].Ranks, "the split keeps the hosts")
		require.Equal(t, "local", c.TransportTo((c.Rank()+2)%4))
	}
	allReduceWorks(t, sub)
}

// TestForcedTransport: with Force set, every pair uses the forced transport whatever the hosts.
func TestForcedTransport(t *testing.T) {
	remote, local := newCountingNet("remote"), newCountingNet("local")
	comms := initHosts(t, []string{"A", "A", "A"}, remote, local, "remote", comm.Config{})
	for _, c := range comms {
		require.Equal(t, []string{"remote"}, c.Transports())
	}
	before := local.bytes.Load()
	allReduceWorks(t, comms)
	require.Equal(t, before, local.bytes.Load(), "bytes went through the local transport")

	_, err := comm.Init(t.Context(), comm.Member{Size: 1, Store: rendezvous.NewMemStore(), Transport: remote, Force: "shm"}, comm.Config{})
	require.ErrorIs(t, err, comm.ErrInvalid)
	require.ErrorContains(t, err, `"shm" forced`)
}

// TestBytesBetweenHosts counts the bytes that cross between pretend hosts in a 4-rank ring
// all-reduce whose ranks alternate between two hosts. The ring keeps host-mates adjacent
// (0 2 1 3), so 2 of its 4 links cross, each carrying 2(n-1)/n of the buffer: 3 buffers in all,
// where the rank-order ring (0 1 2 3, every link crossing) would move 6. The hierarchical
// all-reduce moves 2(H-1) = 2 buffers between hosts.
func TestBytesBetweenHosts(t *testing.T) {
	const count = 1 << 16 // float32: 256 KiB
	const size = 4 * count
	for _, tc := range []struct {
		algo  string
		cross int // buffers between hosts
	}{{"ring", 3}, {"hierarchical", 2}} {
		t.Run(tc.algo, func(t *testing.T) {
			remote, local := newCountingNet("remote"), newCountingNet("local")
			cfg := comm.Config{Algorithms: map[string]string{"allreduce": tc.algo}}
			comms := initHosts(t, []string{"A", "B", "A", "B"}, remote, local, "", cfg)
			allReduceWorks(t, comms) // warm up: connections, schedules
			before, beforeLocal := remote.bytes.Load(), local.bytes.Load()
			outs := make([][]float32, len(comms))
			noErrors(t, each(comms, func(c *comm.Comm) error {
				x := make([]float32, count)
				for i := range x {
					x[i] = float32(c.Rank() + i%5)
				}
				outs[c.Rank()] = x
				return c.AllReduce(t.Context(), comm.Of(x), comm.Of(x), comm.Sum)
			}))
			for r, x := range outs {
				for i, v := range x {
					require.Equal(t, float32(6+4*(i%5)), v, "rank %d element %d", r, i)
				}
			}
			crossed := remote.bytes.Load() - before
			// Each collective also sends a call description of a few dozen bytes per rank.
			require.GreaterOrEqual(t, crossed, int64(tc.cross*size))
			require.Less(t, crossed, int64(tc.cross*size+1024), "bytes between hosts")
			require.Positive(t, local.bytes.Load()-beforeLocal)
		})
	}
}

// TestHierarchicalChosen: with two pretend hosts of four ranks, the cost model picks the
// hierarchical all-reduce for a large buffer, and not on one host.
func TestHierarchicalChosen(t *testing.T) {
	x := make([]float32, 16<<20)
	op := comm.AllReduceOp(comm.Of(x), comm.Of(x), comm.Sum)
	two := initHosts(t, []string{"A", "A", "A", "A", "B", "B", "B", "B"}, newCountingNet("remote"), newCountingNet("local"), "", comm.Config{})
	name, err := two[0].Algorithm(op)
	require.NoError(t, err)
	require.Equal(t, "hierarchical", name)
	one := initHosts(t, []string{"A", "A", "A", "A", "A", "A", "A", "A"}, newCountingNet("remote"), newCountingNet("local"), "", comm.Config{})
	name, err = one[0].Algorithm(op)
	require.NoError(t, err)
	require.NotEqual(t, "hierarchical", name)
	name, err = one[0].Algorithm(comm.SendOp(comm.Of(x), 1))
	require.NoError(t, err)
	require.Equal(t, "p2p", name)
	_, err = one[0].Algorithm(comm.AllReduceOp(comm.Of(x), comm.Of(x[:5]), comm.Sum))
	require.ErrorIs(t, err, comm.ErrInvalid)
}
