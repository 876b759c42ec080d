// Package transporttest is the conformance suite that every transport backend passes. A backend's
// test calls Run with a function that makes connected pairs:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) (a, b transport.Conn) {
//			a, b := inproc.Pair()
//			return a, b
//		})
//	}
//
// or RunBackend, which also tests Listen and Dial and the rendezvous behaviour of Send.
package transporttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

// Backend describes a transport under test.
type Backend struct {
	// Pair returns the two ends of a new connection. It is required. The suite closes both ends
	// when the test ends.
	Pair func(t *testing.T) (a, b transport.Conn)
	// Transport returns a transport on which Listen(ctx, "") and then Dial of the listener's
	// Addr connect. Nil skips the listener tests.
	Transport func(t *testing.T) transport.Transport
	// RendezvousSize is a message size at which Send waits until the peer's receiver has taken
	// the message. Zero means the backend may buffer a message of any size; the tests that need
	// Send to wait then accept either outcome.
	RendezvousSize int
}

// Run runs the conformance suite over the connections that mk makes.
func Run(t *testing.T, mk func(t *testing.T) (a, b transport.Conn)) {
	t.Helper()
	RunBackend(t, Backend{Pair: mk})
}

// RunBackend runs the conformance suite over b.
func RunBackend(t *testing.T, b Backend) {
	t.Helper()
	require.NotNil(t, b.Pair, "transporttest: Backend.Pair is required")
	s := &suite{Backend: b}
	t.Run("TagMatching", s.testTagMatching)
	t.Run("TagFields", s.testTagFields)
	t.Run("SmallDoesNotWait", s.testSmallDoesNotWait)
	t.Run("Large", s.testLarge)
	t.Run("ZeroLength", s.testZeroLength)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("FnError", s.testFnError)
	t.Run("DuplicateRecv", s.testDuplicateRecv)
	t.Run("RecvCancel", s.testRecvCancel)
	t.Run("SendCancel", s.testSendCancel)
	t.Run("Close", s.testClose)
	t.Run("Listener", s.testListener)
}

type suite struct {
	Backend
}

// watchdog bounds every call of the suite, so that a broken backend fails a test instead of
// hanging it. Nothing waits for it: it only turns a hang into an error.
const watchdog = 2 * time.Minute

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), watchdog)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) pair(t *testing.T) (a, b transport.Conn) {
	t.Helper()
	a, b = s.Pair(t)
	require.NotNil(t, a)
	require.NotNil(t, b)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// payload returns n bytes that depend on seed only.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x636f6e666f726d))
	p := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.Uint64())
	}
	return p[:n:n]
}

// recvWant receives tag on c and checks that the message is want and that fn ran once.
func recvWant(ctx context.Context, c transport.Conn, tag transport.Tag, want []byte) error {
	calls := 0
	err := c.Recv(ctx, tag, func(p []byte) error {
		calls++
		return sameBytes(p, want)
	})
	if err != nil {
		return fmt.Errorf("recv %v: %w", tag, err)
	}
	if calls != 1 {
		return fmt.Errorf("recv %v: fn ran %d times, want once", tag, calls)
	}
	return nil
}

func sameBytes(got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d bytes, want %d", len(got), len(want))
	}
	if i := firstDiff(got, want); i >= 0 {
		return fmt.Errorf("byte %d of %d is %#x, want %#x", i, len(want), got[i], want[i])
	}
	return nil
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// async runs f in a goroutine and returns where its error arrives.
func async(f func() error) <-chan error {
	out := make(chan error, 1)
	go func() { out <- f() }()
	return out
}

// wait collects n errors from errs and fails the test on any of them.
func wait(t *testing.T, errs <-chan error, n int) {
	t.Helper()
	for range n {
		require.NoError(t, <-errs)
	}
}

func tagOf(stream, i int) transport.Tag {
	return transport.Tag{Comm: 0xc0ffee, Epoch: 1, Seq: uint64(stream), Step: uint32(i), Check: 0xfeed}
}

