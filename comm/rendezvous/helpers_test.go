package rendezvous

import (
	"bytes"
	"context"
	"errors"
	"net"

	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCtx returns a context that ends with the test, bounded so a bug cannot hang the run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// listen returns a listener on 127.0.0.1 with a free port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// startServer serves cfg on a fresh listener and returns the server and its address. The
// server is closed, and Serve checked to have returned nil, when the test ends.
func startServer(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	ln := listen(t)
	srv := NewServer(cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-done)
	})
	return srv, ln.Addr().String()
}

// dial connects a client to addr and closes it when the test ends.
func dial(t *testing.T, addr string, secret []byte) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), addr, secret, ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// rawConn returns an authenticated connection to addr that speaks frames by hand.
func rawConn(t *testing.T, addr string, secret []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, clientHandshake(conn, secret))
	return conn
}

// requireClosedByPeer checks that the server closed conn: a read ends in EOF or a reset, not
// a timeout.
func requireClosedByPeer(t *testing.T, conn net.Conn) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 64)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server kept the connection open: %v", err)
		}
		return
	}
}

// requireServes checks that the server at addr still answers a good client.
func requireServes(t *testing.T, addr string, secret []byte) {
	t.Helper()
	c := dial(t, addr, secret)
	ctx := testCtx(t)
	require.NoError(t, c.Set(ctx, "alive", []byte("yes")))
	v, err := c.Get(ctx, "alive")
	require.NoError(t, err)
	require.Equal(t, []byte("yes"), v)
}

// syncBuffer is a bytes.Buffer safe for a logger in another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// storeKinds makes one fresh store of each implementation.
var storeKinds = []struct {
	name string
	new  func(t *testing.T) Store
}{
	{"mem", func(t *testing.T) Store {
		t.Helper()
		s := NewMemStore()
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}},
	{"tcp", func(t *testing.T) Store {
		t.Helper()
		secret := []byte("job-secret")
		_, addr := startServer(t, ServerConfig{Secret: secret})
		return dial(t, addr, secret)
	}},
	{"file", func(t *testing.T) Store {
		t.Helper()
		s, err := NewFileStore(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}},
}
