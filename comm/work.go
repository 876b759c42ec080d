package comm

import (
	"context"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Work is the handle of an operation started with Comm.Start.
type Work struct {
	ctx  context.Context
	op   Operation
	req  plan.Request
	call call
	seq  uint64
	done chan struct{}
	err  error
}

// Wait blocks until the operation has finished and returns its error. The buffers may be reused
// once Wait returns.
func (w *Work) Wait() error {
	<-w.done
	return w.err
}

// Done returns a channel that is closed when the operation has finished.
func (w *Work) Done() <-chan struct{} { return w.done }

// Err returns the operation's error once it has finished, and nil before.
func (w *Work) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// Seq returns the operation's sequence number: for a collective, its place in the
// communicator's issue order; for a send or receive, its place among the messages between this
// rank and its peer in that direction.
func (w *Work) Seq() uint64 { return w.seq }

func (w *Work) finish(err error) {
	w.err = err
	close(w.done)
}
