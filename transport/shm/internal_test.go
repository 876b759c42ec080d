//go:build linux

package shm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/transport"
)

func testPair(t testing.TB, cfg Config) (a, b *Conn) {
	t.Helper()
	a, b, err := Pair(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

func fill(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// recvCheck receives tag on c, checks the bytes, and reports whether fn saw them in c's ring.
func recvCheck(t *testing.T, c *Conn, tag transport.Tag, want []byte) (inRing bool) {
	t.Helper()
	err := c.Recv(t.Context(), tag, func(p []byte) error {
		inRing = c.in.contains(p)
		if string(p) != string(want) {
			return fmt.Errorf("got %d bytes, want %d (or they differ)", len(p), len(want))
		}
		return nil
	})
	require.NoError(t, err)
	return inRing
}

// TestSingleCopy checks where fn's bytes lie: in the ring for a message received in order,
// sender first or receiver first; in a buffer for a message moved aside because the receiver
// wanted one behind it.
func TestSingleCopy(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	m1, m2, m3 := fill(1, 1000), fill(2, 256<<10), fill(3, 10)

	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 1}, m1))
	require.True(t, recvCheck(t, b, transport.Tag{Seq: 1}, m1), "sender first: read in place")

	got := make(chan bool, 1)
	go func() { got <- recvCheck(t, b, transport.Tag{Seq: 2}, m2) }()
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 2}, m2))
	require.True(t, <-got, "receiver first: read in place")

	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 3}, m3))
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 4}, m1))
	require.True(t, recvCheck(t, b, transport.Tag{Seq: 4}, m1), "the wanted message, once the one before it moved")
	require.False(t, recvCheck(t, b, transport.Tag{Seq: 3}, m3), "the message moved aside")
	st := b.Stats()
	require.Equal(t, [3]uint64{3, 1, 0}, [3]uint64{st.InPlace, st.MovedAside, st.Assembled})
}

// TestIdleReceiverDoesNotCost runs an in-order stream while another receiver waits on the same
// connection for a message that comes last (as the communicator's abort listener does): the
// stream is still read in place, never moved aside, and the idle receiver gets its message.
func TestIdleReceiverDoesNotCost(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{RingSize: MinRingSize})
	// A receiver descheduled for long (on a busy machine) makes the sender ask for room, which
	// moves messages aside on purpose; that is not what this test is about.
	a.drainDelay = time.Hour
	idle := transport.Tag{Seq: 1 << 40}
	idleDone := make(chan error, 1)
	go func() {
		idleDone <- b.Recv(ctx, idle, func(p []byte) error {
			if string(p) != "abort" {
				return fmt.Errorf("idle receiver got %q", p)
			}
			return nil
		})
	}()
	const n = 2000
	msg := fill(4, 8<<10)
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := a.Send(ctx, transport.Tag{Seq: uint64(i)}, msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	outside := 0
	for i := range n {
		if !recvCheck(t, b, transport.Tag{Seq: uint64(i)}, msg) {
			outside++
		}
	}
	require.NoError(t, <-sent)
	// Sent with the stream still in the ring, the idle receiver's message would have the
	// messages before it moved aside, rightly: its receiver waits.
	require.NoError(t, a.Send(ctx, idle, []byte("abort")))
	require.NoError(t, <-idleDone)
	require.Zero(t, outside, "messages of the in-order stream read outside the ring")
	st := b.Stats()
	require.Zero(t, st.MovedAside, "stats %+v", st)
	require.Equal(t, uint64(n+1), st.InPlace)
}

// TestSendsBeyondTheRing sends far more than the ring holds before any receiver exists, small
// and streamed messages: every Send returns (the receiving side moves the messages aside when
// asked), and every message is then received.
func TestSendsBeyondTheRing(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{RingSize: MinRingSize})
	var msgs [][]byte
	for i := range 200 {
		msgs = append(msgs, fill(uint64(i), transport.SmallMessage))
	}
	for i := range 4 {
		msgs = append(msgs, fill(uint64(1000+i), 1<<20))
	}
	for i, m := range msgs {
		require.NoError(t, a.Send(ctx, transport.Tag{Seq: uint64(i)}, m), "send %d", i)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		recvCheck(t, b, transport.Tag{Seq: uint64(i)}, msgs[i])
	}
	st := b.Stats()
	require.Equal(t, uint64(200), st.MovedAside, "stats %+v", st)
	require.Equal(t, uint64(4), st.Assembled, "stats %+v", st)
}

