//go:build linux

package shm

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/transport"
)

// Control messages on the socket, one byte each (the socket keeps message boundaries).
const (
	msgDrain  = 'D' // the sender needs room: move aside what nobody has taken
	msgBye    = 'B' // the peer closes the connection
	msgWakeRx = 'R' // the ring you read has a new frame, and your receiver sleeps
	msgWakeTx = 'T' // the ring you write has room, and your sender sleeps
	// Lending (lend.go); these carry an allocation's id (u64) after the byte.
	msgShare  = 'M' // map this allocation (its size, u64, follows; its memfd rides along)
	msgMapped = 'A' // I mapped the allocation you offered
	msgForget = 'U' // I freed this allocation: unmap it
)

// Conn is one end of a shared-memory connection. Its methods may be called from many
// goroutines at once.
type Conn struct {
	name string          // this end, for errors
	peer string          // the other end, for errors
	sock *net.UnixConn   // setup, control messages, and the peer's liveness
	raw  syscall.RawConn // sock's, for its reads and writes (see read)
	in   *segment        // the ring this end reads (the peer created it)
	out  *segment        // the ring this end writes (this end created it)

	txLock  chan struct{} // capacity 1: held by the Send that writes
	tx      producer      // under txLock
	txTimer *time.Timer   // under txLock: ends a sleeping Send's wait for room (made at its first sleep)

	// The doorbells that a sleeping receiver (the ring's owner) and a sleeping Send wait on,
	// rung by this end (kickRx, kickTx) or, through the socket, by the peer (see bell.go).
	rxBell, txBell doorbell
	// mapBell rings when the peer answers an offer of memory (see offer).
	mapBell doorbell
	// drainDelay is how long a Send waits for room before it asks the peer to drain, and
	// settleDrain how long a Settle waits without progress: the constants of those names, or
	// other values set by a test before any use.
	drainDelay, settleDrain time.Duration

	rx rxState

	// Lending (lend.go).
	offerMu sync.Mutex  // one offer of memory at a time
	offered []*region   // under offerMu: allocations offered on this Conn
	peerMem peerRegions // the peer's allocations, mapped

	// refs counts the calls (and helpers) that may touch the mapped memory; Close unmaps once it
	// is zero with dead set. idle gets a token when the count drops to zero on a dead Conn.
	refs atomic.Int64
	idle chan struct{}

	dead     atomic.Bool
	crowded  atomic.Bool   // SetCrowded: the host has more ranks than CPUs
	mover    bool          // of the two ends, this one leaves a CPU that both wait on (unshare)
	lastMove atomic.Int64  // when unshare last moved this end's thread (monotonic ns)
	done     chan struct{} // closed when the Conn fails or is closed
	failOnce sync.Once
	err      error // wraps transport.ErrClosed; set before done is closed

	closeOnce  sync.Once
	readerDone chan struct{}
	peerBye    atomic.Bool

	kickRxFn, kickTxFn func() // context.AfterFunc callbacks, made once

	stats struct{ inPlace, lent, movedAside, assembled, recvSleeps, sendSleeps, moves atomic.Uint64 }

	// pieceHook, when set (by tests, before any use), runs after each piece of a streamed
	// message is published.
	pieceHook func()
}

var (
	_ transport.Conn      = (*Conn)(nil)
	_ transport.TrySender = (*Conn)(nil)
	_ transport.Lender    = (*Conn)(nil)
)

// newConn starts a connection over sock with the two mapped rings.
func newConn(sock *net.UnixConn, raw syscall.RawConn, in, out *segment, name, peer string) *Conn {
	c := &Conn{
		name:        name,
		peer:        peer,
		sock:        sock,
		raw:         raw,
		in:          in,
		out:         out,
		txLock:      make(chan struct{}, 1),
		tx:          newProducer(out),
		drainDelay:  drainDelay,
		settleDrain: settleDrain,
		idle:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		readerDone:  make(chan struct{}),
	}
	c.mover = out.ctrl.id > in.ctrl.id
	c.rxBell.init()
	c.txBell.init()
	c.mapBell.init()
	c.tx.bell = func() { c.tell(msgWakeRx) }
	c.rx.init(c, in)
	c.rx.cons.bell = func() { c.tell(msgWakeTx) }
	c.kickRxFn = func() { c.kickSafe(c.kickRx) }
	c.kickTxFn = func() { c.kickSafe(c.kickTx) }
	go c.readLoop()
	return c
}

// String returns the name of this end.
func (c *Conn) String() string { return c.name }

