//go:build linux

package shm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/transport"
)

// acceptQueue is how many set-up connections wait for Accept.
const acceptQueue = 16

// Listener accepts shared-memory connections on a Unix socket path. Connections are set up in
// the background as soon as a peer dials, whether Accept is called or not. Its methods may be
// called from many goroutines at once.
type Listener struct {
	ln       *net.UnixListener
	path     string
	ringSize int
	conns    chan *Conn    // set up, waiting for Accept
	done     chan struct{} // closed by Close
	ctx      context.Context
	cancel   context.CancelFunc
	loop     chan struct{} // closed when the accept loop has returned
	setups   sync.WaitGroup
	once     sync.Once
}

var _ transport.Listener = (*Listener)(nil)

// listen binds path; a socket file that nobody listens on any more (its listener was killed)
// is replaced.
func listen(path string, ringSize int) (*Listener, error) {
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("shm: listen %s: the path has %d bytes, a Unix socket path at most %d", path, len(path), maxPathLen)
	}
	addr := &net.UnixAddr{Name: path, Net: "unixpacket"}
	ln, err := net.ListenUnix("unixpacket", addr)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) && stale(path) {
		_ = os.Remove(path)
		ln, err = net.ListenUnix("unixpacket", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("shm: listen %s: %w", path, err)
	}
	// Only this user may connect: the socket is private to it, and setup checks the peer's uid.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("shm: listen %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		ln:       ln,
		path:     path,
		ringSize: ringSize,
		conns:    make(chan *Conn, acceptQueue),
		done:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		loop:     make(chan struct{}),
	}
	go l.acceptLoop()
	return l, nil
}

// maxPathLen is the longest socket path: sun_path less its terminating zero.
const maxPathLen = len(syscall.RawSockaddrUnix{}.Path) - 1

// stale reports whether path is a socket that refuses connections: left by a dead listener.
func stale(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err == nil {
		_ = c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// acceptLoop sets up each connection in a goroutine of its own and queues it for Accept.
func (l *Listener) acceptLoop() {
	defer close(l.loop)
	for {
		sock, err := l.ln.AcceptUnix()
		if err != nil {
			return
		}
		l.setups.Add(1)
		go l.setup(sock)
	}
}

func (l *Listener) setup(sock *net.UnixConn) {
	defer l.setups.Done()
	if !sameUser(sock) {
		_ = sock.Close() // before any memory is made for it
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, handshakeTimeout)
	defer cancel()
	c, err := handshake(ctx, sock, l.ringSize, "shm acceptor at "+l.path)
	if err != nil {
		return // the dialer learns it from its own handshake
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept waits for the next connection. It fails with an error wrapping transport.ErrClosed
// once the Listener is closed, and with ctx's error when ctx ends first.
func (l *Listener) Accept(ctx context.Context) (transport.Conn, error) {
	select {
	case <-l.done:
		return nil, fmt.Errorf("shm: accept at %s: listener closed: %w", l.path, transport.ErrClosed)
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("shm: accept at %s: listener closed: %w", l.path, transport.ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("shm: accept at %s: %w", l.path, ctx.Err())
	}
}

// Addr returns the socket's path, the address to Dial.
func (l *Listener) Addr() string { return l.path }

// Close stops listening and removes the socket file: pending and later Accepts fail with
// transport.ErrClosed, and connections not yet accepted are closed. Accepted connections stay
// open. Close always returns nil.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.cancel()
		_ = l.ln.Close() // removes the socket file
		<-l.loop
		l.setups.Wait()
		for {
			select {
			case c := <-l.conns:
				_ = c.Close()
				continue
			default:
			}
			break
		}
	})
	return nil
}

// sameUser reports whether the process at the other end of sock runs as this process's
// effective user (SO_PEERCRED) or as root.
func sameUser(sock *net.UnixConn) bool {
	raw, err := sock.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == uint32(os.Geteuid()) || cred.Uid == 0
}
