// Package inproc is the in-process transport: ranks that live in one process exchange messages
// through memory. Pair and Mesh build connected Conns directly; a Network gives the same through
// Listen and Dial, for code written against transport.Transport.
//
// A Send hands the message to the peer's transport.Mailbox: when the receiver already waits,
// the sender's goroutine runs the receiver's fn over the sender's bytes (one copy in all, by fn);
// a message of at most EagerLimit bytes that comes first is copied and queued, and Send returns;
// a larger one waits until the receiver has taken it (rendezvous, again no copy by the transport).
//
// Importing the package registers a Network as "inproc" (transport.Lookup("inproc")). That is the
// only state the package keeps: every Network made by New is separate, and its addresses mean
// nothing to another Network.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chorus-cc/chorus/transport"
)

// EagerLimit is the largest message a Send buffers when its receiver is not waiting yet; larger
// messages wait for the receiver.
const EagerLimit = 64 << 10

// ErrNoListener: nothing listens on the address given to Dial.
var ErrNoListener = errors.New("chorus: inproc: no listener at address")

// Conn is one end of an in-process connection.
type Conn struct {
	in   *transport.Mailbox // messages for this end
	out  *transport.Mailbox // messages for the peer: the peer's in
	link *link
	name string // this end, for errors
}

var _ transport.Conn = (*Conn)(nil)

// link is what both ends of a connection share.
type link struct {
	once sync.Once
	a, b *transport.Mailbox
}

// newPair connects two Conns named nameA and nameB.
func newPair(nameA, nameB string) (a, b *Conn) {
	l := &link{a: transport.NewMailbox(EagerLimit), b: transport.NewMailbox(EagerLimit)}
	a = &Conn{in: l.a, out: l.b, link: l, name: nameA}
	b = &Conn{in: l.b, out: l.a, link: l, name: nameB}
	return a, b
}

// Pair returns the two ends of a new connection.
func Pair() (a, b *Conn) {
	return newPair("inproc end a", "inproc end b")
}

// Mesh returns the connections of n fully connected ranks: conns[i][j] is rank i's connection to
// rank j, and conns[i][i] is nil. It returns nil when n < 1.
//
//	0 ─── 1
//	│ ╲ ╱ │
//	│ ╱ ╲ │
//	3 ─── 2
func Mesh(n int) [][]*Conn {
	if n < 1 {
		return nil
	}
	conns := make([][]*Conn, n)
	for i := range conns {
		conns[i] = make([]*Conn, n)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			conns[i][j], conns[j][i] = newPair(fmt.Sprintf("inproc rank %d (to %d)", i, j), fmt.Sprintf("inproc rank %d (to %d)", j, i))
		}
	}
	return conns
}

// Send delivers one message to the peer. It returns once p may be reused: the peer's receiver
// has taken the message, or the message (at most EagerLimit bytes) was copied. Errors wrap
// context errors, transport.ErrClosed or transport.ErrDuplicateTag (a message with the tag is
// already pending at the peer); after an error the message is never received.
func (c *Conn) Send(ctx context.Context, tag transport.Tag, p []byte) error {
	return c.out.Deliver(ctx, tag, p)
}

// Recv waits for the message with the tag and calls fn with its bytes, once; fn's error is
// Recv's error. fn may run in the sending goroutine; it must not keep p, block or panic. When
// ctx is done first, Recv returns ctx's error and the message stays for a later Recv. A second
// Recv for a tag that a Recv already waits for fails with transport.ErrDuplicateTag.
func (c *Conn) Recv(ctx context.Context, tag transport.Tag, fn func(p []byte) error) error {
	return c.in.Recv(ctx, tag, fn)
}

// Close closes both ends: pending and later Sends and Recvs on either end fail with an error
// wrapping transport.ErrClosed, and messages not yet received are dropped. A receiver whose fn
// already runs finishes. Close always returns nil.
func (c *Conn) Close() error {
	c.link.once.Do(func() {
		cause := fmt.Errorf("connection closed by %s", c.name)
		c.link.a.Close(cause)
		c.link.b.Close(cause)
	})
	return nil
}

// String returns the name of this end.
func (c *Conn) String() string { return c.name }
