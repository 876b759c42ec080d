package inproc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/inproc"
	"github.com/chorus-cc/chorus/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (a, b transport.Conn) {
		a, b = inproc.Pair()
		return a, b
	})
}

func TestConformanceBackend(t *testing.T) {
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			a, b = inproc.Pair()
			return a, b
		},
		Transport:      func(t *testing.T) transport.Transport { return inproc.New() },
		RendezvousSize: inproc.EagerLimit + 1,
	})
}

// TestConformanceDialed runs the suite over connections made by Listen, Dial and Accept.
func TestConformanceDialed(t *testing.T) {
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			t.Helper()
			ctx := t.Context()
			n := inproc.New()
			l, err := n.Listen(ctx, "")
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
			a, err = n.Dial(ctx, l.Addr())
			require.NoError(t, err)
			b, err = l.Accept(ctx)
			require.NoError(t, err)
			return a, b
		},
		RendezvousSize: inproc.EagerLimit + 1,
	})
}

func TestRegistered(t *testing.T) {
	tr, err := transport.Lookup("inproc")
	require.NoError(t, err)
	require.IsType(t, (*inproc.Network)(nil), tr)
	require.Contains(t, transport.Names(), "inproc")
}

func TestMesh(t *testing.T) {
	require.Nil(t, inproc.Mesh(0))
	require.Nil(t, inproc.Mesh(-1))
	const n = 5
	conns := inproc.Mesh(n)
	require.Len(t, conns, n)
	ctx := t.Context()
	// Every rank sends its number to every other rank; every rank checks what it got.
	errs := make(chan error, n*n)
	for i := range n {
		require.Len(t, conns[i], n)
		require.Nil(t, conns[i][i])
		for j := range n {
			if i == j {
				continue
			}
			require.NotNil(t, conns[i][j])
			go func() { errs <- conns[i][j].Send(ctx, transport.Tag{Seq: 1}, []byte{byte(i), byte(j)}) }()
		}
	}
	for j := range n {
		for i := range n {
			if i == j {
				continue
			}
			var got []byte
			require.NoError(t, conns[j][i].Recv(ctx, transport.Tag{Seq: 1}, func(p []byte) error {
				got = append(got, p...)
				return nil
			}))
			require.Equal(t, []byte{byte(i), byte(j)}, got, "rank %d from rank %d", j, i)
		}
	}
	for range n * (n - 1) {
		require.NoError(t, <-errs)
	}
	// Closing one connection leaves the others working.
	require.NoError(t, conns[0][1].Close())
	require.ErrorIs(t, conns[1][0].Send(ctx, transport.Tag{}, nil), transport.ErrClosed)
	require.NoError(t, conns[1][2].Send(ctx, transport.Tag{}, []byte("still up")))
	require.NoError(t, conns[2][1].Recv(ctx, transport.Tag{}, func(p []byte) error {
		if string(p) != "still up" {
			return fmt.Errorf("got %q", p)
		}
		return nil
	}))
}

func TestDuplicateSend(t *testing.T) {
	ctx := t.Context()
	a, b := inproc.Pair()
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 1}, []byte("first")))
	require.ErrorIs(t, a.Send(ctx, transport.Tag{Seq: 1}, []byte("second")), transport.ErrDuplicateTag)
	require.NoError(t, b.Recv(ctx, transport.Tag{Seq: 1}, func(p []byte) error {
		if string(p) != "first" {
			return fmt.Errorf("got %q, want the first message", p)
		}
		return nil
	}))
}

func TestZeroCopyWhenReceiverWaits(t *testing.T) {
	ctx := t.Context()
	a, b := inproc.Pair()
	t.Cleanup(func() { _ = a.Close() })
	p := make([]byte, 1<<20)
	seen := make(chan *byte, 1)
	recvd := make(chan error, 1)
	go func() {
		recvd <- b.Recv(ctx, transport.Tag{}, func(q []byte) error {
			seen <- &q[0]
			return nil
		})
	}()
	// Whether the receiver or the sender comes first, a large message is not copied.
	require.NoError(t, a.Send(ctx, transport.Tag{}, p))
	require.NoError(t, <-recvd)
	require.Same(t, &p[0], <-seen)
}

