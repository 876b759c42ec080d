package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/faulty"
	"github.com/chorus-cc/chorus/transport/inproc"
	"github.com/chorus-cc/chorus/transport/transporttest"
)

// TestConformance runs the transport suite over inproc wrapped with no faults: the wrapper
// must not change how a connection behaves.
func TestConformance(t *testing.T) {
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			x, y := inproc.Pair()
			return faulty.WrapConn(x, faulty.Config{}), faulty.WrapConn(y, faulty.Config{})
		},
		Transport:      func(t *testing.T) transport.Transport { return faulty.Wrap(inproc.New(), faulty.Config{Seed: 1}) },
		RendezvousSize: inproc.EagerLimit + 1,
	})
}

// TestConformanceDialed runs the suite over connections dialled and accepted through a wrapped
// transport, with faults configured that never trigger (corruption of messages larger than any
// the suite sends).
func TestConformanceDialed(t *testing.T) {
	tr := faulty.Wrap(inproc.New(), faulty.Config{Seed: 3, Corrupt: 1, MinSize: 1 << 30})
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			t.Helper()
			ctx := t.Context()
			l, err := tr.Listen(ctx, "")
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
			a, err = tr.Dial(ctx, l.Addr())
			require.NoError(t, err)
			b, err = l.Accept(ctx)
			require.NoError(t, err)
			return a, b
		},
		RendezvousSize: inproc.EagerLimit + 1,
	})
	require.Zero(t, tr.Stats().Corrupted)
	require.Positive(t, tr.Stats().Received)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func tagOf(i int) transport.Tag {
	return transport.Tag{Comm: 0xabc, Seq: uint64(i / 4), Step: uint32(i % 4), Check: 0x5eed}
}

// payload returns n bytes drawn from seed.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// exchange sends msgs[i] with tagOf(i) from a to b (one at a time, each received before the
// next is sent) and returns what b received.
func exchange(t *testing.T, a, b transport.Conn, msgs [][]byte) [][]byte {
	t.Helper()
	ctx := testCtx(t)
	got := make([][]byte, len(msgs))
	for i, m := range msgs {
		sent := make(chan error, 1)
		go func() { sent <- a.Send(ctx, tagOf(i), m) }()
		require.NoError(t, b.Recv(ctx, tagOf(i), func(p []byte) error {
			got[i] = append([]byte{}, p...)
			return nil
		}), "message %d", i)
		require.NoError(t, <-sent, "message %d", i)
	}
	return got
}

// corruptRun sends n messages of varied sizes through a pair whose receiving end corrupts with
// cfg, and returns the messages, what arrived, and the receiving end's stats.
func corruptRun(t *testing.T, cfg faulty.Config, n int) (sent, got [][]byte, st faulty.Stats) {
	t.Helper()
	x, y := inproc.Pair()
	a, b := faulty.WrapConn(x, faulty.Config{}), faulty.WrapConn(y, cfg)
	t.Cleanup(func() { a.Close(); b.Close() })
	sent = make([][]byte, n)
	for i := range sent {
		sent[i] = payload(uint64(i), []int{0, 1, 16, 100, 4096, 100 << 10}[i%6])
	}
	keep := make([][]byte, n)
	for i := range sent {
		keep[i] = bytes.Clone(sent[i])
	}
	got = exchange(t, a, b, sent)
	for i := range sent {
		require.Equal(t, keep[i], sent[i], "message %d: the sender's buffer changed", i)
	}
	return sent, got, b.Stats()
}

