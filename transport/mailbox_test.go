package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const testEager = 1 << 10

// newTestMailbox returns a Mailbox whose pendHook reports each receiver or rendezvous message
// entered into its table on the returned channel.
func newTestMailbox(t *testing.T) (*Mailbox, chan struct{}) {
	t.Helper()
	m := NewMailbox(testEager)
	pending := make(chan struct{}, 64)
	m.pendHook = func() { pending <- struct{}{} }
	t.Cleanup(func() { m.Close(nil) })
	return m, pending
}

func fill(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6d61696c626f78))
	p := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.Uint64())
	}
	return p[:n:n]
}

// recvAsync starts a Recv of tag whose fn copies the message, and returns where its outcome
// arrives.
func recvAsync(ctx context.Context, m *Mailbox, tag Tag) <-chan recvResult {
	out := make(chan recvResult, 1)
	go func() {
		var r recvResult
		r.err = m.Recv(ctx, tag, func(p []byte) error {
			r.calls++
			r.data = bytes.Clone(p)
			return nil
		})
		out <- r
	}()
	return out
}

type recvResult struct {
	data  []byte
	calls int
	err   error
}

func TestMailboxReceiverFirst(t *testing.T) {
	for _, n := range []int{0, 1, testEager, testEager + 1, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m, pending := newTestMailbox(t)
			tag := Tag{Comm: 1, Seq: 2, Step: 3}
			want := fill(uint64(n), n)
			var seen []byte
			fnDone := make(chan struct{})
			errc := make(chan error, 1)
			go func() {
				errc <- m.Recv(context.Background(), tag, func(p []byte) error {
					seen = p
					close(fnDone)
					return nil
				})
			}()
			<-pending
			require.NoError(t, m.Deliver(context.Background(), tag, want))
			<-fnDone
			require.NoError(t, <-errc)
			require.Equal(t, want, seen)
			if n > 0 {
				require.Same(t, &want[0], &seen[0], "a waiting receiver sees the sender's bytes, not a copy")
			}
			require.Zero(t, m.Pending())
		})
	}
}

func TestMailboxEagerCopies(t *testing.T) {
	m, _ := newTestMailbox(t)
	tag := Tag{Seq: 7}
	p := fill(1, testEager)
	want := bytes.Clone(p)
	require.NoError(t, m.Deliver(context.Background(), tag, p), "an eager message is queued without a receiver")
	require.Equal(t, 1, m.Pending())
	clear(p) // the sender reuses its buffer
	r := <-recvAsync(context.Background(), m, tag)
	require.NoError(t, r.err)
	require.Equal(t, 1, r.calls)
	require.Equal(t, want, r.data)
	require.Zero(t, m.Pending())
}

func TestMailboxRendezvous(t *testing.T) {
	m, pending := newTestMailbox(t)
	tag := Tag{Seq: 9}
	p := fill(2, testEager+1)
	errc := make(chan error, 1)
	go func() { errc <- m.Deliver(context.Background(), tag, p) }()
	<-pending
	select {
	case err := <-errc:
		t.Fatalf("a rendezvous Deliver returned before its receiver came: %v", err)
	default:
	}
	var seen []byte
	require.NoError(t, m.Recv(context.Background(), tag, func(q []byte) error {
		seen = q
		return nil
	}))
	require.NoError(t, <-errc)
	require.Same(t, &p[0], &seen[0], "a rendezvous receiver sees the sender's bytes, not a copy")
	require.Zero(t, m.Pending())
}

func TestMailboxOwned(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		m, _ := newTestMailbox(t)
		p := fill(3, 4*testEager) // owned messages are queued whatever their size
		var released [][]byte
		require.NoError(t, m.DeliverOwned(Tag{Seq: 1}, p, func(b []byte) { released = append(released, b) }))
		require.Empty(t, released)
		var seen []byte
		require.NoError(t, m.Recv(context.Background(), Tag{Seq: 1}, func(q []byte) error {
			seen = q
			return nil
		}))
		require.Same(t, &p[0], &seen[0])
		require.Len(t, released, 1)
		require.Same(t, &p[0], &released[0][0])
	})
	t.Run("receiver first", func(t *testing.T) {
		m, pending := newTestMailbox(t)
		p := fill(4, 100)
		res := recvAsync(context.Background(), m, Tag{Seq: 2})
		<-pending
		releases := 0
		require.NoError(t, m.DeliverOwned(Tag{Seq: 2}, p, func([]byte) { releases++ }))
		require.Equal(t, 1, releases)
		r := <-res
		require.NoError(t, r.err)
		require.Equal(t, p, r.data)
	})
	t.Run("nil release", func(t *testing.T) {
		m, _ := newTestMailbox(t)
		require.NoError(t, m.DeliverOwned(Tag{Seq: 3}, []byte("x"), nil))
		r := <-recvAsync(context.Background(), m, Tag{Seq: 3})
		require.NoError(t, r.err)
		require.Equal(t, []byte("x"), r.data)
	})
}

