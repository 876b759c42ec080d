package quic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/chorus-cc/chorus/transport"
)

// Application error codes sent with CONNECTION_CLOSE, and the stream error code of a cancelled
// Send.
const (
	codeClosed       quicgo.ApplicationErrorCode = 0 // Close
	codeBadFrame     quicgo.ApplicationErrorCode = 1 // a malformed or oversized frame header
	codeDuplicateTag quicgo.ApplicationErrorCode = 2 // a message for a tag already pending
	codeCancelled    quicgo.StreamErrorCode      = 1 // a Send's ctx ended while it wrote
)

// pastDeadline is a deadline that has passed: setting it wakes a blocked Write or Read.
var pastDeadline = time.Unix(1, 0)

// Conn is one QUIC connection to a peer. Its methods may be called from many goroutines at once.
type Conn struct {
	qc      *quicgo.Conn
	in      *transport.Mailbox
	name    string // this end, for errors
	remote  string // the peer's address
	release func() // frees what the connection used (a dialer's socket), once it is over

	mu  sync.Mutex
	err error // non-nil once the connection is closed; wraps transport.ErrClosed
}

var _ transport.Conn = (*Conn)(nil)

// newConn starts receiving on qc.
func newConn(qc *quicgo.Conn, name string, release func()) *Conn {
	c := &Conn{
		qc:      qc,
		in:      transport.NewMailbox(0), // every message comes in through DeliverOwned
		name:    name,
		remote:  qc.RemoteAddr().String(),
		release: release,
	}
	go c.acceptStreams()
	return c
}

// String returns the name of this end.
func (c *Conn) String() string { return c.name }

// RemoteAddr returns the peer's UDP address.
func (c *Conn) RemoteAddr() string { return c.remote }

// Send writes one message on a new stream and returns once QUIC has taken all of it; it never
// waits for the peer's receiver (the peer's reader always drains). When ctx ends first, the
// stream is reset, Send returns ctx's error, and the message is never received. Messages above
// MaxFrame fail with transport.ErrTooLarge; on a closed connection Send fails with an error
// wrapping transport.ErrClosed. Send cannot learn in time that the peer already holds a message
// with the same tag: the peer then closes the connection, and both ends fail with an error
// naming the tag (wrapping transport.ErrDuplicateTag on the receiving end).
func (c *Conn) Send(ctx context.Context, tag transport.Tag, p []byte) error {
	if len(p) > MaxFrame {
		return fmt.Errorf("quic: send %v to %s: %d bytes, limit %d: %w", tag, c.remote, len(p), MaxFrame, transport.ErrTooLarge)
	}
	if err := c.closedErr(); err != nil {
		return fmt.Errorf("quic: send %v: %w", tag, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("quic: send %v to %s: %w", tag, c.remote, err)
	}
	s, err := c.qc.OpenUniStreamSync(ctx)
	if err != nil {
		return c.sendErr(ctx, tag, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.SetWriteDeadline(pastDeadline) })
	var b [headerLen]byte
	encodeHeader(b[:], hdr{kind: kindData, tag: tag, length: uint32(len(p))})
	_, err = s.Write(b[:])
	if err == nil && len(p) > 0 {
		_, err = s.Write(p)
	}
	stop()
	if err != nil {
		// The frame is incomplete: reset the stream so that the peer drops it.
		s.CancelWrite(codeCancelled)
		return c.sendErr(ctx, tag, err)
	}
	if err := s.Close(); err != nil {
		return c.sendErr(ctx, tag, err)
	}
	return nil
}

// sendErr makes the error of a Send that failed with err.
func (c *Conn) sendErr(ctx context.Context, tag transport.Tag, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("quic: send %v to %s: %w", tag, c.remote, ctx.Err())
	}
	if cerr := c.closedErr(); cerr != nil {
		return fmt.Errorf("quic: send %v: %w", tag, cerr)
	}
	if c.qc.Context().Err() != nil {
		return fmt.Errorf("quic: send %v: %w: %w", tag, transport.ErrClosed, c.connClosed(context.Cause(c.qc.Context())))
	}
	return fmt.Errorf("quic: send %v to %s: %w", tag, c.remote, err)
}

