//go:build linux

package shm_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/shm"
	"github.com/chorus-cc/chorus/transport/transporttest"
)

// pair returns a connected pair that the test closes.
func pair(t testing.TB, cfg shm.Config) (a, b *shm.Conn) {
	t.Helper()
	a, b, err := shm.Pair(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// newTransport returns a Transport whose sockets go into a directory of the test's own.
func newTransport(t testing.TB, cfg shm.Config) *shm.Transport {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	tr, err := shm.New(cfg)
	require.NoError(t, err)
	return tr
}

// dialPair connects two Conns through Listen, Dial and Accept.
func dialPair(t testing.TB, tr *shm.Transport) (a, b transport.Conn) {
	t.Helper()
	ctx := context.Background()
	l, err := tr.Listen(ctx, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	a, err = tr.Dial(ctx, l.Addr())
	require.NoError(t, err)
	b, err = l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// TestConformance runs the suite over Pair with the default ring. Send never waits for the
// receiver (a full ring is drained into the receiver's memory), so RendezvousSize is zero.
func TestConformance(t *testing.T) {
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			a, b = pair(t, shm.Config{})
			return a, b
		},
		Transport: func(t *testing.T) transport.Transport { return newTransport(t, shm.Config{}) },
	})
}

// TestConformanceSmallRing runs the suite over dialled connections with the smallest ring, so
// that the suite's 256 KiB and 1 MiB messages are streamed in pieces, 16 MiB ones take
// hundreds of pieces, and the rings fill up all the time.
func TestConformanceSmallRing(t *testing.T) {
	cfg := shm.Config{RingSize: shm.MinRingSize}
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			return dialPair(t, newTransport(t, cfg))
		},
		Transport: func(t *testing.T) transport.Transport { return newTransport(t, cfg) },
	})
}

func TestRegistered(t *testing.T) {
	tr, err := transport.Lookup("shm")
	require.NoError(t, err)
	require.IsType(t, (*shm.Transport)(nil), tr)
	require.Equal(t, "shm", tr.(*shm.Transport).Name())
}

func TestConfig(t *testing.T) {
	for _, n := range []int{1, shm.MinRingSize - 1, shm.MinRingSize + 4096, shm.MaxRingSize + 4096, -4096} {
		_, err := shm.New(shm.Config{RingSize: n})
		require.Error(t, err, "ring size %d", n)
		_, _, err = shm.Pair(shm.Config{RingSize: n})
		require.Error(t, err, "ring size %d", n)
	}
	require.Equal(t, 2<<20-64, shm.InlineMax(shm.DefaultRingSize))
}

// TestListenDefaultDir checks that Listen("") puts the socket into CHORUS_SHM_DIR, creating the
// directory, and that Close removes the socket file.
func TestListenDefaultDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sockets")
	t.Setenv(shm.EnvDir, dir)
	tr := &shm.Transport{}
	l, err := tr.Listen(t.Context(), "")
	require.NoError(t, err)
	require.Equal(t, dir, filepath.Dir(l.Addr()))
	fi, err := os.Stat(l.Addr())
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSocket, "a socket file")
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only this user may connect")
	require.NoError(t, l.Close())
	_, err = os.Stat(l.Addr())
	require.ErrorIs(t, err, os.ErrNotExist, "the socket file is removed on Close")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestListenErrors(t *testing.T) {
	ctx := t.Context()
	tr := newTransport(t, shm.Config{})
	long := filepath.Join(t.TempDir(), string(make([]byte, 0))+fmt.Sprintf("%0120d", 0))
	_, err := tr.Listen(ctx, long)
	require.ErrorContains(t, err, "Unix socket path at most")

	l, err := tr.Listen(ctx, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	_, err = tr.Listen(ctx, l.Addr())
	require.Error(t, err, "the path is taken by a live listener")

	_, err = tr.Dial(ctx, filepath.Join(t.TempDir(), "nobody.sock"))
	require.Error(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = tr.Listen(cancelled, "")
	require.ErrorIs(t, err, context.Canceled)
	_, err = tr.Dial(cancelled, l.Addr())
	require.ErrorIs(t, err, context.Canceled)
}

// TestListenReplacesStaleSocket listens on a path where a socket file was left behind by a
// listener that is gone (as after SIGKILL).
func TestListenReplacesStaleSocket(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "stale.sock")
	tr := newTransport(t, shm.Config{})
	l, err := tr.Listen(ctx, path)
	require.NoError(t, err)
	// Leave the file behind the way a killed process does: close the socket, keep the file.
	require.NoError(t, os.Link(path, path+".keep"))
	require.NoError(t, l.Close())
	require.NoError(t, os.Rename(path+".keep", path))

	l, err = tr.Listen(ctx, path)
	require.NoError(t, err, "a stale socket file is replaced")
	t.Cleanup(func() { _ = l.Close() })
	a, b := acceptDial(t, tr, l)
	roundTrip(t, a, b, 100)

	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600))
	notSocket := filepath.Join(t.TempDir(), "plain")
	require.NoError(t, os.WriteFile(notSocket, []byte("data"), 0o600))
	_, err = tr.Listen(ctx, notSocket)
	require.Error(t, err, "a file that is not a socket is left alone")
	data, err := os.ReadFile(notSocket)
	require.NoError(t, err)
	require.Equal(t, "data", string(data))
}