func TestMailboxFnError(t *testing.T) {
	bad := errors.New("receiver refuses")
	refuse := func([]byte) error { return bad }
	for _, n := range []int{10, testEager + 1} {
		t.Run(fmt.Sprintf("message first/%d", n), func(t *testing.T) {
			m, pending := newTestMailbox(t)
			errc := make(chan error, 1)
			go func() { errc <- m.Deliver(context.Background(), Tag{}, make([]byte, n)) }()
			if n > testEager {
				<-pending
			}
			require.Same(t, bad, m.Recv(context.Background(), Tag{}, refuse), "fn's error is Recv's error, as it is")
			require.NoError(t, <-errc, "the sender is done with p whatever fn returned")
		})
		t.Run(fmt.Sprintf("receiver first/%d", n), func(t *testing.T) {
			m, pending := newTestMailbox(t)
			errc := make(chan error, 1)
			go func() { errc <- m.Recv(context.Background(), Tag{}, refuse) }()
			<-pending
			require.NoError(t, m.Deliver(context.Background(), Tag{}, make([]byte, n)))
			require.Same(t, bad, <-errc)
		})
	}
}

func TestMailboxDuplicate(t *testing.T) {
	t.Run("recv", func(t *testing.T) {
		m, pending := newTestMailbox(t)
		res := recvAsync(context.Background(), m, Tag{Seq: 1})
		<-pending
		err := m.Recv(context.Background(), Tag{Seq: 1}, func([]byte) error {
			t.Error("a duplicate receiver's fn ran")
			return nil
		})
		require.ErrorIs(t, err, ErrDuplicateTag)
		require.Equal(t, 1, m.Pending())
		require.NoError(t, m.Deliver(context.Background(), Tag{Seq: 1}, []byte("first")))
		r := <-res
		require.NoError(t, r.err, "the first receiver is untouched by the duplicate")
		require.Equal(t, []byte("first"), r.data)
	})
	t.Run("eager", func(t *testing.T) {
		m, _ := newTestMailbox(t)
		require.NoError(t, m.Deliver(context.Background(), Tag{Seq: 2}, []byte("first")))
		require.ErrorIs(t, m.Deliver(context.Background(), Tag{Seq: 2}, []byte("second")), ErrDuplicateTag)
		released := 0
		require.ErrorIs(t, m.DeliverOwned(Tag{Seq: 2}, []byte("third"), func([]byte) { released++ }), ErrDuplicateTag)
		require.Equal(t, 1, released, "a refused owned buffer is released")
		r := <-recvAsync(context.Background(), m, Tag{Seq: 2})
		require.NoError(t, r.err)
		require.Equal(t, []byte("first"), r.data)
	})
	t.Run("rendezvous", func(t *testing.T) {
		m, pending := newTestMailbox(t)
		big := fill(5, testEager+1)
		errc := make(chan error, 1)
		go func() { errc <- m.Deliver(context.Background(), Tag{Seq: 3}, big) }()
		<-pending
		require.ErrorIs(t, m.Deliver(context.Background(), Tag{Seq: 3}, fill(6, testEager+1)), ErrDuplicateTag)
		require.ErrorIs(t, m.Deliver(context.Background(), Tag{Seq: 3}, []byte("small")), ErrDuplicateTag)
		r := <-recvAsync(context.Background(), m, Tag{Seq: 3})
		require.NoError(t, r.err)
		require.Equal(t, big, r.data)
		require.NoError(t, <-errc)
	})
}