// testTagMatching sends messages in one order and receives them in another: a receiver gets the
// message with its tag, whatever the order of arrival.
func (s *suite) testTagMatching(t *testing.T) {
	sizes := map[string]int{"eager": 100, "rendezvous": 256 << 10}
	if s.RendezvousSize > 0 {
		sizes["rendezvous"] = s.RendezvousSize
	}
	for _, name := range []string{"eager", "rendezvous"} {
		t.Run(name, func(t *testing.T) {
			const n = 16
			ctx := testContext(t)
			a, b := s.pair(t)
			r := rand.New(rand.NewPCG(uint64(len(name)), 7))
			for dir, conns := range [][2]transport.Conn{{a, b}, {b, a}} {
				from, to := conns[0], conns[1]
				msgs := make([][]byte, n)
				for i := range msgs {
					msgs[i] = payload(uint64(dir*n+i), sizes[name]+i)
				}
				sendOrder, recvOrder := r.Perm(n), r.Perm(n)
				errs := make(chan error, 2*n)
				if name == "eager" {
					// Small messages are sent one after the other, before any receiver.
					go func() {
						for _, i := range sendOrder {
							errs <- from.Send(ctx, tagOf(dir, i), msgs[i])
						}
					}()
				} else {
					// A large Send may wait for its receiver: one goroutine each.
					for _, i := range sendOrder {
						go func() { errs <- from.Send(ctx, tagOf(dir, i), msgs[i]) }()
					}
				}
				for _, i := range recvOrder {
					require.NoError(t, recvWant(ctx, to, tagOf(dir, i), msgs[i]), "direction %d", dir)
				}
				wait(t, errs, n)
			}
		})
	}
}

// testSmallDoesNotWait sends messages of up to transport.SmallMessage bytes from the test's own
// goroutine before any receiver exists: each Send must return without a receiver (a backend that
// waited would hang here until the suite's watchdog fails the test), and each message must then
// be received intact.
func (s *suite) testSmallDoesNotWait(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	sizes := []int{0, 1, 100, transport.SmallMessage}
	for i, n := range sizes {
		require.NoError(t, a.Send(ctx, tagOf(9, i), payload(uint64(i), n)), "size %d", n)
	}
	for i, n := range sizes {
		require.NoError(t, recvWant(ctx, b, tagOf(9, i), payload(uint64(i), n)), "size %d", n)
	}
}

// testTagFields checks that tags which differ in any one field are different tags.
func (s *suite) testTagFields(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	base := transport.Tag{Comm: 1, Seq: 1, Check: 1, Epoch: 1, Step: 1, Chunk: 1}
	tags := []transport.Tag{base}
	for _, set := range []func(*transport.Tag){
		func(tg *transport.Tag) { tg.Comm = 2 },
		func(tg *transport.Tag) { tg.Seq = 2 },
		func(tg *transport.Tag) { tg.Check = 2 },
		func(tg *transport.Tag) { tg.Epoch = 2 },
		func(tg *transport.Tag) { tg.Step = 2 },
		func(tg *transport.Tag) { tg.Chunk = 2 },
	} {
		tg := base
		set(&tg)
		tags = append(tags, tg)
	}
	errs := make(chan error, len(tags))
	go func() {
		for i, tg := range tags {
			errs <- a.Send(ctx, tg, []byte{byte(i)})
		}
	}()
	for i := len(tags) - 1; i >= 0; i-- {
		require.NoError(t, recvWant(ctx, b, tags[i], []byte{byte(i)}))
	}
	wait(t, errs, len(tags))
}

// testLarge moves 16 MiB messages, receiver first and sender first.
func (s *suite) testLarge(t *testing.T) {
	const n = 16 << 20
	ctx := testContext(t)
	a, b := s.pair(t)
	msg := payload(16, n)
	t.Run("receiver first", func(t *testing.T) {
		got := async(func() error { return recvWant(ctx, b, tagOf(1, 1), msg) })
		require.NoError(t, a.Send(ctx, tagOf(1, 1), msg))
		require.NoError(t, <-got)
	})
	t.Run("sender first", func(t *testing.T) {
		sent := async(func() error { return b.Send(ctx, tagOf(1, 2), msg) })
		require.NoError(t, recvWant(ctx, a, tagOf(1, 2), msg))
		require.NoError(t, <-sent)
	})
}