// TestWantedMessageBehindAFullRing fills the ring from one goroutine with messages nobody
// receives yet, while another goroutine sends the message the receiver waits for: it cannot
// enter the ring until the ring is drained, which the sender's request brings about.
func TestWantedMessageBehindAFullRing(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{RingSize: MinRingSize})
	filler := fill(5, 30<<10)
	for i := range 2 {
		require.NoError(t, a.Send(ctx, transport.Tag{Seq: uint64(i)}, filler))
	}
	want := fill(6, 20<<10)
	sent := make(chan error, 1)
	go func() { sent <- a.Send(ctx, transport.Tag{Seq: 99}, want) }()
	recvCheck(t, b, transport.Tag{Seq: 99}, want)
	require.NoError(t, <-sent)
	for i := range 2 {
		recvCheck(t, b, transport.Tag{Seq: uint64(i)}, filler)
	}
}

// TestStreamCancel cancels a streamed Send after some pieces went out: the receiver drops the
// partial message, and the tag can be sent again.
func TestStreamCancel(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{RingSize: MinRingSize})
	msg := fill(7, 1<<20)
	sctx, cancel := context.WithCancel(ctx)
	pieces := 0
	a.pieceHook = func() {
		if pieces++; pieces == 3 {
			cancel()
		}
	}
	require.ErrorIs(t, a.Send(sctx, transport.Tag{Seq: 1}, msg), context.Canceled)
	require.Equal(t, 3, pieces)
	short := fill(8, 100)
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 1}, short))
	recvCheck(t, b, transport.Tag{Seq: 1}, short)
	require.Zero(t, b.Stats().Assembled)
	// A whole streamed message still goes through afterwards.
	go func() { _ = a.Send(ctx, transport.Tag{Seq: 2}, msg) }()
	recvCheck(t, b, transport.Tag{Seq: 2}, msg)
	require.Equal(t, uint64(1), b.Stats().Assembled)
}

// TestSteadyStateAllocs checks that an in-order Send and Recv allocate nothing, for a message
// read in place and for one streamed and assembled.
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers on purpose")
	}
	ctx := context.Background()
	for _, n := range []int{64, 4 << 10, 256 << 10, 3 << 20} {
		a, b := testPair(t, Config{})
		msg := fill(9, n)
		dst := make([]byte, n)
		fn := func(p []byte) error {
			copy(dst, p)
			return nil
		}
		var seq uint64
		allocs := testing.AllocsPerRun(200, func() {
			if err := a.Send(ctx, transport.Tag{Seq: seq}, msg); err != nil {
				panic(err)
			}
			if err := b.Recv(ctx, transport.Tag{Seq: seq}, fn); err != nil {
				panic(err)
			}
			seq++
		})
		require.Zero(t, allocs, "%d-byte messages", n)
	}
}

// corrupt writes raw bytes into a's outgoing ring and publishes them.
func corrupt(a *Conn, raw []byte, publish uint64) {
	off := a.tx.head & a.out.mask
	copy(a.out.data[off:], raw)
	a.tx.publish(publish)
}

func header(f frame) []byte {
	b := make([]byte, frameHeader)
	putFrame(b, &f)
	return b
}