func TestMailboxRecvCancel(t *testing.T) {
	t.Run("pending", func(t *testing.T) {
		m, pending := newTestMailbox(t)
		cause := errors.New("gave up on rank 3")
		ctx, cancel := context.WithCancelCause(context.Background())
		res := recvAsync(ctx, m, Tag{Seq: 1})
		<-pending
		cancel(cause)
		r := <-res
		require.ErrorIs(t, r.err, context.Canceled)
		require.ErrorIs(t, r.err, cause)
		require.Zero(t, r.calls)
		require.Zero(t, m.Pending(), "a cancelled receiver leaves no entry")
		require.NoError(t, m.Deliver(context.Background(), Tag{Seq: 1}, []byte("later")))
		r = <-recvAsync(context.Background(), m, Tag{Seq: 1})
		require.NoError(t, r.err, "the message of a cancelled Recv goes to the next Recv")
		require.Equal(t, []byte("later"), r.data)
	})
	t.Run("already cancelled", func(t *testing.T) {
		m, _ := newTestMailbox(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := <-recvAsync(ctx, m, Tag{Seq: 2})
		require.ErrorIs(t, r.err, context.Canceled)
		require.Zero(t, m.Pending())
	})
	t.Run("message already there", func(t *testing.T) {
		m, _ := newTestMailbox(t)
		require.NoError(t, m.Deliver(context.Background(), Tag{Seq: 3}, []byte("here")))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := <-recvAsync(ctx, m, Tag{Seq: 3})
		require.NoError(t, r.err, "a message that is there is taken whatever ctx says")
		require.Equal(t, []byte("here"), r.data)
	})
}

func TestMailboxDeliverCancel(t *testing.T) {
	m, pending := newTestMailbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Deliver(ctx, Tag{Seq: 1}, fill(7, testEager+1)) }()
	<-pending
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.Zero(t, m.Pending(), "a cancelled rendezvous leaves no entry")
	require.NoError(t, m.Deliver(context.Background(), Tag{Seq: 1}, []byte("replacement")))
	r := <-recvAsync(context.Background(), m, Tag{Seq: 1})
	require.NoError(t, r.err)
	require.Equal(t, []byte("replacement"), r.data, "a message whose Deliver was cancelled is never received")
}

// TestMailboxCancelRace races cancellation with the other side and checks that whatever wins,
// no message is lost or received twice, and no entry is left behind.
func TestMailboxCancelRace(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := NewMailbox(testEager)
	t.Cleanup(func() { m.Close(nil) })
	for i := range 300 {
		tag := Tag{Seq: uint64(i)}
		n := []int{5, testEager + 1}[r.IntN(2)]
		msg := fill(uint64(i), n)
		if r.IntN(2) == 0 {
			// A receiver is cancelled while the message comes.
			ctx, cancel := context.WithCancel(context.Background())
			res := recvAsync(ctx, m, tag)
			sent := make(chan error, 1)
			go func() { sent <- m.Deliver(context.Background(), tag, msg) }()
			cancel()
			got := <-res
			if got.err != nil {
				require.ErrorIs(t, got.err, context.Canceled)
				require.Zero(t, got.calls)
				got = <-recvAsync(context.Background(), m, tag)
			}
			require.NoError(t, got.err)
			require.Equal(t, 1, got.calls)
			require.Equal(t, msg, got.data)
			require.NoError(t, <-sent)
		} else {
			// A rendezvous sender is cancelled while the receiver comes.
			msg = fill(uint64(i), testEager+1)
			ctx, cancel := context.WithCancel(context.Background())
			sent := make(chan error, 1)
			go func() { sent <- m.Deliver(ctx, tag, msg) }()
			rctx, rcancel := context.WithCancel(context.Background())
			res := recvAsync(rctx, m, tag)
			cancel()
			err := <-sent
			if err != nil {
				require.ErrorIs(t, err, context.Canceled)
				rcancel() // the message is gone: the receiver would wait forever
				got := <-res
				require.ErrorIs(t, got.err, context.Canceled, "a cancelled message must not be received")
				require.Zero(t, got.calls)
			} else {
				got := <-res
				require.NoError(t, got.err)
				require.Equal(t, msg, got.data)
				rcancel()
			}
		}
		require.Zero(t, m.Pending(), "iteration %d left an entry", i)
	}
}