func flippedBits(a, b []byte) int {
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

func TestCorrupt(t *testing.T) {
	const n = 600
	cfg := faulty.Config{Seed: 7, Corrupt: 0.25, Bits: 3}
	sent, got, st := corruptRun(t, cfg, n)
	corrupted := 0
	for i := range sent {
		require.Len(t, got[i], len(sent[i]), "message %d: length changed", i)
		switch d := flippedBits(sent[i], got[i]); d {
		case 0:
		case 3:
			corrupted++
		default:
			if len(sent[i])*8 >= 3 {
				require.Failf(t, "wrong number of bits flipped", "message %d: %d bits, want 3", i, d)
			}
			corrupted++ // a one-byte message has 8 bits: 3 flipped
		}
		if len(sent[i]) == 0 {
			require.Empty(t, got[i], "an empty message cannot be corrupted")
		}
	}
	require.Equal(t, int64(corrupted), st.Corrupted)
	require.Equal(t, int64(n), st.Received)
	// 500 non-empty messages at 1 in 4: the seed fixes the count; it must be near 125.
	require.InDelta(t, 125, corrupted, 40, "corrupted %d of 500", corrupted)
}

func TestCorruptAll(t *testing.T) {
	sent, got, st := corruptRun(t, faulty.Config{Seed: 1, Corrupt: 1}, 60)
	for i := range sent {
		want := 1
		if len(sent[i]) == 0 {
			want = 0
		}
		require.Equal(t, want, flippedBits(sent[i], got[i]), "message %d of %d bytes", i, len(sent[i]))
	}
	require.Equal(t, int64(50), st.Corrupted)
}

func TestCorruptMinSize(t *testing.T) {
	sent, got, st := corruptRun(t, faulty.Config{Seed: 2, Corrupt: 1, MinSize: 4096}, 60)
	for i := range sent {
		if len(sent[i]) >= 4096 {
			require.NotEqual(t, sent[i], got[i], "message %d of %d bytes", i, len(sent[i]))
		} else {
			require.Equal(t, sent[i], got[i], "message %d of %d bytes", i, len(sent[i]))
		}
	}
	require.Equal(t, int64(20), st.Corrupted)
}

func TestCorruptReproducible(t *testing.T) {
	cfg := faulty.Config{Seed: 42, Corrupt: 0.3}
	_, first, st1 := corruptRun(t, cfg, 120)
	_, again, st2 := corruptRun(t, cfg, 120)
	require.Equal(t, first, again, "the same seed must corrupt the same bits")
	require.Equal(t, st1, st2)
	cfg.Seed = 43
	_, other, _ := corruptRun(t, cfg, 120)
	require.NotEqual(t, first, other, "another seed must corrupt other messages")
}

// TestCorruptOrderIndependent receives the same tagged messages in two different orders: each
// message is corrupted alike, since the choice depends on the seed and the tag only.
func TestCorruptOrderIndependent(t *testing.T) {
	const n = 40
	cfg := faulty.Config{Seed: 5, Corrupt: 0.5}
	run := func(order []int) map[int][]byte {
		x, y := inproc.Pair()
		a, b := faulty.WrapConn(x, faulty.Config{}), faulty.WrapConn(y, cfg)
		defer a.Close()
		ctx := testCtx(t)
		for _, i := range order {
			require.NoError(t, a.Send(ctx, tagOf(i), payload(uint64(i), 512)))
		}
		out := map[int][]byte{}
		for _, i := range order {
			require.NoError(t, b.Recv(ctx, tagOf(i), func(p []byte) error {
				out[i] = append([]byte{}, p...)
				return nil
			}))
		}
		return out
	}
	r := rand.New(rand.NewPCG(1, 2))
	first, second := run(r.Perm(n)), run(r.Perm(n))
	require.Equal(t, first, second)
	changed := 0
	for i := range n {
		if !bytes.Equal(first[i], payload(uint64(i), 512)) {
			changed++
		}
	}
	require.Positive(t, changed)
	require.Less(t, changed, n)
}

func TestKillAfter(t *testing.T) {
	ctx := testCtx(t)
	x, y := inproc.Pair()
	a, b := faulty.WrapConn(x, faulty.Config{KillAfter: 5}), faulty.WrapConn(y, faulty.Config{})
	defer b.Close()
	msgs := make([][]byte, 5)
	for i := range msgs {
		msgs[i] = payload(uint64(i), 100)
	}
	got := exchange(t, a, b, msgs)
	require.Equal(t, msgs, got, "the first 5 messages pass")

	pending := make(chan error, 1)
	go func() { pending <- b.Recv(ctx, tagOf(5), func([]byte) error { return nil }) }()
	err := a.Send(ctx, tagOf(5), payload(5, 100))
	require.ErrorIs(t, err, transport.ErrClosed, "the 6th call kills the connection")
	require.ErrorIs(t, <-pending, transport.ErrClosed, "the peer learns of the kill")
	require.ErrorIs(t, a.Send(ctx, tagOf(6), nil), transport.ErrClosed)
	require.ErrorIs(t, b.Send(ctx, tagOf(7), nil), transport.ErrClosed)
	require.Equal(t, int64(1), a.Stats().Killed)
	require.Equal(t, int64(5), a.Stats().Sent)
}

// TestKillAfterCountsRecvs checks that receives count toward KillAfter on the receiving end.
func TestKillAfterCountsRecvs(t *testing.T) {
	ctx := testCtx(t)
	x, y := inproc.Pair()
	a, b := faulty.WrapConn(x, faulty.Config{}), faulty.WrapConn(y, faulty.Config{KillAfter: 3})
	defer a.Close()
	got := exchange(t, a, b, [][]byte{{1}, {2}, {3}})
	require.Equal(t, [][]byte{{1}, {2}, {3}}, got)
	require.NoError(t, a.Send(ctx, tagOf(3), []byte{4}), "a small send is buffered")
	require.ErrorIs(t, b.Recv(ctx, tagOf(3), func([]byte) error { return nil }), transport.ErrClosed)
	require.ErrorIs(t, a.Send(ctx, tagOf(4), []byte{5}), transport.ErrClosed)
}

// TestKillThroughTransport kills connections made by a wrapped transport.
func TestKillThroughTransport(t *testing.T) {
	ctx := testCtx(t)
	tr := faulty.Wrap(inproc.New(), faulty.Config{KillAfter: 2})
	l, err := tr.Listen(ctx, "")
	require.NoError(t, err)
	defer l.Close()
	a, err := tr.Dial(ctx, l.Addr())
	require.NoError(t, err)
	b, err := l.Accept(ctx)
	require.NoError(t, err)
	for i := range 2 {
		require.NoError(t, a.Send(ctx, tagOf(i), []byte{byte(i)}))
	}
	require.ErrorIs(t, a.Send(ctx, tagOf(2), []byte{2}), transport.ErrClosed)
	require.ErrorIs(t, b.Recv(ctx, tagOf(0), func([]byte) error { return nil }), transport.ErrClosed)
	require.Equal(t, int64(1), tr.Stats().Killed)
}

func TestDelay(t *testing.T) {
	ctx := testCtx(t)
	x, y := inproc.Pair()
	a, b := faulty.WrapConn(x, faulty.Config{Delay: time.Microsecond, Jitter: time.Microsecond}), faulty.WrapConn(y, faulty.Config{})
	defer a.Close()
	msgs := [][]byte{{1}, {2, 3}, payload(1, 200<<10)}
	got := exchange(t, a, b, msgs)
	require.Equal(t, msgs, got, "a delayed message arrives intact")
	require.Equal(t, int64(3), a.Stats().Delayed)
	require.Equal(t, int64(3), a.Stats().Sent)

	// A Send whose context ends during the delay fails and its message is never received.
	slow := faulty.WrapConn(x, faulty.Config{Delay: time.Hour})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- slow.Send(cctx, tagOf(9), []byte{9}) }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, a.Send(ctx, tagOf(9), []byte{10}), "the cancelled message did not take the tag")
	require.NoError(t, b.Recv(ctx, tagOf(9), func(p []byte) error {
		if !bytes.Equal(p, []byte{10}) {
			return fmt.Errorf("got %v", p)
		}
		return nil
	}))
}