// TestProtocolViolations writes bad frames and counters into the ring: the receiving end
// closes the connection with an error wrapping ErrProtocol (and transport.ErrClosed), and does
// not panic.
func TestProtocolViolations(t *testing.T) {
	tag := transport.Tag{Seq: 1}
	cases := map[string]func(a *Conn){
		"unknown kind":        func(a *Conn) { corrupt(a, header(frame{kind: 9, tag: tag}), frameHeader) },
		"cut header":          func(a *Conn) { corrupt(a, header(frame{kind: kindWhole, tag: tag}), 32) },
		"payload past head":   func(a *Conn) { corrupt(a, header(frame{kind: kindWhole, n: 1000, total: 1000, tag: tag}), 128) },
		"whole total differs": func(a *Conn) { corrupt(a, header(frame{kind: kindWhole, n: 0, total: 5, tag: tag}), 64) },
		"piece without start": func(a *Conn) { corrupt(a, header(frame{kind: kindMore, n: 0, total: 5, tag: tag}), 64) },
		"cancel without start": func(a *Conn) {
			corrupt(a, header(frame{kind: kindCancel, tag: tag}), 64)
		},
		"too large": func(a *Conn) {
			corrupt(a, header(frame{kind: kindFirst, n: 0, total: MaxMessage + 1, tag: tag}), 64)
		},
		"head too far": func(a *Conn) { a.out.ctrl.head.Store(a.out.size + 64) },
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := testPair(t, Config{})
			bad(a)
			err := b.Recv(t.Context(), tag, func([]byte) error { return errors.New("fn ran") })
			require.ErrorIs(t, err, ErrProtocol)
			require.ErrorIs(t, err, transport.ErrClosed)
			require.ErrorIs(t, b.Send(t.Context(), tag, nil), transport.ErrClosed, "the connection is closed")
		})
	}
}

// TestDuplicateMessage sends two messages with one tag before the receiver comes: the second
// cannot be queued beside the first, and the connection fails with ErrDuplicateTag.
func TestDuplicateMessage(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	tag := transport.Tag{Seq: 5}
	require.NoError(t, a.Send(ctx, tag, []byte("one")))
	require.NoError(t, a.Send(ctx, tag, []byte("two")))
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 6}, []byte("after")))
	err := b.Recv(ctx, transport.Tag{Seq: 6}, func([]byte) error { return nil })
	require.ErrorIs(t, err, transport.ErrDuplicateTag)
	require.ErrorIs(t, err, transport.ErrClosed)
}

// TestOpenSegmentChecks hands openSegment memfds that a peer must not send.
func TestOpenSegmentChecks(t *testing.T) {
	const size = MinRingSize
	memfd := func(t *testing.T, bytes int, seal bool) int {
		t.Helper()
		fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fd) })
		require.NoError(t, unix.Ftruncate(fd, int64(bytes)))
		if seal {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
			require.NoError(t, err)
		}
		return fd
	}
	_, err := openSegment(memfd(t, pageSize+size, false), size)
	require.ErrorIs(t, err, ErrProtocol, "not sealed")
	_, err = openSegment(memfd(t, pageSize+size/2, true), size)
	require.ErrorIs(t, err, ErrProtocol, "too small")
	_, err = openSegment(memfd(t, pageSize+size, true), size)
	require.ErrorIs(t, err, ErrProtocol, "no header")
	_, err = openSegment(memfd(t, pageSize+size, true), size+1)
	require.ErrorIs(t, err, ErrProtocol, "bad size")

	seg, fd, err := newSegment(size)
	require.NoError(t, err)
	defer seg.unmap()
	defer unix.Close(fd)
	peer, err := openSegment(fd, size)
	require.NoError(t, err, "a segment made by newSegment")
	// The two views of the data are one memory.
	peer.data[5] = 42
	require.Equal(t, byte(42), seg.data[5])
	require.Equal(t, byte(42), seg.data[size+5])
	peer.unmap()
}

// TestHandshakeWithStranger connects the listener to something that is not a Chorus endpoint,
// and a dialer to a listener that is not one: both fail cleanly, and the listener goes on.
func TestHandshakeWithStranger(t *testing.T) {
	ctx := t.Context()
	tr, err := New(Config{Dir: t.TempDir()})
	require.NoError(t, err)
	l, err := tr.Listen(ctx, "")
	require.NoError(t, err)
	defer l.Close()

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Connect(fd, &unix.SockaddrUnix{Name: l.Addr()}))
	_, err = unix.Write(fd, []byte("hello, I am not a chorus peer at all, no"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, _ := unix.Read(fd, buf) // the listener's hello, then the end
	require.Equal(t, helloLen, n)
	n, _ = unix.Read(fd, buf)
	require.Zero(t, n, "the listener hangs up on a stranger")
	_ = unix.Close(fd)

	// The listener still works.
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := l.Accept(ctx)
		if err == nil {
			_ = c.Close()
		}
	})
	c, err := tr.Dial(ctx, l.Addr())
	require.NoError(t, err)
	_ = c.Close()
	wg.Wait()
}

