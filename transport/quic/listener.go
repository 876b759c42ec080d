package quic

import (
	"context"
	"fmt"
	"net"
	"sync"

	quicgo "github.com/quic-go/quic-go"

	"github.com/chorus-cc/chorus/transport"
)

// acceptQueue is how many accepted connections wait for Accept before the listener stops
// taking more from quic-go (which then queues a few and refuses the rest).
const acceptQueue = 16

// Listener accepts QUIC connections from allowed peers. Handshakes run in the background, as
// soon as a peer dials, whether Accept is called or not; a peer whose key is not allowed never
// reaches Accept. Its methods may be called from many goroutines at once.
type Listener struct {
	ql    *quicgo.Listener
	addr  string
	conns chan *Conn    // accepted, with their hello sent, waiting for Accept
	done  chan struct{} // closed by Close
	loop  chan struct{} // closed when the accept loop has returned
	stop  context.CancelFunc
	once  sync.Once

	// The socket is shared by the listener and the connections it accepted: it is closed when
	// the last of them is.
	mu   sync.Mutex
	refs int
	qtr  *quicgo.Transport
	udp  *net.UDPConn
}

var _ transport.Listener = (*Listener)(nil)

func (t *Transport) listen(ctx context.Context, addr string) (*Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("quic: listen %s: %w", addr, err)
	}
	laddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quic: listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("quic: listen %s: %w", addr, err)
	}
	qtr := &quicgo.Transport{Conn: udp}
	ql, err := qtr.Listen(t.serverTLS, t.quicConf)
	if err != nil {
		_ = qtr.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("quic: listen %s: %w", addr, err)
	}
	loopCtx, stop := context.WithCancel(context.Background())
	l := &Listener{
		ql:    ql,
		addr:  udp.LocalAddr().String(),
		conns: make(chan *Conn, acceptQueue),
		done:  make(chan struct{}),
		loop:  make(chan struct{}),
		stop:  stop,
		refs:  1,
		qtr:   qtr,
		udp:   udp,
	}
	go l.acceptLoop(loopCtx)
	return l, nil
}

// acceptLoop takes handshaken connections from quic-go, says hello and queues them for Accept.
func (l *Listener) acceptLoop(ctx context.Context) {
	defer close(l.loop)
	for {
		qc, err := l.ql.Accept(ctx)
		if err != nil {
			return
		}
		l.acquire()
		c := newConn(qc, fmt.Sprintf("quic acceptor at %s of %s", l.addr, qc.RemoteAddr()), l.releaseRef)
		if err := sendHello(qc); err != nil {
			_ = c.Close()
			continue
		}
		select {
		case l.conns <- c:
		case <-l.done:
			_ = c.Close()
			return
		}
	}
}

func (l *Listener) acquire() {
	l.mu.Lock()
	l.refs++
	l.mu.Unlock()
}

// releaseRef drops one user of the socket and closes it after the last.
func (l *Listener) releaseRef() {
	l.mu.Lock()
	l.refs--
	last := l.refs == 0
	l.mu.Unlock()
	if last {
		_ = l.qtr.Close()
		_ = l.udp.Close()
	}
}

// Accept waits for the next connection from an allowed peer. It fails with an error wrapping
// transport.ErrClosed once the Listener is closed, and with ctx's error when ctx ends first.
func (l *Listener) Accept(ctx context.Context) (transport.Conn, error) {
	select {
	case <-l.done:
		return nil, fmt.Errorf("quic: accept at %s: listener closed: %w", l.addr, transport.ErrClosed)
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("quic: accept at %s: listener closed: %w", l.addr, transport.ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("quic: accept at %s: %w", l.addr, ctx.Err())
	}
}

// Addr returns the UDP address ("host:port") to Dial.
func (l *Listener) Addr() string { return l.addr }

// Close stops listening: pending and later Accepts fail with transport.ErrClosed, and
// connections not yet accepted are closed. Accepted connections stay open; the UDP socket is
// closed with the last of them. Close always returns nil.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		_ = l.ql.Close()
		l.stop()
		<-l.loop
		for {
			select {
			case c := <-l.conns:
				_ = c.Close()
				continue
			default:
			}
			break
		}
		l.releaseRef()
	})
	return nil
}