// testZeroLength sends empty messages, nil and not, receiver first and sender first.
func (s *suite) testZeroLength(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	got := async(func() error { return recvWant(ctx, b, tagOf(2, 0), nil) })
	require.NoError(t, a.Send(ctx, tagOf(2, 0), nil))
	require.NoError(t, <-got)

	require.NoError(t, a.Send(ctx, tagOf(2, 1), []byte{}))
	require.NoError(t, recvWant(ctx, b, tagOf(2, 1), nil))

	sent := async(func() error { return b.Send(ctx, tagOf(2, 2), make([]byte, 0, 10)) })
	require.NoError(t, recvWant(ctx, a, tagOf(2, 2), nil))
	require.NoError(t, <-sent)
}

// testConcurrent runs many streams at once in both directions: each has a sending and a
// receiving goroutine, and the message sizes span eager and rendezvous.
func (s *suite) testConcurrent(t *testing.T) {
	const streams, perStream = 8, 32
	ctx := testContext(t)
	a, b := s.pair(t)
	sizes := []int{0, 1, 100, 4 << 10, 64<<10 + 1, 256 << 10}
	if s.RendezvousSize > 0 {
		sizes = append(sizes, s.RendezvousSize)
	}
	r := rand.New(rand.NewPCG(3, 3))
	msgs := make([][][]byte, 2*streams)
	for k := range msgs {
		msgs[k] = make([][]byte, perStream)
		for i := range msgs[k] {
			msgs[k][i] = payload(uint64(k*perStream+i), sizes[r.IntN(len(sizes))])
		}
	}
	errs := make(chan error, 4*streams)
	var wg sync.WaitGroup
	for k := range 2 * streams {
		from, to := a, b
		if k%2 == 1 {
			from, to = b, a
		}
		wg.Go(func() {
			for i, m := range msgs[k] {
				if err := from.Send(ctx, tagOf(k, i), m); err != nil {
					errs <- fmt.Errorf("stream %d: send %d: %w", k, i, err)
					return
				}
			}
		})
		wg.Go(func() {
			for i, m := range msgs[k] {
				if err := recvWant(ctx, to, tagOf(k, i), m); err != nil {
					errs <- fmt.Errorf("stream %d: %w", k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// testFnError checks that fn's error is Recv's error, message first and receiver first.
func (s *suite) testFnError(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	refused := errors.New("transporttest: receiver refuses the message")
	refuse := func([]byte) error { return refused }
	for i, n := range []int{10, 1 << 20} {
		sent := async(func() error { return a.Send(ctx, tagOf(3, 2*i), make([]byte, n)) })
		require.ErrorIs(t, b.Recv(ctx, tagOf(3, 2*i), refuse), refused, "message first, %d bytes", n)
		require.NoError(t, <-sent, "the sender is done whatever fn returned")

		got := async(func() error { return b.Recv(ctx, tagOf(3, 2*i+1), refuse) })
		require.NoError(t, a.Send(ctx, tagOf(3, 2*i+1), make([]byte, n)))
		require.ErrorIs(t, <-got, refused, "receiver first, %d bytes", n)
	}
}

// testDuplicateRecv starts two Recvs for one tag: the second fails with ErrDuplicateTag at
// once, the first gets the message.
func (s *suite) testDuplicateRecv(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	msg := payload(4, 100)
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- recvWant(ctx, b, tagOf(4, 0), msg) }()
	}
	require.ErrorIs(t, <-results, transport.ErrDuplicateTag, "with no message sent, only the duplicate returns")
	require.NoError(t, a.Send(ctx, tagOf(4, 0), msg))
	require.NoError(t, <-results)
}

// testRecvCancel checks that a Recv whose ctx is done returns ctx's error without running fn,
// and that the message with its tag is still there for a later Recv.
func (s *suite) testRecvCancel(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	noFn := func([]byte) error { return errors.New("transporttest: fn ran for a cancelled Recv") }

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, b.Recv(cancelled, tagOf(5, 0), noFn), context.Canceled, "ctx done before Recv")

	pending, cancel := context.WithCancel(ctx)
	got := async(func() error { return b.Recv(pending, tagOf(5, 1), noFn) })
	cancel()
	require.ErrorIs(t, <-got, context.Canceled, "ctx done during Recv")

	for i, n := range []int{50, 1 << 20} {
		msg := payload(uint64(i), n)
		sent := async(func() error { return a.Send(ctx, tagOf(5, i), msg) })
		require.NoError(t, recvWant(ctx, b, tagOf(5, i), msg), "the tag of a cancelled Recv is received later")
		require.NoError(t, <-sent)
	}

	// Cancellation races the message: either Recv took it, or it is there for the next Recv.
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 100 {
		msg := payload(uint64(i), []int{10, 1 << 16, 1 << 18}[r.IntN(3)])
		tag := tagOf(6, i)
		rctx, cancel := context.WithCancel(ctx)
		got := async(func() error { return recvWant(rctx, b, tag, msg) })
		sent := async(func() error { return a.Send(ctx, tag, msg) })
		cancel()
		if err := <-got; err != nil {
			require.ErrorIs(t, err, context.Canceled, "iteration %d", i)
			require.NoError(t, recvWant(ctx, b, tag, msg), "iteration %d: the message is lost", i)
		}
		require.NoError(t, <-sent, "iteration %d", i)
	}
}

// testSendCancel checks that a Send whose ctx is done either returns ctx's error, and then its
// message is never received, or returns nil and its message is received. With a RendezvousSize,
// a Send of that size with no receiver must return ctx's error.
func (s *suite) testSendCancel(t *testing.T) {
	ctx := testContext(t)
	a, b := s.pair(t)
	size := s.RendezvousSize
	if size == 0 {
		size = 1 << 20
	}
	replacement := []byte("transporttest: replacement")
	// check learns what became of a Send of msg with tag that returned err.
	check := func(tag transport.Tag, msg []byte, err error) {
		t.Helper()
		if err == nil {
			require.NoError(t, recvWant(ctx, b, tag, msg), "a Send that returned nil is received")
			return
		}
		require.ErrorIs(t, err, context.Canceled)
		// Had the cancelled message been kept, the replacement would be refused as a duplicate,
		// or the receiver would get the cancelled message.
		require.NoError(t, a.Send(ctx, tag, replacement))
		require.NoError(t, recvWant(ctx, b, tag, replacement), "a cancelled message was received")
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	msg := payload(7, size)
	err := a.Send(cancelled, tagOf(7, 0), msg)
	if s.RendezvousSize > 0 {
		require.ErrorIs(t, err, context.Canceled, "ctx done before a rendezvous Send")
	}
	check(tagOf(7, 0), msg, err)

	pending, cancel := context.WithCancel(ctx)
	sent := async(func() error { return a.Send(pending, tagOf(7, 1), msg) })
	cancel()
	err = <-sent
	if s.RendezvousSize > 0 {
		require.ErrorIs(t, err, context.Canceled, "ctx done during a rendezvous Send")
	}
	check(tagOf(7, 1), msg, err)

	// Cancellation races the receiver.
	for i := range 50 {
		tag := tagOf(8, i)
		sctx, cancel := context.WithCancel(ctx)
		sent := async(func() error { return a.Send(sctx, tag, msg) })
		rctx, rcancel := context.WithCancel(ctx)
		got := async(func() error { return recvWant(rctx, b, tag, msg) })
		cancel()
		if err := <-sent; err != nil {
			require.ErrorIs(t, err, context.Canceled, "iteration %d", i)
			rcancel() // the message is gone, the receiver would wait for ever
			require.ErrorIs(t, <-got, context.Canceled, "iteration %d: a cancelled message was received", i)
		} else {
			require.NoError(t, <-got, "iteration %d", i)
		}
		rcancel()
	}
}

// testClose closes one end while calls wait on both: they all fail with ErrClosed, and so do
// later calls.
func (s *suite) testClose(t *testing.T) {
	for _, closer := range []string{"a", "b"} {
		t.Run("closed by "+closer, func(t *testing.T) {
			ctx := testContext(t)
			a, b := s.pair(t)
			noFn := func([]byte) error { return errors.New("transporttest: fn ran on a closed connection") }
			recvA := async(func() error { return a.Recv(ctx, tagOf(9, 0), noFn) })
			recvB := async(func() error { return b.Recv(ctx, tagOf(9, 1), noFn) })
			var sendA, sendB <-chan error
			if s.RendezvousSize > 0 {
				big := payload(9, s.RendezvousSize)
				sendA = async(func() error { return a.Send(ctx, tagOf(9, 2), big) })
				sendB = async(func() error { return b.Send(ctx, tagOf(9, 3), big) })
			}
			if closer == "a" {
				require.NoError(t, a.Close())
			} else {
				require.NoError(t, b.Close())
			}
			require.ErrorIs(t, <-recvA, transport.ErrClosed, "pending Recv on a")
			require.ErrorIs(t, <-recvB, transport.ErrClosed, "pending Recv on b")
			if sendA != nil {
				require.ErrorIs(t, <-sendA, transport.ErrClosed, "pending rendezvous Send on a")
				require.ErrorIs(t, <-sendB, transport.ErrClosed, "pending rendezvous Send on b")
			}
			// Both ends know of the close now: later calls fail at once.
			for name, c := range map[string]transport.Conn{"a": a, "b": b} {
				require.ErrorIs(t, c.Recv(ctx, tagOf(9, 4), noFn), transport.ErrClosed, "later Recv on %s", name)
				require.ErrorIs(t, c.Send(ctx, tagOf(9, 5), []byte("late")), transport.ErrClosed, "later Send on %s", name)
			}
			require.NotPanics(t, func() {
				_ = a.Close()
				_ = b.Close()
			}, "a second Close")
		})
	}
}

// testListener connects through Listen and Dial, exchanges messages both ways, and checks that
// Accept honours ctx and fails with ErrClosed once the listener is closed.
func (s *suite) testListener(t *testing.T) {
	if s.Transport == nil {
		t.Skip("the backend gives no Transport")
	}
	ctx := testContext(t)
	tr := s.Transport(t)
	l, err := tr.Listen(ctx, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	require.NotEmpty(t, l.Addr())

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.Accept(cancelled)
	require.ErrorIs(t, err, context.Canceled, "Accept with ctx done")

	for i := range 3 {
		type dialed struct {
			c   transport.Conn
			err error
		}
		dc := make(chan dialed, 1)
		go func() {
			c, err := tr.Dial(ctx, l.Addr())
			dc <- dialed{c, err}
		}()
		acc, err := l.Accept(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = acc.Close() })
		d := <-dc
		require.NoError(t, d.err)
		t.Cleanup(func() { _ = d.c.Close() })

		for j, n := range []int{10, 1 << 20} {
			msg := payload(uint64(10*i+j), n)
			sent := async(func() error { return d.c.Send(ctx, tagOf(10, j), msg) })
			require.NoError(t, recvWant(ctx, acc, tagOf(10, j), msg), "dialer to acceptor, conn %d", i)
			require.NoError(t, <-sent)
			sent = async(func() error { return acc.Send(ctx, tagOf(11, j), msg) })
			require.NoError(t, recvWant(ctx, d.c, tagOf(11, j), msg), "acceptor to dialer, conn %d", i)
			require.NoError(t, <-sent)
		}
	}

	accepted := async(func() error {
		c, err := l.Accept(ctx)
		if err == nil {
			_ = c.Close()
			return errors.New("transporttest: Accept returned a connection nobody dialled")
		}
		return err
	})
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-accepted, transport.ErrClosed, "pending Accept on a closed listener")
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, transport.ErrClosed, "later Accept on a closed listener")
	c, err := tr.Dial(ctx, l.Addr())
	if err == nil {
		// A backend may connect before it learns that nobody accepts; the connection must not
		// work then.
		t.Cleanup(func() { _ = c.Close() })
		require.Error(t, c.Send(ctx, tagOf(12, 0), make([]byte, 1<<20)), "a connection to a closed listener carried a message")
	}
}
