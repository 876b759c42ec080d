//go:build linux

package shm

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

// alloc returns n bytes from Alloc, filled from seed, freed when the test ends.
func alloc(t *testing.T, seed uint64, n int) []byte {
	t.Helper()
	b, err := Alloc(n)
	require.NoError(t, err)
	t.Cleanup(func() { _ = Free(b) })
	copy(b, fill(seed, n))
	return b
}

// sameMemory reports whether a and b start at one address.
func sameMemory(a, b []byte) bool { return unsafe.SliceData(a) == unsafe.SliceData(b) }

// TestLend lends messages from Alloc's memory: the receiver's fn gets them where they lie in
// the sender's memory (the peer's own mapping of it: neither in the ring nor at the sender's
// address), Settle returns once they are read, and Settle never returns while a fn still reads.
func TestLend(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	buf := alloc(t, 1, 3<<20) // larger than InlineMax: lent messages are not streamed
	for i, r := range [][2]int{{0, 3 << 20}, {4096 + 3, 1 << 20}, {5, 1}} {
		msg := buf[r[0] : r[0]+r[1]]
		tag := transport.Tag{Seq: uint64(i)}
		mark, ok, err := a.Lend(ctx, tag, msg)
		require.NoError(t, err)
		require.True(t, ok, "Alloc's memory is lendable")
		settled := make(chan error, 1)
		go func() { settled <- a.Settle(ctx, mark) }()
		err = b.Recv(ctx, tag, func(p []byte) error {
			require.Equal(t, msg, p)
			require.False(t, b.in.contains(p), "a lent message is not in the ring")
			require.False(t, sameMemory(p, msg), "the receiver reads through its own mapping")
			select {
			case <-settled:
				t.Error("Settle returned while the receiver was reading")
			default:
			}
			return nil
		})
		require.NoError(t, err)
		require.NoError(t, <-settled)
	}
	require.Equal(t, uint64(3), b.Stats().Lent)
	require.Zero(t, b.Stats().InPlace+b.Stats().MovedAside+b.Stats().Assembled)
}

// TestLendOnlyShared checks what is not lent: memory of Go's heap, an empty message, and memory
// given back with Free; Lend then sends nothing and Send must.
func TestLendOnlyShared(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	_, ok, err := a.Lend(ctx, transport.Tag{}, make([]byte, 4096))
	require.NoError(t, err)
	require.False(t, ok, "Go's heap")
	buf, err := Alloc(8192)
	require.NoError(t, err)
	_, ok, err = a.Lend(ctx, transport.Tag{}, buf[:0])
	require.NoError(t, err)
	require.False(t, ok, "an empty message")
	require.NoError(t, Free(buf))
	_, ok, err = a.Lend(ctx, transport.Tag{}, buf)
	require.NoError(t, err)
	require.False(t, ok, "freed memory")
	require.Error(t, Free(buf), "a second Free")
	require.Error(t, Free(make([]byte, 1)), "Free of Go's memory")
	_, err = Alloc(0)
	require.Error(t, err)
	require.Zero(t, a.tx.head+b.Stats().Lent, "nothing was lent")
}

// TestSettleWithoutReceiver lends a message that nobody receives: Settle asks the peer to move
// it aside and returns, the sender may then overwrite its memory, and the late receiver still
// gets the bytes as they were lent.
func TestSettleWithoutReceiver(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	buf := alloc(t, 2, 1<<20)
	want := fill(2, 1<<20)
	mark, ok, err := a.Lend(ctx, transport.Tag{Seq: 7}, buf)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, a.Settle(ctx, mark))
	copy(buf, fill(3, len(buf)))
	require.False(t, recvCheck(t, b, transport.Tag{Seq: 7}, want))
	require.Equal(t, uint64(1), b.Stats().MovedAside)
	require.Zero(t, b.Stats().Lent)
}

// TestSettleHonoursContext checks that a Settle waiting for a receiver ends with its context.
func TestSettleHonoursContext(t *testing.T) {
	a, _ := testPair(t, Config{})
	a.settleDrain = 1 << 62 // nobody moves the message aside
	buf := alloc(t, 4, 4096)
	mark, ok, err := a.Lend(t.Context(), transport.Tag{}, buf)
	require.NoError(t, err)
	require.True(t, ok)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, a.Settle(ctx, mark), context.Canceled)
}

// TestFreeUnmapsAtPeer checks that the peer maps an allocation once however often it is lent,
// and unmaps it when the sender frees it; the connection keeps working.
func TestFreeUnmapsAtPeer(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	buf, err := Alloc(1 << 16)
	require.NoError(t, err)
	var mark uint64
	for i := range 3 {
		var ok bool
		mark, ok, err = a.Lend(ctx, transport.Tag{Seq: uint64(i)}, buf[i:])
		require.NoError(t, err)
		require.True(t, ok)
		require.False(t, recvCheck(t, b, transport.Tag{Seq: uint64(i)}, buf[i:]))
	}
	require.NoError(t, a.Settle(ctx, mark))
	mapped := func() int {
		b.peerMem.mu.Lock()
		defer b.peerMem.mu.Unlock()
		return len(b.peerMem.m)
	}
	require.Equal(t, 1, mapped())
	require.NoError(t, Free(buf))
	waitFor(t, "the peer to unmap", func() bool { return mapped() == 0 })
	require.NoError(t, a.Send(ctx, transport.Tag{Seq: 9}, []byte("after")))
	require.True(t, recvCheck(t, b, transport.Tag{Seq: 9}, []byte("after")))
}

