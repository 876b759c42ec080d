package comm_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/inproc"
)

// initAll runs Init for the given ranks at once and returns their results by rank.
func initAll(t *testing.T, ranks []int, m comm.Member) ([]*comm.Comm, []error) {
	t.Helper()
	comms := make([]*comm.Comm, m.Size)
	errs := make([]error, m.Size)
	done := make(chan int)
	for _, r := range ranks {
		go func() {
			mm := m
			mm.Rank = r
			comms[r], errs[r] = comm.Init(context.Background(), mm, comm.Config{})
			done <- r
		}()
	}
	for range ranks {
		<-done
	}
	t.Cleanup(func() { closeAll(comms) })
	return comms, errs
}

func allReduceWorks(t *testing.T, comms []*comm.Comm) {
	t.Helper()
	n := len(comms)
	outs := make([][]int64, n)
	noErrors(t, each(comms, func(c *comm.Comm) error {
		x := []int64{int64(c.Rank()), 1}
		outs[c.Rank()] = x
		return c.AllReduce(context.Background(), comm.Of(x), comm.Of(x), comm.Sum)
	}))
	for r := range outs {
		require.Equal(t, []int64{int64(n * (n - 1) / 2), int64(n)}, outs[r], "rank %d", r)
	}
}

func TestInitMemStore(t *testing.T) {
	m := comm.Member{Size: 5, Store: rendezvous.NewMemStore(), Transport: inproc.New()}
	comms, errs := initAll(t, []int{0, 1, 2, 3, 4}, m)
	noErrors(t, errs)
	for r, c := range comms {
		require.Equal(t, r, c.Rank())
		require.Equal(t, 5, c.Size())
		require.Equal(t, comms[0].ID(), c.ID())
	}
	allReduceWorks(t, comms)
}

func TestInitTCPStoreWithSecret(t *testing.T) {
	secret := []byte("job secret")
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: secret})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	const n = 3
	comms := make([]*comm.Comm, n)
	errs := make([]error, n)
	done := make(chan struct{}, n)
	network := inproc.New()
	for r := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			store, err := rendezvous.Dial(context.Background(), ln.Addr().String(), secret, rendezvous.ClientConfig{})
			if err != nil {
				errs[r] = err
				return
			}
			defer store.Close()
			comms[r], errs[r] = comm.Init(context.Background(), comm.Member{Rank: r, Size: n, Store: store, Transport: network}, comm.Config{})
		}()
	}
	for range n {
		<-done
	}
	noErrors(t, errs)
	t.Cleanup(func() { closeAll(comms) })
	allReduceWorks(t, comms)
}

func TestInitListsMissingRanks(t *testing.T) {
	m := comm.Member{Size: 4, Store: rendezvous.NewMemStore(), Transport: inproc.New(), InitTimeout: 300 * time.Millisecond}
	_, errs := initAll(t, []int{0, 2}, m) // ranks 1 and 3 never come
	for _, r := range []int{0, 2} {
		require.ErrorIs(t, errs[r], comm.ErrTimeout, "rank %d", r)
		require.Contains(t, errs[r].Error(), "did not arrive", "rank %d", r)
		require.Contains(t, errs[r].Error(), "3", "rank %d", r)
	}
	require.Contains(t, errs[0].Error(), "ranks 1, 3 did not arrive")
}

// A connection that does not introduce itself as a rank of the group is closed; the group
// forms anyway.
func TestInitIgnoresStrangers(t *testing.T) {
	store := rendezvous.NewMemStore()
	network := inproc.New()
	m := comm.Member{Size: 2, Store: store, Transport: network}
	comms := make([]*comm.Comm, 2)
	errs := make([]error, 2)
	done := make(chan struct{})
	go func() {
		comms[1], errs[1] = comm.Init(context.Background(), comm.Member{Rank: 1, Size: 2, Store: store, Transport: network}, comm.Config{})
		close(done)
	}()
	stranger, err := network.Dial(context.Background(), publishedAddr(t, store, 1))
	require.NoError(t, err)
	require.NoError(t, stranger.Send(context.Background(), transport.Tag{Seq: 1}, []byte("hello?")))
	m.Rank = 0
	comms[0], errs[0] = comm.Init(context.Background(), m, comm.Config{})
	<-done
	noErrors(t, errs)
	t.Cleanup(func() { closeAll(comms) })
	allReduceWorks(t, comms)
}

func TestInitInvalid(t *testing.T) {
	_, err := comm.Init(context.Background(), comm.Member{Rank: 2, Size: 2, Store: rendezvous.NewMemStore(), Transport: inproc.New()}, comm.Config{})
	require.ErrorIs(t, err, comm.ErrInvalid)
	_, err = comm.Init(context.Background(), comm.Member{Rank: 0, Size: 2}, comm.Config{})
	require.ErrorIs(t, err, comm.ErrInvalid)
}

// A rank that publishes a malformed record fails the others' Init at once, naming it.
func TestInitMalformedRecord(t *testing.T) {
	for _, tc := range []struct{ rec, want string }{
		{"not json", "rank 1 published a malformed record"},
		{`{"addr":""}`, "rank 1 published no address"},
		{`{"addr":"x","peer":{"rank":7,"host":"h","pid":1}}`, "rank 1 describes itself as rank 7"},
	} {
		store := rendezvous.NewMemStore()
		require.NoError(t, store.Set(t.Context(), "chorus/addr/1", []byte(tc.rec)))
		_, err := comm.Init(t.Context(), comm.Member{Size: 2, Store: store, Transport: inproc.New()}, comm.Config{})
		require.ErrorContains(t, err, tc.want)
	}
}

// Rank 0 serves the store on the address MASTER_ADDR names where that address is this host's,
// and on every interface only where it is not.
func TestStoreListensWhereMasterAddrSays(t *testing.T) {
	ln, err := comm.ListenStore("127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.True(t, ln.Addr().(*net.TCPAddr).IP.IsLoopback(), "listens on %v", ln.Addr())

	// 192.0.2.1 (TEST-NET-1) is no interface of this host: every interface.
	ln2, err := comm.ListenStore("192.0.2.1:0")
	require.NoError(t, err)
	defer ln2.Close()
	require.True(t, ln2.Addr().(*net.TCPAddr).IP.IsUnspecified(), "listens on %v", ln2.Addr())

	// A taken port fails instead of moving elsewhere.
	_, err = comm.ListenStore(ln.Addr().String())
	require.Error(t, err)
}