func TestMailboxClose(t *testing.T) {
	m, pending := newTestMailbox(t)
	cause := errors.New("peer rank 2 went away")
	res := recvAsync(context.Background(), m, Tag{Seq: 1})
	<-pending
	sent := make(chan error, 1)
	go func() { sent <- m.Deliver(context.Background(), Tag{Seq: 2}, fill(8, testEager+1)) }()
	<-pending
	require.NoError(t, m.Deliver(context.Background(), Tag{Seq: 3}, []byte("queued")))
	released := 0
	require.NoError(t, m.DeliverOwned(Tag{Seq: 4}, []byte("owned"), func([]byte) { released++ }))
	require.Equal(t, 4, m.Pending())

	m.Close(cause)
	r := <-res
	require.ErrorIs(t, r.err, ErrClosed)
	require.ErrorIs(t, r.err, cause)
	require.Zero(t, r.calls)
	err := <-sent
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, cause)
	require.Equal(t, 1, released, "Close releases queued owned buffers")
	require.Zero(t, m.Pending())

	m.Close(errors.New("second close")) // does nothing
	r = <-recvAsync(context.Background(), m, Tag{Seq: 3})
	require.ErrorIs(t, r.err, ErrClosed, "queued messages are dropped by Close")
	require.ErrorIs(t, r.err, cause, "the first Close's cause stays")
	require.ErrorIs(t, m.Deliver(context.Background(), Tag{Seq: 5}, []byte("late")), ErrClosed)
	require.ErrorIs(t, m.Deliver(context.Background(), Tag{Seq: 5}, fill(9, testEager+1)), ErrClosed)
	require.ErrorIs(t, m.DeliverOwned(Tag{Seq: 5}, []byte("late"), func([]byte) { released++ }), ErrClosed)
	require.Equal(t, 2, released)

	m2 := NewMailbox(0)
	m2.Close(nil)
	require.ErrorIs(t, m2.Recv(context.Background(), Tag{}, func([]byte) error { return nil }), ErrClosed)
}

// TestMailboxCloseWhileMatched closes the Mailbox while a matched fn runs: the match finishes.
func TestMailboxCloseWhileMatched(t *testing.T) {
	m, pending := newTestMailbox(t)
	inFn := make(chan struct{})
	letGo := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- m.Recv(context.Background(), Tag{}, func([]byte) error {
			close(inFn)
			<-letGo
			return nil
		})
	}()
	sent := make(chan error, 1)
	go func() {
		<-pending
		sent <- m.Deliver(context.Background(), Tag{}, []byte("x"))
	}()
	<-inFn
	m.Close(errors.New("closing"))
	close(letGo)
	require.NoError(t, <-sent)
	require.NoError(t, <-errc)
}

func TestMailboxTagFields(t *testing.T) {
	m, _ := newTestMailbox(t)
	base := Tag{Comm: 1, Seq: 1, Check: 1, Epoch: 1, Step: 1, Chunk: 1}
	tags := []Tag{base}
	for i := range 6 {
		tg := base
		switch i {
		case 0:
			tg.Comm = 2
		case 1:
			tg.Seq = 2
		case 2:
			tg.Check = 2
		case 3:
			tg.Epoch = 2
		case 4:
			tg.Step = 2
		case 5:
			tg.Chunk = 2
		}
		tags = append(tags, tg)
	}
	for i, tg := range tags {
		require.NoError(t, m.Deliver(context.Background(), tg, []byte{byte(i)}), "tag %v", tg)
	}
	for i := len(tags) - 1; i >= 0; i-- {
		r := <-recvAsync(context.Background(), m, tags[i])
		require.NoError(t, r.err)
		require.Equal(t, []byte{byte(i)}, r.data, "tag %v", tags[i])
	}
}