func acceptDial(t *testing.T, tr *shm.Transport, l transport.Listener) (a, b transport.Conn) {
	t.Helper()
	ctx := t.Context()
	dialed := make(chan transport.Conn, 1)
	go func() {
		c, err := tr.Dial(ctx, l.Addr())
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	b, err := l.Accept(ctx)
	require.NoError(t, err)
	a = <-dialed
	require.NotNil(t, a)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// roundTrip sends n random bytes from a to b and back.
func roundTrip(t *testing.T, a, b transport.Conn, n int) {
	t.Helper()
	ctx := t.Context()
	msg := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	for _, dir := range [][2]transport.Conn{{a, b}, {b, a}} {
		sent := make(chan error, 1)
		go func() { sent <- dir[0].Send(ctx, transport.Tag{Seq: 1}, msg) }()
		var got []byte
		require.NoError(t, dir[1].Recv(ctx, transport.Tag{Seq: 1}, func(p []byte) error {
			got = append(got, p...)
			return nil
		}))
		require.NoError(t, <-sent)
		require.Equal(t, msg, got)
	}
}

func TestTooLarge(t *testing.T) {
	a, _ := pair(t, shm.Config{})
	err := a.Send(t.Context(), transport.Tag{}, make([]byte, shm.MaxMessage+1))
	require.ErrorIs(t, err, transport.ErrTooLarge)
}

// TestMaxMessage moves one message of MaxMessage bytes through the smallest ring.
func TestMaxMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	ctx := t.Context()
	a, b := pair(t, shm.Config{RingSize: shm.MinRingSize})
	msg := make([]byte, shm.MaxMessage)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	sent := make(chan error, 1)
	go func() { sent <- a.Send(ctx, transport.Tag{Seq: 9}, msg) }()
	require.NoError(t, b.Recv(ctx, transport.Tag{Seq: 9}, func(p []byte) error {
		for i := 0; i < len(p); i += 4093 {
			if p[i] != byte(i*7) {
				return fmt.Errorf("byte %d is %d", i, p[i])
			}
		}
		if len(p) != len(msg) {
			return errors.New("wrong length")
		}
		return nil
	}))
	require.NoError(t, <-sent)
	require.Equal(t, uint64(1), b.Stats().Assembled)
}

// TrySend sends while the ring has room and nothing else is needed, and otherwise sends nothing:
// a message larger than one frame, a full ring, a closed connection.
func TestTrySend(t *testing.T) {
	a, b := pair(t, shm.Config{RingSize: shm.MinRingSize})
	msg := make([]byte, 8<<10)
	sent := 0
	for ; ; sent++ {
		for i := range msg {
			msg[i] = byte(sent + i)
		}
		ok, err := a.TrySend(transport.Tag{Seq: uint64(sent)}, msg)
		require.NoError(t, err)
		if !ok {
			break
		}
		require.Less(t, sent, shm.MinRingSize/len(msg), "the ring took more than it holds")
	}
	require.Positive(t, sent)
	ok, err := a.TrySend(transport.Tag{Seq: 1 << 40}, make([]byte, shm.InlineMax(shm.MinRingSize)+1))
	require.NoError(t, err)
	require.False(t, ok, "a streamed message is never tried")
	for i := range sent {
		err := b.Recv(t.Context(), transport.Tag{Seq: uint64(i)}, func(p []byte) error {
			for j := range p {
				if p[j] != byte(i+j) {
					return fmt.Errorf("message %d byte %d is %d", i, j, p[j])
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	ok, err = a.TrySend(transport.Tag{Seq: 1 << 41}, msg) // room again
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
	_, err = a.TrySend(transport.Tag{Seq: 1 << 42}, msg)
	require.ErrorIs(t, err, transport.ErrClosed)
}