func TestParse(t *testing.T) {
	for spec, want := range map[string]faulty.Config{
		"":  {},
		" ": {},
		"corrupt=0.01,seed=7,delay=1ms,killafter=100": {Seed: 7, Corrupt: 0.01, Delay: time.Millisecond, KillAfter: 100},
		"Corrupt = 1 , MinSize=64K, bits=4":           {Corrupt: 1, MinSize: 64 << 10, Bits: 4},
		"minsize=2M,jitter=500us,":                    {MinSize: 2 << 20, Jitter: 500 * time.Microsecond},
		"minsize=1GiB,seed=18446744073709551615":      {MinSize: 1 << 30, Seed: 1<<64 - 1},
		"minsize=10kb":                                {MinSize: 10 << 10},
	} {
		got, err := faulty.Parse(spec)
		require.NoError(t, err, "%q", spec)
		require.Equal(t, want, got, "%q", spec)
		again, err := faulty.Parse(got.String())
		require.NoError(t, err, "%q", got.String())
		require.Equal(t, got, again, "String of %q does not parse back", spec)
	}
}

func TestParseErrors(t *testing.T) {
	for spec, msg := range map[string]string{
		"corrupt":               "not key=value",
		"corupt=0.1":            `unknown key "corupt"`,
		"corrupt=2":             "not a probability",
		"corrupt=-0.1":          "not a probability",
		"corrupt=NaN":           "not a probability",
		"corrupt=x":             "not a number",
		"seed=-1":               "not an unsigned integer",
		"delay=5":               "not a non-negative duration",
		"delay=-1ms":            "not a non-negative duration",
		"killafter=1.5":         "not a non-negative integer",
		"minsize=12Q":           "not a size",
		"seed=1,seed=2":         `"seed" given twice`,
		"bits=-3":               "not a non-negative integer",
		"jitter=1ms,jitter=2ms": "given twice",
	} {
		_, err := faulty.Parse(spec)
		require.ErrorIs(t, err, faulty.ErrSpec, "%q", spec)
		require.ErrorContains(t, err, msg, "%q", spec)
	}
}

func TestWrapPanicsOnInvalidConfig(t *testing.T) {
	require.Panics(t, func() { faulty.Wrap(inproc.New(), faulty.Config{Corrupt: 2}) })
	x, _ := inproc.Pair()
	require.Panics(t, func() { faulty.WrapConn(x, faulty.Config{KillAfter: -1}) })
	require.False(t, faulty.Config{Seed: 9}.Enabled())
	require.True(t, faulty.Config{Jitter: 1}.Enabled())
}

func TestErrorsOfWrappedTransportPassThrough(t *testing.T) {
	ctx := testCtx(t)
	tr := faulty.Wrap(inproc.New(), faulty.Config{})
	_, err := tr.Dial(ctx, "nowhere")
	require.True(t, errors.Is(err, inproc.ErrNoListener), "%v", err)
}
