// Package faulty injects faults into a transport, for tests and for people who want to see how
// a job copes: corrupted payloads, connections that die after a number of messages (as if the
// process at the other end had been killed), and delays. Wrap wraps a whole transport (every
// connection it dials or accepts), WrapConn a single connection; Parse reads a spec such as
// "corrupt=0.01,seed=7,delay=1ms,killafter=100".
//
// The faults are seeded: each random choice comes from a math/rand/v2 PCG generator seeded with
// Config.Seed and the message's tag, so the same seed corrupts or delays the same messages in
// every run, whatever the order in which goroutines run. The package registers nothing.
package faulty

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-cc/chorus/transport"
)

// Stats counts what a wrapped connection (or every connection of a wrapped transport) did.
type Stats struct {
	Sent      int64 // Sends that handed their message to the wrapped connection without error
	Received  int64 // messages handed to a receiver's fn
	Corrupted int64 // of those, messages whose payload had bits flipped
	Delayed   int64 // Sends held by Delay or Jitter
	Killed    int64 // connections closed by KillAfter
}

// counters is the shared, atomic form of Stats.
type counters struct {
	sent, received, corrupted, delayed, killed atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		Sent:      c.sent.Load(),
		Received:  c.received.Load(),
		Corrupted: c.corrupted.Load(),
		Delayed:   c.delayed.Load(),
		Killed:    c.killed.Load(),
	}
}

// Transport is a transport.Transport whose connections inject the faults of its Config.
type Transport struct {
	inner transport.Transport
	cfg   Config
	count counters
}

var _ transport.Transport = (*Transport)(nil)

// Wrap returns t with the faults of cfg injected into every connection it dials or accepts. It
// panics when cfg is not valid (see Config.Validate): a Config from Parse always is.
func Wrap(t transport.Transport, cfg Config) *Transport {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Transport{inner: t, cfg: cfg}
}

// Config returns the faults the transport injects.
func (t *Transport) Config() Config { return t.cfg }

// Stats returns the counts of every connection the transport has made so far.
func (t *Transport) Stats() Stats { return t.count.stats() }

// Listen listens on the wrapped transport; the connections the listener accepts inject faults.
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	l, err := t.inner.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &listener{inner: l, t: t}, nil
}

// Dial dials through the wrapped transport and returns a connection that injects faults.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.inner.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return newConn(c, t.cfg, &t.count), nil
}

// listener wraps the connections a listener accepts.
type listener struct {
	inner transport.Listener
	t     *Transport
}

func (l *listener) Accept(ctx context.Context) (transport.Conn, error) {
	c, err := l.inner.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return newConn(c, l.t.cfg, &l.t.count), nil
}

func (l *listener) Addr() string { return l.inner.Addr() }
func (l *listener) Close() error { return l.inner.Close() }

// Conn is a transport.Conn that injects the faults of its Config into the connection it wraps.
type Conn struct {
	inner transport.Conn
	cfg   Config
	count *counters
	own   counters // this connection's counts, when made by WrapConn

	calls    atomic.Int64 // Sends and Recvs started, for KillAfter
	killOnce sync.Once
}

var _ transport.Conn = (*Conn)(nil)

// WrapConn returns c with the faults of cfg injected. It panics when cfg is not valid (see
// Config.Validate): a Config from Parse always is. Faults apply to what this end does: it
// corrupts the messages it receives, delays the ones it sends, and counts its own calls for
// KillAfter.
func WrapConn(c transport.Conn, cfg Config) *Conn {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	fc := newConn(c, cfg, nil)
	fc.count = &fc.own
	return fc
}

func newConn(c transport.Conn, cfg Config, count *counters) *Conn {
	return &Conn{inner: c, cfg: cfg, count: count}
}

// Stats returns the counts of this connection; for a connection made by a wrapped Transport,
// those of every connection of the transport.
func (c *Conn) Stats() Stats { return c.count.stats() }

