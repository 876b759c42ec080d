//go:build linux

package shm

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

// benchSizes are the message sizes of BenchmarkThroughput: a small message, the engine's
// chunk, and a message streamed in pieces.
var benchSizes = []int{4 << 10, 256 << 10, 4 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// copyRate measures plain copy() of size bytes from src to dst for about d, in bytes per
// second: the baseline a one-way transfer is compared with.
func copyRate(src, dst []byte, d time.Duration) float64 {
	var n int
	start := time.Now()
	for time.Since(start) < d {
		for range 16 {
			copy(dst, src)
		}
		n += 16 * len(src)
	}
	return float64(n) / time.Since(start).Seconds()
}

// bigSrc and bigDst are for the memory-bound copy baseline: 64 MiB each, far more than the
// caches hold.
var bigSrc, bigDst []byte

// reportVsCopy reports the transfer rate of the benchmark as multiples of copy()'s rate,
// measured now, in the same run. Two baselines: "x-copy" divides by copy() of the same
// message buffers (src to dst, size bytes, which stay in the caches: the fastest a single copy
// of those bytes can be), "x-memcpy" by copy() between two 64 MiB buffers (memory bandwidth).
// 1 means as fast as one copy of the bytes on one core; a one-way transfer makes two (into the
// ring, out of it), on two cores.
func reportVsCopy(b *testing.B, size int, elapsed time.Duration, src, dst []byte) {
	b.Helper()
	if elapsed <= 0 {
		return
	}
	rate := float64(size) * float64(b.N) / elapsed.Seconds()
	base := copyRate(src, dst, 200*time.Millisecond)
	if bigSrc == nil {
		bigSrc, bigDst = make([]byte, 64<<20), make([]byte, 64<<20)
		copy(bigDst, bigSrc) // fault the pages in
	}
	mem := copyRate(bigSrc, bigDst, 200*time.Millisecond)
	b.ReportMetric(rate/base, "x-copy")
	b.ReportMetric(base/1e9, "copy-GB/s")
	b.ReportMetric(rate/mem, "x-memcpy")
	b.ReportMetric(mem/1e9, "memcpy-GB/s")
}

// BenchmarkThroughput moves messages one way over a Pair in this process: one goroutine sends,
// another receives and copies each message out of the ring into its own buffer (as the engine
// does). Beside it, the same run measures copy() of the same bytes (x-copy is the ratio).
func BenchmarkThroughput(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			a, c := testPair(b, Config{})
			benchOneWay(b, size, a, c)
		})
	}
}

// BenchmarkProcThroughput is BenchmarkThroughput with the receiver in another process (this
// test binary, re-executed in child mode "sink"), which is how ranks use the transport.
func BenchmarkProcThroughput(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			_, a, _, _ := listenFor(b, "sink", nil, envSize+"="+strconv.Itoa(size))
			benchOneWay(b, size, a, nil)
		})
	}
}

// BenchmarkProcPingPong is BenchmarkPingPong with the echoing side in another process (child
// mode "echo").
func BenchmarkProcPingPong(b *testing.B) {
	for _, size := range []int{64, 4 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			_, a, _, _ := listenFor(b, "echo", nil)
			benchPingPong(b, size, a, nil, false)
		})
	}
}

