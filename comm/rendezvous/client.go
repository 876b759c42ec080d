package rendezvous

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// ClientConfig configures a Client. The zero value retries connects from 10ms up to 1s
// between attempts and keeps up to 4 idle connections.
type ClientConfig struct {
	// MinBackoff is the first wait between connection attempts. Zero: 10ms.
	MinBackoff time.Duration
	// MaxBackoff caps the doubling wait between attempts. Zero: 1s.
	MaxBackoff time.Duration
	// MaxIdleConns is how many idle connections the client keeps for later calls. Zero: 4.
	MaxIdleConns int
	// DialFunc opens one TCP connection. Nil: a net.Dialer's DialContext.
	DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a Store served by a remote Server. It is safe for concurrent use: each call in
// flight has a connection of its own (taken from a small pool), so a waiting Get does not hold
// up a Set from another goroutine. Each connection counts against the server's MaxConns; a
// call that needs a new one when the server is full fails with ErrBusy.
type Client struct {
	addr   string
	secret []byte
	cfg    ClientConfig

	mu     sync.Mutex
	closed bool
	idle   []net.Conn
	active map[net.Conn]struct{}
}

var _ Store = (*Client)(nil)

// Dial connects to the server at addr (host:port) and authenticates with secret. It retries
// with exponential backoff while the server is not up yet, until ctx is done. A wrong secret
// fails at once with ErrAuth, a full server with ErrBusy.
func Dial(ctx context.Context, addr string, secret []byte, cfg ClientConfig) (*Client, error) {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.MaxIdleConns <= 0 {
		cfg.MaxIdleConns = 4
	}
	if cfg.DialFunc == nil {
		cfg.DialFunc = (&net.Dialer{}).DialContext
	}
	c := &Client{addr: addr, secret: cloneBytes(secret), cfg: cfg, active: make(map[net.Conn]struct{})}
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.idle = append(c.idle, conn)
	return c, nil
}

// connect opens and authenticates one connection, retrying until ctx is done.
func (c *Client) connect(ctx context.Context) (net.Conn, error) {
	backoff := c.cfg.MinBackoff
	for {
		conn, err := c.cfg.DialFunc(ctx, "tcp", c.addr)
		if err == nil {
			err = c.handshake(ctx, conn)
			if err == nil {
				return conn, nil
			}
			_ = conn.Close()
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrBusy) {
				return nil, fmt.Errorf("rendezvous: connect %s: %w", c.addr, err)
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rendezvous: connect %s: %w (last attempt: %v)", c.addr, ctx.Err(), err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("rendezvous: connect %s: %w (last attempt: %v)", c.addr, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// handshake authenticates conn, giving up when ctx is done.
func (c *Client) handshake(ctx context.Context, conn net.Conn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err := clientHandshake(conn, c.secret)
	if !stop() {
		return ctx.Err()
	}
	return err
}

// take returns an idle connection or opens a new one.
func (c *Client) take(ctx context.Context) (net.Conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(c.idle); n > 0 {
		conn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.active[conn] = struct{}{}
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = conn.Close()
		return nil, ErrClosed
	}
	c.active[conn] = struct{}{}
	return conn, nil
}

// release gives conn back to the pool, or closes it when broken or surplus.
func (c *Client) release(conn net.Conn, broken bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.active, conn)
	if broken || c.closed || len(c.idle) >= c.cfg.MaxIdleConns {
		_ = conn.Close()
		return
	}
	c.idle = append(c.idle, conn)
}

// roundTrip sends req and returns the server's answer. A call whose ctx ends abandons its
// connection (the server sees it close and stops waiting).
func (c *Client) roundTrip(ctx context.Context, req frame) (frame, error) {
	if err := ctx.Err(); err != nil {
		return frame{}, err
	}
	conn, err := c.take(ctx)
	if err != nil {
		return frame{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err = writeFrame(conn, req)
	var resp frame
	if err == nil {
		resp, err = readFrame(conn)
	}
	if !stop() {
		c.release(conn, true)
		return frame{}, fmt.Errorf("rendezvous: %s: op %d on %q: %w", c.addr, req.op, req.key, ctx.Err())
	}
	if err != nil {
		c.release(conn, true)
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return frame{}, ErrClosed
		}
		return frame{}, fmt.Errorf("rendezvous: %s: %w", c.addr, err)
	}
	switch resp.op {
	case opOK:
		c.release(conn, false)
		return resp, nil
	case opErr:
		c.release(conn, false)
		return frame{}, decodeErr(resp)
	default:
		c.release(conn, true)
		return frame{}, fmt.Errorf("rendezvous: %s: unexpected response op %#x", c.addr, resp.op)
	}
}

// Set stores value under key.
func (c *Client) Set(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	_, err := c.roundTrip(ctx, frame{op: opSet, key: key, value: value})
	return err
}

// Get returns the value of key, waiting until it exists or ctx is done.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, frame{op: opGet, key: key})
	if err != nil {
		return nil, err
	}
	return resp.value, nil
}

// Wait waits until every key exists or ctx is done.
func (c *Client) Wait(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if _, err := c.roundTrip(ctx, frame{op: opWait, key: k}); err != nil {
			return err
		}
	}
	return nil
}

// Add adds delta to the counter under key and returns the new value.
func (c *Client) Add(ctx context.Context, key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	resp, err := c.roundTrip(ctx, frame{op: opAdd, key: key, value: binary.BigEndian.AppendUint64(nil, uint64(delta))})
	if err != nil {
		return 0, err
	}
	if len(resp.value) != 8 {
		return 0, fmt.Errorf("rendezvous: %s: add answer of %d bytes, want 8", c.addr, len(resp.value))
	}
	return int64(binary.BigEndian.Uint64(resp.value)), nil
}

// CompareAndSet sets key to new if its value equals old (or it is missing and old is empty)
// and returns the value after the call.
func (c *Client) CompareAndSet(ctx context.Context, key string, old, new []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkValue(old); err != nil {
		return nil, err
	}
	if err := checkValue(new); err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, frame{op: opCAS, key: key, value: old, aux: new})
	if err != nil {
		return nil, err
	}
	if len(resp.aux) == 1 && resp.aux[0] == 1 {
		return nil, nil
	}
	return resp.value, nil
}

// Close closes every connection, aborting calls in flight with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, conn := range c.idle {
		_ = conn.Close()
	}
	c.idle = nil
	for conn := range c.active {
		_ = conn.Close()
	}
	return nil
}