// String names the connection.
func (c *Conn) String() string { return fmt.Sprintf("faulty(%v)", c.inner) }

// killed counts a call for KillAfter and, when the call is one too many, closes the
// connection and returns the call's error.
func (c *Conn) killed(what string) error {
	if c.cfg.KillAfter <= 0 || c.calls.Add(1) <= int64(c.cfg.KillAfter) {
		return nil
	}
	c.killOnce.Do(func() {
		c.count.killed.Add(1)
		_ = c.inner.Close()
	})
	return fmt.Errorf("faulty: %s: connection killed after %d calls: %w", what, c.cfg.KillAfter, transport.ErrClosed)
}

// Send waits for the configured delay (honouring ctx), then sends p on the wrapped connection.
func (c *Conn) Send(ctx context.Context, tag transport.Tag, p []byte) error {
	if err := c.killed("send"); err != nil {
		return err
	}
	if d := c.delay(tag, len(p)); d > 0 {
		c.count.delayed.Add(1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("faulty: send %v: %w", tag, ctx.Err())
		}
	}
	if err := c.inner.Send(ctx, tag, p); err != nil {
		return err
	}
	c.count.sent.Add(1)
	return nil
}

// Recv receives the message with the tag from the wrapped connection; a message chosen for
// corruption reaches fn as a copy with bits flipped.
func (c *Conn) Recv(ctx context.Context, tag transport.Tag, fn func(p []byte) error) error {
	if err := c.killed("recv"); err != nil {
		return err
	}
	return c.inner.Recv(ctx, tag, func(p []byte) error {
		c.count.received.Add(1)
		if q := c.corrupt(tag, p); q != nil {
			c.count.corrupted.Add(1)
			return fn(q)
		}
		return fn(p)
	})
}

// Close closes the wrapped connection.
func (c *Conn) Close() error { return c.inner.Close() }

// Streams of the random source, one per kind of choice, so that turning one fault on does not
// change the choices of another.
const (
	streamCorrupt = 0x636f7272 // "corr"
	streamDelay   = 0x64656c61 // "dela"
)

// rng returns the random source for one choice about the message with tag and length n.
func (c *Conn) rng(stream uint64, tag transport.Tag, n int) *rand.Rand {
	h := stream
	for _, v := range []uint64{tag.Seq, tag.Check, uint64(tag.Epoch), uint64(tag.Step), uint64(tag.Chunk), uint64(n)} {
		h = mix(h ^ v)
	}
	return rand.New(rand.NewPCG(c.cfg.Seed, h))
}

// mix is SplitMix64's finaliser: a bijection that spreads every input bit over the output.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// corrupt returns a copy of p with bits flipped when the message is chosen for corruption, and
// nil when it is not.
func (c *Conn) corrupt(tag transport.Tag, p []byte) []byte {
	if c.cfg.Corrupt <= 0 || len(p) == 0 || len(p) < c.cfg.MinSize {
		return nil
	}
	r := c.rng(streamCorrupt, tag, len(p))
	if r.Float64() >= c.cfg.Corrupt {
		return nil
	}
	q := append([]byte(nil), p...)
	bits := max(c.cfg.Bits, 1)
	total := len(q) * 8
	if bits >= total {
		for i := range q {
			q[i] = ^q[i]
		}
		return q
	}
	flipped := make(map[int]bool, bits)
	for len(flipped) < bits {
		b := r.IntN(total)
		if flipped[b] {
			continue
		}
		flipped[b] = true
		q[b/8] ^= 1 << (b % 8)
	}
	return q
}

// delay returns how long to hold the Send of the message with tag and length n.
func (c *Conn) delay(tag transport.Tag, n int) time.Duration {
	d := c.cfg.Delay
	if c.cfg.Jitter > 0 {
		d += time.Duration(c.rng(streamDelay, tag, n).Int64N(int64(c.cfg.Jitter)))
	}
	return d
}
