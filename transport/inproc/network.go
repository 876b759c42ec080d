package inproc

import (
	"context"
	"fmt"
	"sync"

	"github.com/chorus-cc/chorus/transport"
)

func init() {
	transport.Register("inproc", New())
}

// Network is a namespace of in-process listeners: Dial reaches the Listeners made by Listen on
// the same Network. Its methods may be called from many goroutines at once.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*Listener
	next      uint64 // for addresses picked by Listen("")
}

var _ transport.Transport = (*Network)(nil)

// New returns an empty Network.
func New() *Network {
	return &Network{listeners: make(map[string]*Listener)}
}

// Listen starts listening on addr, any non-empty name not in use on this Network; "" picks a
// fresh one ("inproc-1", "inproc-2", ...). It fails when ctx is done or addr is taken.
func (n *Network) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("inproc: listen %q: %w", addr, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		for {
			n.next++
			addr = fmt.Sprintf("inproc-%d", n.next)
			if _, taken := n.listeners[addr]; !taken {
				break
			}
		}
	} else if _, taken := n.listeners[addr]; taken {
		return nil, fmt.Errorf("inproc: listen %q: address in use", addr)
	}
	l := &Listener{
		net:   n,
		addr:  addr,
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	n.listeners[addr] = l
	return l, nil
}

// Dial connects to the Listener at addr on this Network. It does not wait for Accept: the
// connection waits in the Listener's queue (Sends to it queue or wait as usual), and it is closed
// if the Listener closes before accepting it. Dial fails with ErrNoListener when nothing listens
// on addr.
func (n *Network) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("inproc: dial %q: %w", addr, err)
	}
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("inproc: dial %q: %w", addr, ErrNoListener)
	}
	dialer, acceptor := newPair(fmt.Sprintf("inproc dialer of %s", addr), fmt.Sprintf("inproc acceptor at %s", addr))
	if err := l.enqueue(acceptor); err != nil {
		return nil, fmt.Errorf("inproc: dial %q: %w", addr, err)
	}
	return dialer, nil
}

// Listener accepts in-process connections dialled to its address.
type Listener struct {
	net  *Network
	addr string

	mu     sync.Mutex
	queue  []*Conn // dialled, not accepted yet
	closed bool

	ready chan struct{} // capacity 1: the queue may be non-empty
	done  chan struct{} // closed by Close
}

var _ transport.Listener = (*Listener)(nil)

func (l *Listener) enqueue(c *Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("listener closed: %w", transport.ErrClosed)
	}
	l.queue = append(l.queue, c)
	l.signal()
	return nil
}

// signal marks the queue as possibly non-empty. l.mu is held.
func (l *Listener) signal() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Accept waits for the next connection dialled to the Listener. It fails with an error wrapping
// transport.ErrClosed once the Listener is closed, and with ctx's error when ctx is done first.
func (l *Listener) Accept(ctx context.Context) (transport.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, fmt.Errorf("inproc: accept at %q: listener closed: %w", l.addr, transport.ErrClosed)
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			if len(l.queue) > 0 {
				l.signal() // for the next Accept
			}
			l.mu.Unlock()
			return c, nil
		}
		l.mu.Unlock()
		select {
		case <-l.ready:
		case <-l.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("inproc: accept at %q: %w", l.addr, ctx.Err())
		}
	}
}

// Addr returns the address to Dial to reach the Listener.
func (l *Listener) Addr() string { return l.addr }

// Close stops listening: pending and later Accepts fail with transport.ErrClosed, connections
// dialled but not accepted are closed, and the address is free again. Close always returns nil.
func (l *Listener) Close() error {
	l.net.mu.Lock()
	if l.net.listeners[l.addr] == l {
		delete(l.net.listeners, l.addr)
	}
	l.net.mu.Unlock()

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	close(l.done)
	l.mu.Unlock()
	for _, c := range queued {
		c.Close()
	}
	return nil
}

// Name returns "inproc", the name the network is registered under.
func (n *Network) Name() string { return "inproc" }
