package comm_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/internal/exec"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport"
)

const (
	benchBytes = 64 << 20
	benchIters = 5
)

// BenchmarkQUICProcesses runs, in one go, three pairs of processes: two that move 64 MiB each way
// at once over one stream of a plain quic-go connection (the limit: no Chorus code on the data
// path), two that do the same through Chorus's QUIC transport in engine-sized chunks, and two
// that all-reduce 64 MiB of float32 over QUIC through the communicator (a 2-rank all-reduce
// moves exactly 64 MiB each way). It reports the median MB/s (one way) of each over 5 timed
// operations (three interleaved rounds) and the ratios to the plain quic-go limit.
//
//	go test -run '^$' -bench BenchmarkQUICProcesses -benchtime 1x ./comm/
func BenchmarkQUICProcesses(b *testing.B) {
	for b.Loop() {
		// The three are interleaved, three rounds of each, so that a change in the machine's
		// load during the run touches all three alike; each reports the median of its timings.
		modes := []string{"bench-quicgo", "bench-raw", "bench-allreduce"}
		ns := map[string][]float64{}
		for range 3 {
			for _, m := range modes {
				ns[m] = append(ns[m], timings(b, m)...)
			}
		}
		limit, raw, ar := medianMBps(ns[modes[0]]), medianMBps(ns[modes[1]]), medianMBps(ns[modes[2]])
		b.ReportMetric(limit, "quicgo-MB/s")
		b.ReportMetric(raw, "transport-MB/s")
		b.ReportMetric(ar, "allreduce-MB/s")
		b.ReportMetric(raw/limit, "transport/quicgo")
		b.ReportMetric(ar/limit, "allreduce/quicgo")
	}
}

// timings runs the child mode as 2 ranks and returns the elapsed nanoseconds they report.
func timings(b *testing.B, mode string) []float64 {
	outs, errs := rankRun{n: 2, mode: mode, env: func(int) []string { return []string{"CHORUS_TRANSPORT=quic"} }}.run(b)
	var ns []float64
	for r := range outs {
		if errs[r] != nil {
			b.Fatalf("%s rank %d: %v: %s", mode, r, errs[r], outs[r])
		}
		for _, line := range strings.Split(outs[r], "\n") {
			if v, ok := strings.CutPrefix(line, "elapsed_ns "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				ns = append(ns, f)
			}
		}
	}
	if len(ns) == 0 {
		b.Fatalf("%s: no timings in %q", mode, outs)
	}
	return ns
}

// medianMBps returns the one-way MB/s of benchBytes moved in the median of ns nanoseconds.
func medianMBps(ns []float64) float64 {
	sort.Float64s(ns)
	return benchBytes / ns[len(ns)/2] * 1e3
}

// benchJob returns a benchmark child's place in the job and the job's store, from the
// environment that the parent set.
func benchJob(ctx context.Context) (rendezvous.Job, rendezvous.Store, error) {
	job, err := rendezvous.FromEnv(os.Getenv)
	if err != nil {
		return job, nil, err
	}
	store, err := rendezvous.Open(ctx, job.URL(), job.Secret)
	return job, store, err
}

// benchRaw is the child of the raw measurement: rank 0 listens, rank 1 dials, and both send
// benchBytes to the other at once, benchIters+1 times (the first is a warm-up).
func benchRaw(ctx context.Context) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	job, store, err := benchJob(ctx)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	tr, err := comm.PinnedQUIC(ctx, store, "raw/key/")
	if err != nil {
		return fail(err)
	}
	var conn transport.Conn
	if job.Rank == 0 {
		ln, err := tr.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		defer ln.Close()
		if err := store.Set(ctx, "raw/addr", []byte(ln.Addr())); err != nil {
			return fail(err)
		}
		conn, err = ln.Accept(ctx)
		if err != nil {
			return fail(err)
		}
	} else {
		addr, err := store.Get(ctx, "raw/addr")
		if err != nil {
			return fail(err)
		}
		if conn, err = tr.Dial(ctx, string(addr)); err != nil {
			return fail(err)
		}
	}
	src, dst := make([]byte, benchBytes), make([]byte, benchBytes)
	for i := 0; i <= benchIters; i++ {
		start := time.Now()
		var wg sync.WaitGroup
		var serr, rerr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			serr = exec.SendMessage(ctx, conn, transport.Tag{Seq: uint64(i), Step: uint32(job.Rank)}, src)
		}()
		go func() {
			defer wg.Done()
			rerr = exec.RecvMessage(ctx, conn, transport.Tag{Seq: uint64(i), Step: uint32(1 - job.Rank)}, dst)
		}()
		wg.Wait()
		if serr != nil || rerr != nil {
			return fail(fmt.Errorf("send: %v, recv: %v", serr, rerr))
		}
		if i > 0 {
			fmt.Printf("elapsed_ns %d\n", time.Since(start).Nanoseconds())
		}
	}
	// Both sides say they are done before closing, so nothing in flight is lost.
	done := transport.Tag{Seq: 1 << 40}
	if err := conn.Send(ctx, done, nil); err != nil {
		return fail(err)
	}
	// The peer may close first, once it has our message: then this Recv fails, which is fine.
	_ = conn.Recv(ctx, done, func([]byte) error { return nil })
	conn.Close()
	return 0
}
