//go:build !linux

package shm

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/chorus-cc/chorus/transport"
)

// errUnsupported is what every operation returns off Linux.
var errUnsupported = fmt.Errorf("shm: needs Linux (memfd, SCM_RIGHTS), not %s: %w", runtime.GOOS, errors.ErrUnsupported)

func init() {
	transport.Register("shm", &Transport{})
}

// Transport is the shared-memory transport; off Linux every call fails with an error wrapping
// errors.ErrUnsupported.
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

// Listen fails: shm needs Linux.
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	return nil, errUnsupported
}

// Dial fails: shm needs Linux.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	return nil, errUnsupported
}

// Conn is one end of a shared-memory connection; off Linux none can be made.
type Conn struct{}

var _ transport.Conn = (*Conn)(nil)

// Send fails: shm needs Linux.
func (c *Conn) Send(ctx context.Context, tag transport.Tag, p []byte) error { return errUnsupported }

// TrySend fails: shm needs Linux.
func (c *Conn) TrySend(tag transport.Tag, p []byte) (bool, error) { return false, errUnsupported }

// Recv fails: shm needs Linux.
func (c *Conn) Recv(ctx context.Context, tag transport.Tag, fn func(p []byte) error) error {
	return errUnsupported
}

// Close does nothing.
func (c *Conn) Close() error { return nil }

// Stats counts how received messages reached their receivers.
type Stats struct {
	InPlace, Lent, MovedAside, Assembled uint64
	RecvSleeps, SendSleeps               uint64
	Moves                                uint64
}

// Stats returns zero counts.
func (c *Conn) Stats() Stats { return Stats{} }

// Pair fails: shm needs Linux.
func Pair(cfg Config) (a, b *Conn, err error) {
	return nil, nil, errUnsupported
}

// Alloc returns n bytes (n > 0) of ordinary memory: off Linux nothing can be lent.
func Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("shm: alloc of %d bytes", n)
	}
	return make([]byte, n), nil
}

// Free does nothing off Linux: the garbage collector frees what Alloc returned.
func Free(b []byte) error { return nil }