// benchOneWay sends b.N messages of size bytes from a to a receiver that copies each out: a
// goroutine here on c, or, with c nil, the peer process. The clock stops when the receiver has
// taken the last message: it answers a final empty message.
func benchOneWay(b *testing.B, size int, a transport.Conn, c transport.Conn) {
	ctx := context.Background()
	src := make([]byte, size)
	dst := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	stopped := make(chan error, 1)
	if c != nil {
		go func() { stopped <- sinkLoop(ctx, c, dst) }()
	} else {
		stopped <- transport.ErrClosed
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var seq uint64
	start := time.Now()
	for b.Loop() {
		if err := a.Send(ctx, transport.Tag{Seq: seq}, src); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	if err := a.Send(ctx, transport.Tag{Seq: seq}, nil); err != nil {
		b.Fatal(err)
	}
	if err := a.Recv(ctx, transport.Tag{Seq: seq, Step: 1}, func([]byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	require.NoError(b, a.Close())
	require.ErrorIs(b, <-stopped, transport.ErrClosed)
	reportVsCopy(b, size, elapsed, src, dst)
	if s, ok := a.(*Conn); ok {
		b.ReportMetric(float64(s.Stats().SendSleeps)/float64(b.N), "sleeps/op")
	}
	if s, ok := c.(*Conn); ok {
		st := s.Stats()
		b.ReportMetric(float64(st.MovedAside+st.Assembled)/float64(st.InPlace+st.MovedAside+st.Assembled), "copied-twice")
	}
}

// sinkLoop receives messages Seq 0, 1, ... on c, copying each into dst, and answers an empty
// message with an empty one (Step 1), until c fails.
func sinkLoop(ctx context.Context, c transport.Conn, dst []byte) error {
	var n int
	fn := func(p []byte) error {
		n = copy(dst, p)
		return nil
	}
	for i := uint64(0); ; i++ {
		if err := c.Recv(ctx, transport.Tag{Seq: i}, fn); err != nil {
			return err
		}
		if n == 0 {
			if err := c.Send(ctx, transport.Tag{Seq: i, Step: 1}, nil); err != nil {
				return err
			}
		}
	}
}

// BenchmarkPingPong measures a round trip between two goroutines of this process: a sends,
// b receives and sends back, a receives.
func BenchmarkPingPong(b *testing.B) {
	for _, size := range []int{64, 4 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			a, c := testPair(b, Config{})
			benchPingPong(b, size, a, c, true)
		})
	}
}

// benchPingPong runs the round trips; with echo, it also starts the echoing side on c.
func benchPingPong(b *testing.B, size int, a, c transport.Conn, echo bool) {
	ctx := context.Background()
	msg := make([]byte, size)
	buf := make([]byte, size)
	fn := func(p []byte) error {
		copy(buf, p)
		return nil
	}
	stopped := make(chan error, 1)
	if echo {
		go func() { stopped <- echoLoop(ctx, c) }()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		if err := a.Send(ctx, transport.Tag{Seq: seq}, msg); err != nil {
			b.Fatal(err)
		}
		if err := a.Recv(ctx, transport.Tag{Seq: seq, Step: 1}, fn); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	b.StopTimer()
	if s, ok := a.(*Conn); ok {
		st := s.Stats()
		b.ReportMetric(float64(st.RecvSleeps)/float64(b.N), "sleeps/op")
	}
	if echo {
		require.NoError(b, a.Close())
		require.ErrorIs(b, <-stopped, transport.ErrClosed)
	}
}

// echoLoop sends back every message it receives (tag Seq i, then Seq i Step 1), until c fails.
func echoLoop(ctx context.Context, c transport.Conn) error {
	var buf []byte
	fn := func(p []byte) error {
		buf = append(buf[:0], p...)
		return nil
	}
	for i := uint64(0); ; i++ {
		if err := c.Recv(ctx, transport.Tag{Seq: i}, fn); err != nil {
			return err
		}
		if err := c.Send(ctx, transport.Tag{Seq: i, Step: 1}, buf); err != nil {
			return err
		}
	}
}

// BenchmarkProcRingSize is BenchmarkProcThroughput for 64 KiB messages with rings of several
// sizes, the measurement behind DefaultRingSize.
func BenchmarkProcRingSize(b *testing.B) {
	const size = 64 << 10
	for _, ring := range []int{256 << 10, 1 << 20, 4 << 20, 16 << 20} {
		b.Run("ring"+sizeName(ring), func(b *testing.B) {
			tr, err := New(Config{Dir: b.TempDir(), RingSize: ring})
			require.NoError(b, err)
			l, err := tr.Listen(b.Context(), "")
			require.NoError(b, err)
			defer l.Close()
			_, err = startChild(b, "sink", l.Addr(), nil, envSize+"="+strconv.Itoa(size))
			require.NoError(b, err)
			c, err := l.Accept(b.Context())
			require.NoError(b, err)
			defer c.Close()
			benchOneWay(b, size, c, nil)
		})
	}
}
