// Package transport defines how Chorus moves tagged messages between two ranks: the Transport,
// Listener and Conn interfaces, a registry of backends by name, and the sentinel errors every
// backend returns. It knows nothing of collectives: a Tag is an opaque key to it.
//
// Backends live in subpackages (inproc, quic, ...) and pass the conformance suite in
// transport/transporttest.
package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Sentinel errors. Backends wrap them with %w and context.
var (
	// ErrClosed: the connection or listener was closed, locally or by the peer.
	ErrClosed = errors.New("chorus: transport closed")
	// ErrLength: a received message's length differs from what the receiver expected.
	ErrLength = errors.New("chorus: message length mismatch")
	// ErrTooLarge: a message exceeds the transport's limit.
	ErrTooLarge = errors.New("chorus: message too large")
	// ErrDuplicateTag: a Recv or a message arrived for a tag that already has a pending receiver
	// or a pending message.
	ErrDuplicateTag = errors.New("chorus: duplicate pending tag")
)

// SmallMessage is the size up to which every backend buffers a message instead of waiting for
// its receiver. 8 KiB: a collective's call description carries its first message when both fit
// (see comm), and a 4 KiB message with its description must.
const SmallMessage = 8 << 10

// Tag identifies one message between two ranks. Messages are matched by the whole tag, never by
// arrival order: a receiver waiting for a tag gets exactly the message sent with that tag. The
// upper layers fill the fields; the transport only compares them.
type Tag struct {
	Comm  uint64 // communicator id
	Seq   uint64 // operation sequence number
	Check uint64 // fingerprint of the operation; a message whose fingerprint differs never matches
	Epoch uint32 // communicator epoch
	Step  uint32 // message number within the operation
	Chunk uint32 // piece of a message cut into chunks
}

func (t Tag) String() string {
	return fmt.Sprintf("comm %x epoch %d seq %d step %d chunk %d", t.Comm, t.Epoch, t.Seq, t.Step, t.Chunk)
}

// Conn is a reliable, message-oriented connection between two ranks. Its methods may be called
// from many goroutines at once.
type Conn interface {
	// Send delivers one message with the tag. It returns once p may be reused: either the message
	// was buffered (on either side) or the peer has taken it. It honours ctx. A message of at most
	// SmallMessage bytes never waits for the receiver (the engine relies on it for the call
	// description each collective sends first).
	Send(ctx context.Context, tag Tag, p []byte) error
	// Recv waits for the message with the tag and calls fn with its bytes, once. fn must not keep
	// p after it returns; its error is Recv's error. Recv honours ctx. Each tag is received once.
	Recv(ctx context.Context, tag Tag, fn func(p []byte) error) error
	// Close closes the connection. Pending and later calls on both ends fail with ErrClosed.
	Close() error
}

// Crowdable is implemented by connections whose waiting can adapt to a host that runs more ranks
// than it has CPUs (topology.System.Oversubscribed). There a waiting rank holds a CPU that the
// rank it waits for may need: the connection then gives its CPU away at every poll, as Open MPI
// does when it is oversubscribed, instead of polling undisturbed.
type Crowdable interface {
	// SetCrowded says whether the connection's host is oversubscribed. It may be called at any
	// time, from any goroutine; waits that begin afterwards follow it.
	SetCrowded(crowded bool)
}

// TrySender is implemented by connections that can tell, without waiting, whether a message
// fits in their buffers now. The engine sends a message that way from the goroutine running the
// program instead of handing it to a sender goroutine, whose wake-up costs more than a message
// of some KiB takes to copy.
type TrySender interface {
	// TrySend sends p with the tag, as Send would, when that needs no wait at all (the message
	// fits in the connection's buffers now) and reports true; otherwise it sends nothing and
	// reports false. Its error is Send's (a closed connection, a message too large).
	TrySend(tag Tag, p []byte) (bool, error)
}

// Lender is implemented by connections that can send a message without copying it, where it
// lies in memory that the receiver can read too (shared memory that the backend allocated, such
// as shm.Alloc's): the receiver then reads it, reducing or copying, straight out of the sender's
// buffer. The engine lends the large messages of a collective this way when it can.
type Lender interface {
	// Lend sends p with the tag as Send would, but without copying it, and reports true with a
	// mark for Settle; when p does not lie in memory the connection can lend, it sends nothing
	// and reports false. A lent p must not be written (nor freed) until Settle has returned for
	// its mark or a later one: the receiver may read it until then. Lend waits only for the room
	// its small notice takes (and, the first time a backend lends from some memory, for the peer
	// to map it). Its error is Send's.
	Lend(ctx context.Context, tag Tag, p []byte) (mark uint64, ok bool, err error)
	// Settle waits until the receiver has read every message lent on the connection up to the
	// one whose Lend returned mark (or copied it aside, when it does not receive it soon). It
	// honours ctx.
	Settle(ctx context.Context, mark uint64) error
}

// Listener accepts connections.
type Listener interface {
	// Accept waits for the next connection.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the address to Dial to reach the listener.
	Addr() string
	// Close stops listening; pending Accepts fail with ErrClosed.
	Close() error
}

// Transport makes connections.
type Transport interface {
	// Listen starts listening on addr (whose form the backend defines; "" picks one).
	Listen(ctx context.Context, addr string) (Listener, error)
	// Dial connects to a listener's address.
	Dial(ctx context.Context, addr string) (Conn, error)
}

var (
	regMu sync.RWMutex
	reg   = map[string]Transport{}
)

// Register makes a transport available by name. It panics when name is taken.
func Register(name string, t Transport) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := reg[name]; dup {
		panic("transport: Register called twice for " + name)
	}
	reg[name] = t
}

// Lookup returns the transport registered as name.
func Lookup(name string) (Transport, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	if t, ok := reg[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("transport: unknown transport %q (have %v)", name, namesLocked())
}

// Names returns the registered transport names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(reg))
	for n := range reg {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
