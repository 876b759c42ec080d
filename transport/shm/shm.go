//go:build linux

package shm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/transport"
)

func init() {
	transport.Register("shm", &Transport{})
}

// Transport makes shared-memory connections between processes of one host. The zero value
// uses the default Config. Its methods may be called from many goroutines at once.
type Transport struct {
	cfg Config
}

var _ transport.Transport = (*Transport)(nil)

// Name returns "shm", the name the transport is registered under.
func (t *Transport) Name() string { return "shm" }

// New returns a Transport for cfg. It fails when cfg.RingSize is not valid.
func New(cfg Config) (*Transport, error) {
	if _, err := cfg.ringSize(); err != nil {
		return nil, err
	}
	return &Transport{cfg: cfg}, nil
}

// Listen starts listening on addr, the path of a Unix socket to create; "" makes a fresh path
// in Config.Dir (see there). The socket file is removed when the Listener is closed.
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	size, err := t.cfg.ringSize()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("shm: listen %s: %w", addr, err)
	}
	if addr == "" {
		dir := t.cfg.dir()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("shm: listen: socket directory: %w", err)
		}
		var r [6]byte
		_, _ = rand.Read(r[:])
		addr = filepath.Join(dir, fmt.Sprintf("chorus-%d-%s.sock", os.Getpid(), hex.EncodeToString(r[:])))
	}
	l, err := listen(addr, size)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Dial connects to the Listener at addr (a socket path) and returns once both ends have mapped
// both rings. It honours ctx.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	size, err := t.cfg.ringSize()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", addr)
	if err != nil {
		return nil, fmt.Errorf("shm: dial %s: %w", addr, err)
	}
	c, err := handshake(ctx, nc.(*net.UnixConn), size, "shm dialer to "+addr)
	if err != nil {
		return nil, fmt.Errorf("shm: dial %s: %w", addr, err)
	}
	return c, nil
}

// Pair returns the two ends of a new connection inside this process, over a socket pair: the
// same rings, doorbells and failure detection as between processes, for tests and benchmarks.
func Pair(cfg Config) (a, b *Conn, err error) {
	size, err := cfg.ringSize()
	if err != nil {
		return nil, nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("shm: pair: socketpair: %w", err)
	}
	socks := [2]*net.UnixConn{}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "shm pair")
		nc, ferr := net.FileConn(f) // dups fd
		_ = f.Close()
		if ferr != nil {
			err = ferr
			continue
		}
		socks[i] = nc.(*net.UnixConn)
	}
	if err != nil {
		for _, s := range socks {
			if s != nil {
				_ = s.Close()
			}
		}
		return nil, nil, fmt.Errorf("shm: pair: %w", err)
	}
	ctx := context.Background()
	type result struct {
		c   *Conn
		err error
	}
	other := make(chan result, 1)
	go func() {
		c, err := handshake(ctx, socks[1], size, "shm pair end b")
		other <- result{c, err}
	}()
	a, errA := handshake(ctx, socks[0], size, "shm pair end a")
	rb := <-other
	if errA != nil || rb.err != nil {
		if a != nil {
			_ = a.Close()
		}
		if rb.c != nil {
			_ = rb.c.Close()
		}
		return nil, nil, fmt.Errorf("shm: pair: %w", firstErr(errA, rb.err))
	}
	return a, rb.c, nil
}
