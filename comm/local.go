package comm

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/chorus-cc/chorus/topology"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/inproc"
)

// NewLocal makes a group of n ranks inside this process, connected through memory (like NCCL's
// ncclCommInitAll): comms[r] is rank r. Use each Comm from its own goroutine, since a blocking
// collective returns only when every rank has taken part. Close every Comm when done: the
// connections are released when the last rank closes, so a rank that finishes early and closes
// never takes messages away from a rank still finishing.
func NewLocal(ctx context.Context, n int, cfg Config) ([]*Comm, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: NewLocal with %d ranks", ErrInvalid, n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	sys, err := localSystem(n, topology.TransportInproc)
	if err != nil {
		return nil, fmt.Errorf("chorus: NewLocal: %w", err)
	}
	names := make([]string, n)
	for r := range names {
		names[r] = topology.TransportInproc
	}
	mesh := inproc.Mesh(n)
	id := newID()
	comms := make([]*Comm, n)
	var open atomic.Int32
	open.Store(int32(n))
	release := func() {
		if open.Add(-1) != 0 {
			return
		}
		for _, row := range mesh {
			for _, conn := range row {
				if conn != nil {
					conn.Close()
				}
			}
		}
	}
	for rank := range comms {
		conns := make([]transport.Conn, n)
		for p := range conns {
			if p != rank {
				conns[p] = mesh[rank][p]
			}
		}
		comms[rank] = newComm(id, 0, rank, conns, r, release)
		comms[rank].setSystem(sys, topology.TransportInproc, names)
	}
	return comms, nil
}