// TestLentProtocolViolations writes bad lent notices into the ring: the receiving end closes
// the connection with an error wrapping ErrProtocol, and reads nothing outside what was offered.
func TestLentProtocolViolations(t *testing.T) {
	tag := transport.Tag{Seq: 1}
	notice := func(id, off uint64, total int) []byte {
		b := header(frame{kind: kindLent, n: lentNotice, total: total, tag: tag})
		var n [lentNotice]byte
		binary.LittleEndian.PutUint64(n[0:], id)
		binary.LittleEndian.PutUint64(n[8:], off)
		return append(b, n[:]...)
	}
	cases := map[string]func(t *testing.T, a *Conn){
		"memory never offered": func(t *testing.T, a *Conn) { corrupt(a, notice(1<<40, 0, 8), frameLen(lentNotice)) },
		"past the offered memory": func(t *testing.T, a *Conn) {
			buf := alloc(t, 5, 4096)
			r, _ := lendable(buf)
			require.NoError(t, a.offer(t.Context(), r))
			corrupt(a, notice(r.id, 4000, 100), frameLen(lentNotice))
		},
		"notice of the wrong size": func(t *testing.T, a *Conn) {
			corrupt(a, header(frame{kind: kindLent, n: 8, total: 8, tag: tag}), frameLen(8))
		},
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := testPair(t, Config{})
			bad(t, a)
			err := b.Recv(t.Context(), tag, func([]byte) error { return errors.New("fn ran") })
			require.ErrorIs(t, err, ErrProtocol)
			require.ErrorIs(t, err, transport.ErrClosed)
		})
	}
}

// TestSettleMarks settles two lent messages from two goroutines: each Settle returns once the
// receiver has read the messages up to its own mark, woken by the receiver (no drain, no timer:
// the drain delay is out of reach), the one with the lower mark first.
func TestSettleMarks(t *testing.T) {
	ctx := t.Context()
	a, b := testPair(t, Config{})
	a.settleDrain = 1 << 62
	buf := alloc(t, 6, 1<<20)
	var marks [2]uint64
	settled := [2]chan error{make(chan error, 1), make(chan error, 1)}
	for i := range marks {
		var ok bool
		var err error
		marks[i], ok, err = a.Lend(ctx, transport.Tag{Seq: uint64(i)}, buf[i<<19:(i+1)<<19])
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.Less(t, marks[0], marks[1])
	go func() { settled[1] <- a.Settle(ctx, marks[1]) }()
	waitFor(t, "the second settler to sleep", func() bool { return a.Stats().SendSleeps >= 1 })
	go func() { settled[0] <- a.Settle(ctx, marks[0]) }()
	waitFor(t, "the first settler to sleep", func() bool { return a.Stats().SendSleeps >= 2 })
	require.False(t, recvCheck(t, b, transport.Tag{Seq: 0}, buf[:1<<19]))
	require.NoError(t, <-settled[0])
	select {
	case err := <-settled[1]:
		t.Fatalf("the second Settle returned (%v) before its message was read", err)
	default:
	}
	require.False(t, recvCheck(t, b, transport.Tag{Seq: 1}, buf[1<<19:]))
	require.NoError(t, <-settled[1])
	require.Zero(t, b.Stats().MovedAside)
}

// TestLendableLookup allocates many regions and checks which slices are found lendable, and in
// which allocation at what offset: inside ones are, ones past an end or in Go's heap are not,
// and freed ones no longer are.
func TestLendableLookup(t *testing.T) {
	var bufs [][]byte
	for i := range 20 {
		b, err := Alloc(4096*(i%3+1) - i)
		require.NoError(t, err)
		bufs = append(bufs, b)
	}
	check := func(b []byte, live bool) {
		t.Helper()
		r, off := lendable(b)
		if !live {
			require.Nil(t, r)
			return
		}
		require.NotNil(t, r)
		require.Equal(t, uintptr(unsafe.Pointer(&b[0])), r.base+uintptr(off))
		r2, off2 := lendable(b[len(b)-1:])
		require.Same(t, r, r2, "the last byte is in the same allocation")
		require.Equal(t, off+uint64(len(b)-1), off2)
		past := unsafe.Slice(&b[0], len(r.mem)-int(off)+1) // one byte past the mapping
		r3, _ := lendable(past)
		require.Nil(t, r3, "a slice past the allocation's end")
	}
	for _, b := range bufs {
		check(b, true)
		check(b[7:], true)
	}
	r, _ := lendable(make([]byte, 64))
	require.Nil(t, r, "Go's heap")
	for i := 0; i < len(bufs); i += 2 {
		first := bufs[i][:1]
		r, _ := lendable(first)
		require.NoError(t, Free(bufs[i]))
		r2, _ := lendable(first)
		require.NotNil(t, r)
		require.Nil(t, r2, "freed")
	}
	for i := 1; i < len(bufs); i += 2 {
		check(bufs[i], true)
		require.NoError(t, Free(bufs[i]))
	}
}