// Stats counts how received messages reached their receivers.
type Stats struct {
	// InPlace messages were read by their receiver's fn where they lay in the ring: one copy.
	InPlace uint64
	// Lent messages were read by their receiver's fn where they lay in the sender's memory
	// (Lend): one copy, or none beside the fn's own.
	Lent uint64
	// MovedAside messages were copied out of the ring before a receiver came: two copies.
	MovedAside uint64
	// Assembled messages were streamed in pieces and assembled in a buffer: two copies.
	Assembled uint64
	// RecvSleeps counts the times a receiver found no message after spinning and slept;
	// SendSleeps the times a sender found the ring full after spinning and slept, or a Settle
	// found lent messages unread and slept.
	RecvSleeps, SendSleeps uint64
	// Moves counts the times a waiter of this end found the peer waiting on its CPU and moved
	// its thread to another one (see the package documentation, Waiting).
	Moves uint64
}

// Stats returns counts of the messages received so far.
func (c *Conn) Stats() Stats {
	return Stats{
		InPlace:    c.stats.inPlace.Load(),
		Lent:       c.stats.lent.Load(),
		MovedAside: c.stats.movedAside.Load(),
		Assembled:  c.stats.assembled.Load(),
		RecvSleeps: c.stats.recvSleeps.Load(),
		SendSleeps: c.stats.sendSleeps.Load(),
		Moves:      c.stats.moves.Load(),
	}
}

// acquire registers a user of the mapped memory; it fails once the Conn is dead.
func (c *Conn) acquire() bool {
	c.refs.Add(1)
	if c.dead.Load() {
		c.release()
		return false
	}
	return true
}

func (c *Conn) release() {
	if c.refs.Add(-1) == 0 && c.dead.Load() {
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
}

// closedErr returns the error of a dead Conn.
func (c *Conn) closedErr() error {
	<-c.done
	return c.err
}

// fail marks the Conn dead for cause (the first cause wins): pending and later calls fail with
// an error wrapping transport.ErrClosed and cause. The memory stays mapped until Close. The
// caller holds a reference (the memory is mapped).
func (c *Conn) fail(cause error) {
	c.failOnce.Do(func() {
		c.err = fmt.Errorf("%w: %w", transport.ErrClosed, cause)
		c.dead.Store(true)
		close(c.done)
		c.rx.close(c.err)
		c.rx.kicks.Add(1)
		c.rxBell.ring() // whatever the flags say: a wake-up from the peer may never be read now
		c.txBell.ring()
	})
}

// kickRx makes the receiving side look again: an owner asleep on the ring wakes.
func (c *Conn) kickRx() {
	c.rx.kicks.Add(1)
	wake(&c.in.ctrl.consSleeping, c.rxBell.ring)
}

// kickTx wakes a Send asleep waiting for room.
func (c *Conn) kickTx() {
	wake(&c.out.ctrl.prodSleeping, c.txBell.ring)
}

// tell sends the peer a one-byte control message (a wake-up); see tellMsg.
func (c *Conn) tell(msg byte) {
	b := [1]byte{msg}
	c.tellMsg(b[:])
}

// tellMsg sends the peer a control message; on a broken socket it does nothing, as the peer is
// gone or going. The write is a raw system call (see read).
func (c *Conn) tellMsg(b []byte) {
	_ = c.raw.Write(func(fd uintptr) bool {
		_, _, again, _ := rawMsg(unix.SYS_SENDMSG, fd, b, nil, 0)
		return !again // full: wait until it is not
	})
}

// tellFD sends the peer a control message with a descriptor attached (SCM_RIGHTS).
func (c *Conn) tellFD(b []byte, fd int) error {
	oob := unix.UnixRights(fd)
	var err error
	werr := c.raw.Write(func(s uintptr) bool {
		var again bool
		_, _, again, err = rawMsg(unix.SYS_SENDMSG, s, b, oob, 0)
		return !again
	})
	return cmp.Or(err, werr)
}

// kickSafe runs kick unless the memory may be unmapped already (a context's AfterFunc may run
// after its call returned).
func (c *Conn) kickSafe(kick func()) {
	if c.acquire() {
		kick()
		c.release()
		return
	}
	// Dead: everything was woken by fail.
}

// Close closes the connection: the peer is told, pending and later calls on both ends fail with
// errors wrapping transport.ErrClosed, and messages not yet received are dropped. Close waits
// for the calls that are inside the shared memory to leave it (a receiver's fn that runs
// finishes first; so Close must not be called from a fn) and then unmaps it. Close always
// returns nil.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.acquire() {
			c.fail(fmt.Errorf("shm: %s closed locally", c.name))
			c.release()
		}
		_ = c.sock.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.sock.Write([]byte{msgBye})
		_ = c.sock.Close()
		<-c.readerDone
		for c.refs.Load() != 0 {
			<-c.idle
		}
		c.withdraw()
		c.rx.free()
		c.unmapPeerMem()
		c.in.unmap()
		c.out.unmap()
	})
	return nil
}