// Recv waits for the message with the tag and calls fn with its bytes, once; fn's error is
// Recv's error. fn may run in the connection's reader goroutine; it must not keep p, block or
// panic. When ctx ends first, Recv returns ctx's error and the message stays for a later Recv.
// On a closed connection Recv fails with an error wrapping transport.ErrClosed.
func (c *Conn) Recv(ctx context.Context, tag transport.Tag, fn func(p []byte) error) error {
	return c.in.Recv(ctx, tag, fn)
}

// Close closes the connection: the peer is told (CONNECTION_CLOSE), and pending and later calls
// on both ends fail with errors wrapping transport.ErrClosed. Messages received but not taken
// by a Recv are dropped. Close always returns nil.
func (c *Conn) Close() error {
	c.fail(fmt.Errorf("quic: %s closed locally", c.name), codeClosed, "closed")
	return nil
}

// closedErr returns the error of a closed connection, or nil.
func (c *Conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail closes the connection for cause (the first cause wins), failing pending and later calls,
// and closes the QUIC connection with code and reason.
func (c *Conn) fail(cause error, code quicgo.ApplicationErrorCode, reason string) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = fmt.Errorf("%w: %w", transport.ErrClosed, cause)
	c.mu.Unlock()
	c.in.Close(cause)
	_ = c.qc.CloseWithError(code, reason)
}

// connClosed describes why quic-go closed the connection.
func (c *Conn) connClosed(err error) error {
	var app *quicgo.ApplicationError
	var idle *quicgo.IdleTimeoutError
	switch {
	case errors.As(err, &app) && app.Remote:
		return fmt.Errorf("quic: peer %s closed: %w", c.remote, err)
	case errors.As(err, &idle):
		return fmt.Errorf("quic: peer %s silent for the idle timeout: %w", c.remote, err)
	default:
		return fmt.Errorf("quic: connection to %s closed: %w", c.remote, err)
	}
}

// acceptStreams starts a reader for each stream the peer opens, until the connection ends; it
// then fails the Conn and releases what it used.
func (c *Conn) acceptStreams() {
	defer c.release()
	for {
		s, err := c.qc.AcceptUniStream(context.Background())
		if err != nil {
			c.fail(c.connClosed(err), codeClosed, "closed")
			// quic-go fails the streams before it sends CONNECTION_CLOSE: wait until it is
			// sent before the socket may go.
			<-c.qc.Context().Done()
			return
		}
		go c.readStream(s)
	}
}

// readStream reads frames from s until its end and delivers them. A reset stream (a cancelled
// Send) drops its partial frame; a bad header closes the connection.
func (c *Conn) readStream(s *quicgo.ReceiveStream) {
	b := make([]byte, headerLen)
	for {
		n, err := readFull(s, b)
		if err != nil {
			if n > 0 || !errors.Is(err, io.EOF) {
				c.streamFailed(err)
			}
			return
		}
		h, err := decodeHeader(b)
		if err == nil && h.kind != kindData {
			err = fmt.Errorf("quic: frame of kind %d on a data stream: %w", h.kind, errBadFrame)
		}
		if err != nil {
			c.fail(fmt.Errorf("quic: bad frame from %s: %w", c.remote, err), codeBadFrame, err.Error())
			return
		}
		var p []byte
		if h.length > 0 {
			p = getPayload(int(h.length))
			if _, err := readFull(s, p); err != nil {
				putPayload(p)
				c.streamFailed(err)
				return
			}
		}
		if err := c.in.DeliverOwned(h.tag, p, putPayload); err != nil {
			if errors.Is(err, transport.ErrDuplicateTag) {
				c.fail(fmt.Errorf("quic: from %s: %w", c.remote, err), codeDuplicateTag, err.Error())
			}
			return
		}
	}
}

// streamFailed handles a read error in the middle of a frame: a stream reset by its sender is
// a cancelled Send, dropped; a connection error is handled by acceptStreams.
func (c *Conn) streamFailed(err error) {
	var se *quicgo.StreamError
	if errors.As(err, &se) {
		return
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The peer ended a stream in the middle of a frame: not something a Chorus sender does.
		c.fail(fmt.Errorf("quic: truncated frame from %s: %w", c.remote, errBadFrame), codeBadFrame, "truncated frame")
	}
}

// readFull is io.ReadFull without the interface conversion's allocation on every call.
func readFull(s *quicgo.ReceiveStream, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := s.Read(b[n:])
		n += m
		if err != nil {
			if n == len(b) {
				return n, nil
			}
			if errors.Is(err, io.EOF) && n > 0 {
				return n, io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}
