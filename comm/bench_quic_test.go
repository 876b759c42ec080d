package comm_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/internal/exec"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/quic"
)

const quicBenchBytes = 64 << 20

// BenchmarkQUIC compares, in one run, a 2-rank float32 all-reduce of 64 MiB over QUIC with the
// raw limit under it: 64 MiB sent each way at once over one quic-go connection by the same chunked
// sends the engine uses. A 2-rank ring all-reduce moves exactly that (half the buffer each way in
// the reduce-scatter, half in the all-gather), so the ratio of the two times is the engine's
// efficiency over QUIC. Bytes per second count 64 MiB per operation for both.
//
//	go test -run '^$' -bench BenchmarkQUIC -benchtime 5x ./comm/
func BenchmarkQUIC(b *testing.B) {
	b.Run("raw-both-ways", func(b *testing.B) {
		a, c := quicPair(b)
		src := [2][]byte{make([]byte, quicBenchBytes), make([]byte, quicBenchBytes)}
		dst := [2][]byte{make([]byte, quicBenchBytes), make([]byte, quicBenchBytes)}
		conns := [2]transport.Conn{a, c}
		b.SetBytes(quicBenchBytes)
		seq := uint64(0)
		for b.Loop() {
			seq++
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for side := range 2 {
				tag := transport.Tag{Seq: seq, Step: uint32(side)}
				wg.Add(2)
				go func() {
					defer wg.Done()
					errs[2*side] = exec.SendMessage(context.Background(), conns[side], tag, src[side])
				}()
				go func() {
					defer wg.Done()
					errs[2*side+1] = exec.RecvMessage(context.Background(), conns[1-side], tag, dst[1-side])
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(b, err)
			}
		}
	})
	b.Run("allreduce-2ranks", func(b *testing.B) {
		comms := quicGroup(b, 2)
		bufs := []comm.Buffer{comm.Of(make([]float32, quicBenchBytes/4)), comm.Of(make([]float32, quicBenchBytes/4))}
		b.SetBytes(quicBenchBytes)
		b.ReportAllocs()
		for b.Loop() {
			noErrors(b, each(comms, func(c *comm.Comm) error {
				return c.AllReduce(context.Background(), bufs[c.Rank()], bufs[c.Rank()], comm.Sum)
			}))
		}
	})
}

// quicPair returns two connected QUIC conns on loopback.
func quicPair(b *testing.B) (transport.Conn, transport.Conn) {
	b.Helper()
	ia, err := quic.NewIdentity()
	require.NoError(b, err)
	ib, err := quic.NewIdentity()
	require.NoError(b, err)
	allowed := quic.AllowFingerprints(ia.Fingerprint(), ib.Fingerprint())
	ta, err := quic.New(quic.Config{Identity: ia, Allowed: allowed})
	require.NoError(b, err)
	tb, err := quic.New(quic.Config{Identity: ib, Allowed: allowed})
	require.NoError(b, err)
	ln, err := ta.Listen(context.Background(), "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { ln.Close() })
	type res struct {
		c   transport.Conn
		err error
	}
	acc := make(chan res, 1)
	go func() {
		c, err := ln.Accept(context.Background())
		acc <- res{c, err}
	}()
	c2, err := tb.Dial(context.Background(), ln.Addr())
	require.NoError(b, err)
	r := <-acc
	require.NoError(b, r.err)
	b.Cleanup(func() { r.c.Close(); c2.Close() })
	return r.c, c2
}