// readLoop reads the peer's control messages until the socket ends, and then fails the Conn:
// this is how the death of the peer's process is noticed, at once.
func (c *Conn) readLoop() {
	defer close(c.readerDone)
	var b [32]byte
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, fds, err := c.read(b[:], oob)
		if err != nil || n == 0 {
			closeFDs(fds)
			c.fail(c.peerGone(err))
			return
		}
		if b[0] != msgShare && len(fds) > 0 {
			closeFDs(fds)
			c.protocolError(fmt.Errorf("shm: control message %q from %s carries descriptors: %w", b[0], c.peer, ErrProtocol))
			continue
		}
		var perr error
		switch b[0] {
		case msgDrain:
			c.onDrain()
		case msgBye:
			c.peerBye.Store(true)
		case msgWakeRx:
			c.rxBell.ring()
		case msgWakeTx:
			c.txBell.ring()
		case msgShare:
			perr = c.onShare(b[:n], fds)
		case msgMapped:
			if n != 9 {
				perr = fmt.Errorf("answer of %d bytes: %w", n, ErrProtocol)
			} else {
				c.onMapped(binary.LittleEndian.Uint64(b[1:]))
			}
		case msgForget:
			perr = c.onForget(b[:n])
		default:
			perr = fmt.Errorf("control message %q: %w", b[0], ErrProtocol)
		}
		if perr != nil {
			c.protocolError(fmt.Errorf("shm: from %s: %w", c.peer, perr))
		}
	}
}

// protocolError fails the Conn for a broken control message.
func (c *Conn) protocolError(err error) {
	if c.acquire() {
		c.fail(err)
		c.release()
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// read reads one control message: it waits in the netpoller until the socket is readable and
// then reads with a raw system call.
//
// The socket's reads and writes are raw system calls, which the Go runtime does not see: a
// system call that it sees (syscall.Syscall) wakes its monitor thread, sysmon, out of the deep
// sleep it takes while the process is idle, into polling every 20 us (doubling the gap every 50
// polls), which on a rank bound to one CPU takes the CPU from the rank (see the package
// documentation, Waiting). The connection's waiters sleep on channels for the same reason.
func (c *Conn) read(b, oob []byte) (n int, fds []int, err error) {
	var oobn int
	rerr := c.raw.Read(func(fd uintptr) bool {
		var again bool
		n, oobn, again, err = rawMsg(unix.SYS_RECVMSG, fd, b, oob, unix.MSG_CMSG_CLOEXEC)
		return !again // wait until readable
	})
	if err = cmp.Or(err, rerr); err != nil {
		return 0, nil, err
	}
	if oobn > 0 {
		fds, err = receivedFDs(oob[:oobn])
	}
	return n, fds, err
}

// rawMsg makes one sendmsg or recvmsg system call (sysno) on fd with b and the control bytes
// oob, raw (see read), again when a signal interrupts it. It returns the bytes and control
// bytes moved; again reports that the socket was not ready (EAGAIN). A received message cut
// short is an error wrapping ErrProtocol (its descriptors closed).
func rawMsg(sysno, fd uintptr, b, oob []byte, flags int) (n, oobn int, again bool, err error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := unix.Msghdr{Iov: &iov, Iovlen: 1}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	for {
		r, _, errno := unix.RawSyscall(sysno, fd, uintptr(unsafe.Pointer(&msg)), uintptr(flags))
		switch errno {
		case 0:
			if sysno == unix.SYS_RECVMSG && msg.Flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
				fds, _ := receivedFDs(oob[:msg.Controllen])
				closeFDs(fds)
				return 0, 0, false, fmt.Errorf("control message cut short (flags %#x): %w", msg.Flags, ErrProtocol)
			}
			return int(r), int(msg.Controllen), false, nil
		case unix.EINTR:
		case unix.EAGAIN:
			return 0, 0, true, nil
		default:
			return 0, 0, false, errno
		}
	}
}

// peerGone describes the end of the socket.
func (c *Conn) peerGone(err error) error {
	switch {
	case c.dead.Load():
		return fmt.Errorf("shm: %s closed", c.name)
	case c.peerBye.Load():
		return fmt.Errorf("shm: %s closed the connection", c.peer)
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("shm: %s went away without closing (its process died?)", c.peer)
	default:
		return fmt.Errorf("shm: socket to %s: %w", c.peer, err)
	}
}

// failed makes the error of an operation that found the Conn dead.
func (c *Conn) failed(op string, tag transport.Tag) error {
	return fmt.Errorf("shm: %s %v: %w", op, tag, c.closedErr())
}

// Send copies the message into the ring and returns; it never waits for the peer's Recv. When
// the ring is full it waits for room, and asks the peer to move aside what nobody receives when
// room does not come soon. Messages above MaxMessage fail with transport.ErrTooLarge; on a
// closed connection Send fails with an error wrapping transport.ErrClosed. When ctx ends before
// the message is in the ring, Send returns ctx's error and the message is never received.
func (c *Conn) Send(ctx context.Context, tag transport.Tag, p []byte) error {
	if len(p) > MaxMessage {
		return fmt.Errorf("shm: send %v to %s: %d bytes, limit %d: %w", tag, c.peer, len(p), MaxMessage, transport.ErrTooLarge)
	}
	if !c.acquire() {
		return c.failed("send", tag)
	}
	defer c.release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("shm: send %v to %s: %w", tag, c.peer, err)
	}
	if len(p) <= c.tx.inlineMax {
		_, err := c.sendFrame(ctx, frame{kind: kindWhole, n: len(p), total: len(p), tag: tag}, p)
		return err
	}
	if err := c.lockTx(ctx, tag); err != nil {
		return err
	}
	defer func() { <-c.txLock }()
	return c.sendStream(ctx, tag, p)
}