// FuzzRing feeds arbitrary bytes to the receiving side as ring contents, with every frame
// to be moved aside: it must consume them or report ErrProtocol, never panic or hang.
func FuzzRing(f *testing.F) {
	tag := transport.Tag{Comm: 1, Seq: 2}
	var seed []byte
	seed = append(seed, header(frame{kind: kindWhole, n: 3, total: 3, tag: tag})...)
	seed = append(seed, make([]byte, 64)...)
	f.Add(seed)
	var stream []byte
	stream = append(stream, header(frame{kind: kindFirst, n: 64, total: 100, tag: tag})...)
	stream = append(stream, make([]byte, 64)...)
	stream = append(stream, header(frame{kind: kindMore, n: 36, total: 100, tag: tag})...)
	stream = append(stream, make([]byte, 64)...)
	f.Add(stream)
	f.Add(append(header(frame{kind: kindFirst, n: 0, total: 10, tag: tag}), header(frame{kind: kindCancel, tag: tag})...))
	f.Add([]byte{1, 2, 3})
	// A lent message of 100 bytes at offset 8 of the peer's allocation 1 (mapped below).
	lent := header(frame{kind: kindLent, n: lentNotice, total: 100, tag: tag})
	lent = binary.LittleEndian.AppendUint64(lent, 1)
	lent = binary.LittleEndian.AppendUint64(lent, 8)
	f.Add(append(lent, make([]byte, 64-lentNotice)...))

	seg, fd, err := newSegment(MinRingSize)
	require.NoError(f, err)
	_ = unix.Close(fd)
	f.Cleanup(seg.unmap)
	peerMem, err := Alloc(4096) // stands for the peer's allocation 1
	require.NoError(f, err)
	f.Cleanup(func() { _ = Free(peerMem) })
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > int(seg.size) {
			raw = raw[:seg.size]
		}
		c := &Conn{in: seg, done: make(chan struct{})}
		c.peerMem.m = map[uint64]*peerRegion{1: {mem: peerMem[:4096]}}
		c.rx.init(c, seg)
		defer c.rx.grace.Stop()
		seg.ctrl.tail.Store(0)
		copy(seg.data, raw)
		seg.ctrl.head.Store(uint64(len(raw)))
		c.rx.drainTo = ^uint64(0)
		done, err := c.rx.process(&c.rx.drainer)
		require.False(t, done)
		if err != nil {
			if !errors.Is(err, transport.ErrDuplicateTag) {
				require.ErrorIs(t, err, ErrProtocol)
			}
			return
		}
		require.Equal(t, uint64(len(raw)), c.rx.cons.tail, "everything consumed")
		for _, s := range c.rx.stash {
			putBuf(s.bp)
		}
		c.rx.free()
	})
}

// waitFor polls cond until it holds or the test's context ends.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		require.NoError(t, t.Context().Err(), "waiting for %s", what)
		time.Sleep(100 * time.Microsecond) // polling, bounded by the test's deadline
	}
}

// TestSleepAndWake checks the futex paths: a Recv with nothing to read and a Send with no room
// fall asleep (after spinning), and the other side wakes them; a sleeping Recv also wakes when
// its context ends.
func TestSleepAndWake(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{RingSize: MinRingSize})

	got := make(chan error, 1)
	go func() { got <- b.Recv(ctx, transport.Tag{Seq: 1}, func([]byte) error { return nil }) }()
	waitFor(t, "the receiver to sleep", func() bool { return b.Stats().RecvSleeps > 0 })
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 1}, []byte("wake up")))
	require.NoError(t, <-got)

	rctx, cancel := context.WithCancel(ctx)
	go func() { got <- b.Recv(rctx, transport.Tag{Seq: 2}, func([]byte) error { return nil }) }()
	sleeps := b.Stats().RecvSleeps
	waitFor(t, "the receiver to sleep again", func() bool { return b.Stats().RecvSleeps > sleeps })
	cancel()
	require.ErrorIs(t, <-got, context.Canceled)

	// Fill the ring; the next Send sleeps until the peer makes room (here: drains on request).
	big := fill(10, InlineMax(MinRingSize))
	for i := range 3 { // two fill the ring
		require.NoError(t, a.Send(ctx, transport.Tag{Seq: 3 + uint64(i)}, big))
	}
	require.NotZero(t, a.Stats().SendSleeps, "the third Send waited for room asleep")
	for i := range 3 {
		recvCheck(t, b, transport.Tag{Seq: 5 - uint64(i)}, big)
	}
}