func TestCloseErrorNamesTheCloser(t *testing.T) {
	conns := inproc.Mesh(3)
	require.NoError(t, conns[2][0].Close())
	err := conns[0][2].Recv(t.Context(), transport.Tag{}, func([]byte) error { return nil })
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorContains(t, err, "rank 2")
}

func TestNetwork(t *testing.T) {
	ctx := t.Context()
	n := inproc.New()
	l, err := n.Listen(ctx, "rank0")
	require.NoError(t, err)
	require.Equal(t, "rank0", l.Addr())
	_, err = n.Listen(ctx, "rank0")
	require.Error(t, err, "address in use")

	_, err = inproc.New().Dial(ctx, "rank0")
	require.ErrorIs(t, err, inproc.ErrNoListener, "another Network does not see this one's listeners")
	_, err = n.Dial(ctx, "rank1")
	require.ErrorIs(t, err, inproc.ErrNoListener)

	l2, err := n.Listen(ctx, "")
	require.NoError(t, err)
	l3, err := n.Listen(ctx, "")
	require.NoError(t, err)
	require.NotEqual(t, l2.Addr(), l3.Addr())

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = n.Dial(cancelled, "rank0")
	require.ErrorIs(t, err, context.Canceled)
	_, err = n.Listen(cancelled, "")
	require.ErrorIs(t, err, context.Canceled)

	// A connection dialled but never accepted is closed with the listener.
	c, err := n.Dial(ctx, "rank0")
	require.NoError(t, err)
	require.NoError(t, c.Send(ctx, transport.Tag{}, []byte("queued")), "a small Send does not wait for Accept")
	require.NoError(t, l.Close())
	require.ErrorIs(t, c.Recv(ctx, transport.Tag{}, func([]byte) error { return nil }), transport.ErrClosed)
	require.NoError(t, l.Close(), "a second Close")

	// The address is free again.
	l, err = n.Listen(ctx, "rank0")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, l2.Close())
	require.NoError(t, l3.Close())
}

func TestAcceptQueue(t *testing.T) {
	ctx := t.Context()
	n := inproc.New()
	l, err := n.Listen(ctx, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	// Dials do not wait for Accept; Accepts get the connections in dial order.
	const k = 4
	dialed := make([]transport.Conn, k)
	for i := range dialed {
		dialed[i], err = n.Dial(ctx, l.Addr())
		require.NoError(t, err)
		require.NoError(t, dialed[i].Send(ctx, transport.Tag{}, []byte{byte(i)}))
	}
	results := make(chan error, k)
	for range k {
		go func() {
			c, err := l.Accept(ctx)
			if err != nil {
				results <- err
				return
			}
			results <- c.Recv(ctx, transport.Tag{}, func(p []byte) error {
				if len(p) != 1 || p[0] >= k {
					return errors.New("unexpected message")
				}
				return nil
			})
		}()
	}
	for range k {
		require.NoError(t, <-results)
	}
}

// BenchmarkInprocSendRecv moves messages over one Pair with 16 in flight: one goroutine sends,
// another receives into its own buffer.
func BenchmarkInprocSendRecv(b *testing.B) {
	for _, size := range []int{4 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			const window = 16
			ctx := context.Background()
			a, c := inproc.Pair()
			src := make([]byte, size)
			dst := make([]byte, size)
			fn := func(p []byte) error {
				copy(dst, p)
				return nil
			}
			credits := make(chan struct{}, window)
			for range window {
				credits <- struct{}{}
			}
			stopped := make(chan error, 1)
			go func() {
				for i := uint64(0); ; i++ {
					if err := c.Recv(ctx, transport.Tag{Seq: i}, fn); err != nil {
						stopped <- err
						return
					}
					credits <- struct{}{}
				}
			}()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				<-credits
				if err := a.Send(ctx, transport.Tag{Seq: seq}, src); err != nil {
					b.Fatal(err)
				}
				seq++
			}
			b.StopTimer()
			require.NoError(b, a.Close())
			require.ErrorIs(b, <-stopped, transport.ErrClosed)
		})
	}
}
