package rendezvous

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultMaxConns is the connection limit of a server whose ServerConfig.MaxConns is 0.
const DefaultMaxConns = 1024

// DefaultHandshakeTimeout is the handshake limit of a server whose
// ServerConfig.HandshakeTimeout is 0.
const DefaultHandshakeTimeout = 10 * time.Second

// Error codes carried in the aux field of an opErr frame, so clients can return sentinels.
const (
	codeOther byte = iota
	codeNotCounter
	codeKeyTooLarge
	codeValueTooLarge
	codeClosed
)

// ServerConfig configures a Server. The zero value is a server without authentication, with
// a fresh MemStore, DefaultMaxConns and DefaultHandshakeTimeout, that logs nothing.
type ServerConfig struct {
	// Secret is the job secret clients must prove they hold. Empty: no authentication (only a
	// client with an empty secret too is accepted). The launcher always sets one.
	Secret []byte
	// Store holds the data. Nil: a new MemStore, closed with the server. A store passed in is
	// left open by Close.
	Store *MemStore
	// MaxConns is the number of connections served at once; one more is told ErrBusy and
	// closed. Zero: DefaultMaxConns.
	MaxConns int
	// HandshakeTimeout bounds the authentication of a new connection. Zero:
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Logger receives refused connections and protocol errors. Nil: discard.
	Logger *slog.Logger
}

// Server serves a MemStore over TCP to authenticated clients. Create it with NewServer.
type Server struct {
	cfg       ServerConfig
	store     *MemStore
	ownsStore bool
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// NewServer returns a server configured by cfg; call Serve to start it.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger,
		listeners: make(map[net.Listener]struct{}), conns: make(map[net.Conn]struct{})}
	if s.store == nil {
		s.store = NewMemStore()
		s.ownsStore = true
	}
	if s.cfg.MaxConns <= 0 {
		s.cfg.MaxConns = DefaultMaxConns
	}
	if s.cfg.HandshakeTimeout <= 0 {
		s.cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.cfg.Secret = cloneBytes(cfg.Secret)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Store returns the store the server serves.
func (s *Server) Store() *MemStore { return s.store }

// Serve accepts connections on ln until Close; it then returns nil. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("rendezvous: accept: %w", err)
		}
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			_ = conn.Close()
			return nil
		case len(s.conns) >= s.cfg.MaxConns:
			s.mu.Unlock()
			s.log.Warn("rendezvous: connection refused: at connection limit",
				"remote", conn.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write([]byte{helloMagic[0], helloMagic[1], helloMagic[2], helloMagic[3], helloBusy})
			_ = conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(conn)
	}
}

// Close stops every Serve, closes every connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.ownsStore {
		return s.store.Close()
	}
	return nil
}

// handle serves one connection until it ends or misbehaves.
func (s *Server) handle(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		_ = conn.Close()
	}()
	remote := conn.RemoteAddr().String()
	_ = conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if err := serverHandshake(conn, s.cfg.Secret); err != nil {
		s.log.Warn("rendezvous: connection refused: authentication failed", "remote", remote, "err", err)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	for {
		req, err := readFrame(conn)
		if err != nil {
			if !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
				s.log.Warn("rendezvous: closing connection", "remote", remote, "err", err)
			}
			return
		}
		resp, ok := s.do(conn, req)
		if !ok {
			return
		}
		if err := writeFrame(conn, resp); err != nil {
			return
		}
	}
}

// do runs one request; ok is false when the connection must be closed.
func (s *Server) do(conn net.Conn, req frame) (resp frame, ok bool) {
	switch req.op {
	case opSet:
		return result(frame{op: opOK}, s.store.Set(s.ctx, req.key, req.value)), true
	case opGet, opWait:
		return s.blocking(conn, req)
	case opAdd:
		if len(req.value) != 8 {
			return errFrame(fmt.Errorf("rendezvous: add delta of %d bytes, want 8", len(req.value))), true
		}
		n, err := s.store.Add(s.ctx, req.key, int64(binary.BigEndian.Uint64(req.value)))
		return result(frame{op: opOK, value: binary.BigEndian.AppendUint64(nil, uint64(n))}, err), true
	case opCAS:
		after, err := s.store.CompareAndSet(s.ctx, req.key, req.value, req.aux)
		r := frame{op: opOK, value: after}
		if after == nil {
			r.aux = []byte{1}
		}
		return result(r, err), true
	default:
		s.log.Warn("rendezvous: closing connection: not a request", "remote", conn.RemoteAddr().String(), "op", req.op)
		return frame{}, false
	}
}

// blocking runs a Get or Wait, cancelled if the client hangs up. While it waits a watcher reads
// the connection: a client sends nothing until it has its answer, so any byte or EOF means the
// client gave up (or broke the protocol) and the connection is closed.
func (s *Server) blocking(conn net.Conn, req frame) (frame, bool) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	got := make(chan int, 1)
	go func() {
		var b [1]byte
		n, _ := conn.Read(b[:])
		got <- n
		cancel()
	}()
	var value []byte
	var err error
	if req.op == opGet {
		value, err = s.store.Get(ctx, req.key)
	} else {
		err = s.store.Wait(ctx, req.key)
	}
	_ = conn.SetReadDeadline(time.Now().Add(-time.Hour))
	n := <-got
	_ = conn.SetReadDeadline(time.Time{})
	if n > 0 || (err != nil && ctx.Err() != nil) {
		return frame{}, false
	}
	return result(frame{op: opOK, value: value}, err), true
}

// result returns ok, or an error frame when err is not nil.
func result(ok frame, err error) frame {
	if err != nil {
		return errFrame(err)
	}
	return ok
}

// errFrame encodes err as an opErr frame with its code.
func errFrame(err error) frame {
	code := codeOther
	switch {
	case errors.Is(err, ErrNotCounter):
		code = codeNotCounter
	case errors.Is(err, ErrKeyTooLarge):
		code = codeKeyTooLarge
	case errors.Is(err, ErrValueTooLarge):
		code = codeValueTooLarge
	case errors.Is(err, ErrClosed):
		code = codeClosed
	}
	return frame{op: opErr, value: []byte(err.Error()), aux: []byte{code}}
}

// decodeErr turns an opErr frame back into an error wrapping the matching sentinel.
func decodeErr(f frame) error {
	var sentinel error
	if len(f.aux) == 1 {
		switch f.aux[0] {
		case codeNotCounter:
			sentinel = ErrNotCounter
		case codeKeyTooLarge:
			sentinel = ErrKeyTooLarge
		case codeValueTooLarge:
			sentinel = ErrValueTooLarge
		case codeClosed:
			sentinel = ErrClosed
		}
	}
	if sentinel != nil {
		return fmt.Errorf("rendezvous: server: %s: %w", f.value, sentinel)
	}
	return fmt.Errorf("rendezvous: server: %s", f.value)
}