// lockTx takes txLock for a Send of tag, unless ctx ends or the Conn dies first.
func (c *Conn) lockTx(ctx context.Context, tag transport.Tag) error {
	select {
	case c.txLock <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.txLock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shm: send %v to %s: %w", tag, c.peer, ctx.Err())
	case <-c.done:
		return c.failed("send", tag)
	}
}

// sendFrame writes one frame with payload p once the ring has room, and returns the ring
// position after it.
func (c *Conn) sendFrame(ctx context.Context, f frame, p []byte) (uint64, error) {
	if err := c.lockTx(ctx, f.tag); err != nil {
		return 0, err
	}
	defer func() { <-c.txLock }()
	if err := c.waitRoom(ctx, frameLen(f.n)); err != nil {
		return 0, c.sendErr(ctx, f.tag, err)
	}
	c.tx.publish(c.tx.write(&f, p))
	return c.tx.head, nil
}

// TrySend sends p as Send does when that needs no wait: the message goes in one frame, no
// other Send is writing, and the ring has room for it now. Otherwise it sends nothing and
// returns false (transport.TrySender).
func (c *Conn) TrySend(tag transport.Tag, p []byte) (bool, error) {
	if len(p) > c.tx.inlineMax {
		return false, nil
	}
	if !c.acquire() {
		return false, c.failed("send", tag)
	}
	defer c.release()
	select {
	case c.txLock <- struct{}{}:
	default:
		return false, nil
	}
	defer func() { <-c.txLock }()
	ok, err := c.tx.room(frameLen(len(p)))
	if err != nil || !ok {
		if err != nil {
			err = c.sendErr(context.Background(), tag, err)
		}
		return false, err
	}
	f := frame{kind: kindWhole, n: len(p), total: len(p), tag: tag}
	c.tx.publish(c.tx.write(&f, p))
	return true, nil
}

// sendStream sends a message larger than inlineMax in pieces.
func (c *Conn) sendStream(ctx context.Context, tag transport.Tag, p []byte) error {
	for sent := 0; sent < len(p); {
		if err := ctx.Err(); err != nil && sent > 0 {
			c.cancelStream(tag)
			return c.sendErr(ctx, tag, err)
		}
		n := min(len(p)-sent, c.tx.fragMax)
		f := frame{kind: kindMore, n: n, total: len(p), tag: tag}
		if sent == 0 {
			f.kind = kindFirst
		}
		if err := c.waitRoom(ctx, frameLen(n)); err != nil {
			if sent > 0 {
				c.cancelStream(tag)
			}
			return c.sendErr(ctx, tag, err)
		}
		c.tx.publish(c.tx.write(&f, p[sent:sent+n]))
		sent += n
		if c.pieceHook != nil {
			c.pieceHook()
		}
	}
	return nil
}

// cancelStream abandons a streamed message that was partly sent; ctx has ended, so it waits for
// room for the cancel frame until the Conn dies (the peer always takes the pieces).
func (c *Conn) cancelStream(tag transport.Tag) {
	f := frame{kind: kindCancel, tag: tag}
	if c.waitRoom(context.Background(), frameLen(0)) == nil {
		c.tx.publish(c.tx.write(&f, nil))
	}
}

// sendErr wraps the error of a Send that could not write.
func (c *Conn) sendErr(ctx context.Context, tag transport.Tag, err error) error {
	if errors.Is(err, ErrProtocol) {
		c.fail(fmt.Errorf("shm: ring to %s: %w", c.peer, err))
	}
	if c.dead.Load() {
		return c.failed("send", tag)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("shm: send %v to %s: %w", tag, c.peer, ctx.Err())
	}
	return fmt.Errorf("shm: send %v to %s: %w", tag, c.peer, err)
}

// requestDrain asks the peer to move aside the messages nobody has taken.
func (c *Conn) requestDrain() {
	c.tell(msgDrain)
}

// errDead stands for "the Conn died while waiting"; callers turn it into the Conn's error.
var errDead = errors.New("shm: connection died")