// TestMailboxConcurrent has many goroutines deliver and receive distinct tags in random order.
func TestMailboxConcurrent(t *testing.T) {
	const workers, perWorker = 16, 32
	m := NewMailbox(testEager)
	t.Cleanup(func() { m.Close(nil) })
	sizes := []int{0, 1, 100, testEager, testEager + 1, 64 << 10}
	size := func(w, i int) int { return sizes[(w*perWorker+i)%len(sizes)] }
	var wg sync.WaitGroup
	errs := make(chan error, workers*(perWorker+1))
	for w := range workers {
		for i := range perWorker {
			// One goroutine per message: a rendezvous Deliver waits for its receiver, and the
			// receivers take the tags in another order.
			wg.Go(func() {
				tag := Tag{Comm: uint64(w), Seq: uint64(i)}
				if err := m.Deliver(context.Background(), tag, fill(uint64(w*perWorker+i), size(w, i))); err != nil {
					errs <- err
				}
			})
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for _, i := range r.Perm(perWorker) {
				tag := Tag{Comm: uint64(w), Seq: uint64(i)}
				want := fill(uint64(w*perWorker+i), size(w, i))
				err := m.Recv(context.Background(), tag, func(p []byte) error {
					if !bytes.Equal(p, want) {
						return fmt.Errorf("tag %v: wrong bytes", tag)
					}
					return nil
				})
				if err != nil {
					errs <- err
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
	require.Zero(t, m.Pending())
}

// raceEnabled reports whether the test binary was built with -race, under which sync.Pool drops
// entries at random and allocation counts mean nothing.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestMailboxAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("sync.Pool drops entries at random under -race")
	}
	ctx := context.Background()
	sink := 0
	fn := func(p []byte) error {
		sink += len(p)
		return nil
	}
	t.Run("receiver first", func(t *testing.T) {
		m, pending := newTestMailbox(t)
		p := make([]byte, 256<<10)
		stopped := make(chan error, 1)
		go func() {
			for i := uint64(0); ; i++ {
				if err := m.Recv(ctx, Tag{Seq: i}, fn); err != nil {
					stopped <- err
					return
				}
			}
		}()
		var seq uint64
		allocs := testing.AllocsPerRun(200, func() {
			<-pending
			if err := m.Deliver(ctx, Tag{Seq: seq}, p); err != nil {
				panic(err)
			}
			seq++
		})
		<-pending
		m.Close(nil)
		require.ErrorIs(t, <-stopped, ErrClosed)
		require.Zero(t, allocs)
	})
	t.Run("rendezvous", func(t *testing.T) {
		m, pending := newTestMailbox(t)
		p := make([]byte, 256<<10)
		stopped := make(chan error, 1)
		go func() {
			for i := uint64(0); ; i++ {
				if err := m.Deliver(ctx, Tag{Seq: i}, p); err != nil {
					stopped <- err
					return
				}
			}
		}()
		var seq uint64
		allocs := testing.AllocsPerRun(200, func() {
			<-pending
			if err := m.Recv(ctx, Tag{Seq: seq}, fn); err != nil {
				panic(err)
			}
			seq++
		})
		<-pending
		m.Close(nil)
		require.ErrorIs(t, <-stopped, ErrClosed)
		require.Zero(t, allocs)
	})
	t.Run("eager", func(t *testing.T) {
		m, _ := newTestMailbox(t)
		p := make([]byte, testEager)
		var seq uint64
		allocs := testing.AllocsPerRun(200, func() {
			for i := range uint64(8) {
				if err := m.Deliver(ctx, Tag{Seq: seq + i}, p); err != nil {
					panic(err)
				}
			}
			for i := range uint64(8) {
				if err := m.Recv(ctx, Tag{Seq: seq + i}, fn); err != nil {
					panic(err)
				}
			}
			seq += 8
		})
		require.Zero(t, allocs)
	})
	require.Positive(t, sink)
}

// BenchmarkMailbox measures one message through a Mailbox with 16 in flight, the receivers
// in one goroutine and the senders in another.
func BenchmarkMailbox(b *testing.B) {
	for _, n := range []int{64, 4 << 10, 256 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			const window = 16
			m := NewMailbox(64 << 10)
			p := make([]byte, n)
			dst := make([]byte, n)
			fn := func(q []byte) error {
				copy(dst, q)
				return nil
			}
			credits := make(chan struct{}, window)
			for range window {
				credits <- struct{}{}
			}
			stopped := make(chan error, 1)
			go func() {
				for i := uint64(0); ; i++ {
					if err := m.Recv(context.Background(), Tag{Seq: i}, fn); err != nil {
						stopped <- err
						return
					}
					credits <- struct{}{}
				}
			}()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				<-credits
				if err := m.Deliver(context.Background(), Tag{Seq: seq}, p); err != nil {
					b.Fatal(err)
				}
				seq++
			}
			m.Close(nil)
			if err := <-stopped; !errors.Is(err, ErrClosed) {
				b.Fatal(err)
			}
		})
	}
}