// TestOwnershipMoves has a receiver wait (and sleep) on the ring while another receiver comes:
// the newcomer takes the ring over and reads its message in place; the first one still gets
// its own later.
func TestOwnershipMoves(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	first := make(chan bool, 1)
	go func() { first <- recvCheck(t, b, transport.Tag{Seq: 1}, []byte("first")) }()
	waitFor(t, "the first receiver to sleep", func() bool { return b.Stats().RecvSleeps > 0 })
	second := make(chan bool, 1)
	go func() { second <- recvCheck(t, b, transport.Tag{Seq: 2}, []byte("second")) }()
	waitFor(t, "the second receiver to own the ring", func() bool {
		w := b.rx.ownerPtr.Load()
		return w != nil && w.tag.Seq == 2
	})
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 2}, []byte("second")))
	require.True(t, <-second, "read in place by its own receiver")
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 1}, []byte("first")))
	require.True(t, <-first, "read in place")
	st := b.Stats()
	require.Equal(t, [2]uint64{2, 0}, [2]uint64{st.InPlace, st.MovedAside})
}

// TestSetCrowded checks the waiting policy of each end: polls between yields and looks at the
// clock, how long to poll, and when yields start. Crowded, a waiter yields at every poll from
// the start and polls longer; the other end keeps its own policy.
func TestSetCrowded(t *testing.T) {
	a, b := testPair(t, Config{})
	var _ transport.Crowdable = a
	batch, spin, from := a.spinPolicy()
	require.Equal(t, []any{spinBatch, spinDuration, yieldAfter}, []any{batch, spin, from})
	a.SetCrowded(true)
	batch, spin, from = a.spinPolicy()
	require.Equal(t, []any{1, crowdedSpin, time.Duration(0)}, []any{batch, spin, from})
	batch, _, _ = b.spinPolicy()
	require.Equal(t, spinBatch, batch)
	// A crowded pair still moves messages both ways.
	b.SetCrowded(true)
	msg := fill(9, 100<<10)
	go func() { _ = a.Send(t.Context(), transport.Tag{Seq: 1}, msg) }()
	recvCheck(t, b, transport.Tag{Seq: 1}, msg)
	a.SetCrowded(false)
	batch, _, _ = a.spinPolicy()
	require.Equal(t, spinBatch, batch)
}

// lockedThread runs f on a goroutine locked to its own thread, which is thrown away afterwards
// (the goroutine ends locked), so that affinity changes made by f stay with that thread.
func lockedThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
}

// needTwoCPUs skips a test that moves a thread between CPUs where this one may use only one.
func needTwoCPUs(t *testing.T) {
	var set unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &set))
	if set.Count() < 2 {
		t.Skipf("moving a thread between CPUs needs two CPUs; this test may use %d", set.Count())
	}
}

// TestMoveOff moves a thread off the CPU it runs on, and checks that its affinity is what it
// was; a thread that may use only that CPU stays.
func TestMoveOff(t *testing.T) {
	needTwoCPUs(t)
	lockedThread(func() {
		var was, now unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(0, &was))
		cpu := currentCPU()
		require.GreaterOrEqual(t, cpu, 0)
		require.True(t, moveOff(cpu))
		require.NotEqual(t, cpu, currentCPU())
		require.NoError(t, unix.SchedGetaffinity(0, &now))
		require.Equal(t, was, now, "affinity restored")

		var one unix.CPUSet
		one.Set(currentCPU())
		require.NoError(t, unix.SchedSetaffinity(0, &one))
		require.False(t, moveOff(currentCPU()))
		require.NoError(t, unix.SchedGetaffinity(0, &now))
		require.Equal(t, one, now)
	})
}

