package comm_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/chorus-cc/chorus/transport/quic"
)

// benchQUICGo is the child of the baseline measurement: plain quic-go, no Chorus code on the
// data path. Rank 0 listens, rank 1 dials and opens one bidirectional stream, and both write
// benchBytes to the other at once while reading the peer's benchBytes, benchIters+1 times (the
// first is a warm-up). This is what /work/shared/peers' gobench measures with -duplex -streams 1.
func benchQUICGo(ctx context.Context) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	job, store, err := benchJob(ctx)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	id, err := quic.NewIdentity()
	if err != nil {
		return fail(err)
	}
	tc := &tls.Config{
		Certificates:       []tls.Certificate{id.Certificate()},
		NextProtos:         []string{"bench"},
		InsecureSkipVerify: true, // a local baseline; nothing to authenticate
	}
	qconf := &quicgo.Config{MaxIdleTimeout: time.Minute}
	var (
		s  *quicgo.Stream
		qc *quicgo.Conn
	)
	if job.Rank == 0 {
		ln, err := quicgo.ListenAddr("127.0.0.1:0", tc, qconf)
		if err != nil {
			return fail(err)
		}
		defer ln.Close()
		if err := store.Set(ctx, "quicgo/addr", []byte(ln.Addr().String())); err != nil {
			return fail(err)
		}
		if qc, err = ln.Accept(ctx); err != nil {
			return fail(err)
		}
		if s, err = qc.AcceptStream(ctx); err != nil {
			return fail(err)
		}
		var b [1]byte
		if _, err := io.ReadFull(s, b[:]); err != nil {
			return fail(err)
		}
	} else {
		addr, err := store.Get(ctx, "quicgo/addr")
		if err != nil {
			return fail(err)
		}
		if qc, err = quicgo.DialAddr(ctx, string(addr), tc, qconf); err != nil {
			return fail(err)
		}
		if s, err = qc.OpenStreamSync(ctx); err != nil {
			return fail(err)
		}
		if _, err := s.Write([]byte{1}); err != nil {
			return fail(err)
		}
	}
	src, dst := make([]byte, benchBytes), make([]byte, benchBytes)
	for i := 0; i <= benchIters; i++ {
		start := time.Now()
		var wg sync.WaitGroup
		var werr, rerr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, werr = s.Write(src)
		}()
		go func() {
			defer wg.Done()
			_, rerr = io.ReadFull(s, dst)
		}()
		wg.Wait()
		if werr != nil || rerr != nil {
			return fail(fmt.Errorf("write: %v, read: %v", werr, rerr))
		}
		if i > 0 {
			fmt.Printf("elapsed_ns %d\n", time.Since(start).Nanoseconds())
		}
	}
	// A last byte each way, rank 1's first: a rank writes it only after reading everything,
	// and rank 1 closes only after reading rank 0's, so nothing in flight is lost.
	var last [1]byte
	if job.Rank == 1 {
		if _, err := s.Write([]byte{2}); err != nil {
			return fail(err)
		}
		if _, err := io.ReadFull(s, last[:]); err != nil {
			return fail(err)
		}
		_ = qc.CloseWithError(0, "")
	} else {
		if _, err := io.ReadFull(s, last[:]); err != nil {
			return fail(err)
		}
		if _, err := s.Write([]byte{2}); err != nil {
			return fail(err)
		}
		<-qc.Context().Done()
	}
	return 0
}