// TestUnshare checks who moves when the peer's waiter polls on this end's CPU: exactly one end
// of a pair (the mover), at most once per moveGap, and nobody on a crowded host.
func TestUnshare(t *testing.T) {
	needTwoCPUs(t)
	a, b := testPair(t, Config{})
	require.NotEqual(t, a.mover, b.mover, "one mover per pair")
	m, s := a, b
	if b.mover {
		m, s = b, a
	}
	lockedThread(func() {
		// The other end stays, but publishes its CPU. Pinned, so that the CPU stays put.
		cpu := currentCPU()
		var one unix.CPUSet
		one.Set(cpu)
		require.NoError(t, unix.SchedSetaffinity(0, &one))
		s.in.ctrl.waitCPU.Store(uint32(cpu) + 1)
		require.True(t, s.unshare())
		require.Equal(t, uint32(cpu)+1, s.out.ctrl.waitCPU.Load())
		require.Zero(t, s.Stats().Moves)
	})
	lockedThread(func() {
		// The mover leaves. The kernel may move the thread between the look at its CPU and
		// unshare's own, so try until unshare sees the CPU the peer is said to wait on.
		for i := 0; m.Stats().Moves == 0; i++ {
			require.Less(t, i, 1000, "no move")
			m.lastMove.Store(0)
			cpu := currentCPU()
			m.in.ctrl.waitCPU.Store(uint32(cpu) + 1)
			require.True(t, m.unshare())
			if m.Stats().Moves > 0 {
				require.NotEqual(t, cpu, currentCPU())
				require.NotEqual(t, uint32(cpu)+1, m.out.ctrl.waitCPU.Load(), "publishes where it went")
			}
		}
		// A move just happened: no other one before moveGap.
		m.lastMove.Store(int64(time.Since(epoch) + time.Hour))
		m.in.ctrl.waitCPU.Store(uint32(currentCPU()) + 1)
		require.True(t, m.unshare())
		require.EqualValues(t, 1, m.Stats().Moves)
		// Crowded: ranks must share CPUs, so nobody moves or publishes.
		m.lastMove.Store(0)
		m.out.ctrl.waitCPU.Store(0)
		m.SetCrowded(true)
		require.False(t, m.unshare())
		require.Zero(t, m.out.ctrl.waitCPU.Load())
		require.EqualValues(t, 1, m.Stats().Moves)
	})
}

// TestWaiterWithdrawsCPU checks that a spinning waiter publishes its CPU once it yields, and
// that one asleep on the futex has withdrawn it.
func TestWaiterWithdrawsCPU(t *testing.T) {
	a, b := testPair(t, Config{})
	published := false
	b.pause(1, time.Since(epoch), 0, &published)
	require.True(t, published)
	require.NotZero(t, b.out.ctrl.waitCPU.Load())
	b.unpublish(&published)
	require.Zero(t, b.out.ctrl.waitCPU.Load())

	got := make(chan bool, 1)
	go func() { got <- recvCheck(t, b, transport.Tag{Seq: 1}, []byte("late")) }()
	waitFor(t, "the receiver to sleep", func() bool { return b.Stats().RecvSleeps > 0 })
	require.Zero(t, b.out.ctrl.waitCPU.Load(), "a sleeper polls on no CPU")
	require.NoError(t, a.Send(t.Context(), transport.Tag{Seq: 1}, []byte("late")))
	require.True(t, <-got)
	require.Zero(t, b.out.ctrl.waitCPU.Load())
}

// TestDoorbell checks that a ring wakes every goroutine waiting on the doorbell, and only
// those: a channel taken after the ring waits for the next one.
func TestDoorbell(t *testing.T) {
	var d doorbell
	d.init()
	woken := make(chan int, 3)
	for i := range 3 {
		ch := d.current()
		go func() {
			<-ch
			woken <- i
		}()
	}
	later := d.current()
	d.ring()
	got := map[int]bool{}
	for range 3 {
		got[<-woken] = true
	}
	require.Len(t, got, 3)
	after := d.current()
	select {
	case <-after:
		t.Fatal("a channel taken after the ring is closed already")
	default:
	}
	select {
	case <-later:
	default:
		t.Fatal("a channel taken before the ring is still open")
	}
	d.ring()
	<-after
}
