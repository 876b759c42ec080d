package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/comm"
)

// Row is one line of the table: one operation, size, element type, reduction op and root, run
// out of place and in place. Every rank gets the same Row: the times are combined over the
// ranks as Options.Aggregate says and the wrong values summed.
type Row struct {
	Collective Collective
	Size       int64 // bytes: the larger of a rank's send and receive buffers
	Count      int   // elements, as the operation counts them (see Shape)
	Type       comm.DType
	Op         comm.Op // zero for operations that do not reduce
	Root       int     // -1 for operations without a root
	Ranks      int
	Algorithm  string // the algorithm that ran; "a/b" when out of place and in place differ
	Transport  string
	OutOfPlace Result
	InPlace    Result
}

// Result is what one place (out of place or in place) of a row measured.
type Result struct {
	// Skipped is set when the place was not run (sendrecv in place); the other fields are zero.
	Skipped bool
	// Time is the time of one iteration in microseconds: the timed iterations' total divided
	// by their number, combined over the ranks.
	Time float64
	// AlgBW and BusBW are the algorithm and bus bandwidths in GB/s (see Bandwidths).
	AlgBW, BusBW float64
	// Wrong is the number of wrong values summed over the ranks, or -1 when not checked.
	Wrong int64
	// P50 and P99 are the median and 99th percentile of one iteration's time in microseconds,
	// and Spread the difference between the slowest and the fastest iteration in percent of
	// the median; each is computed on each rank and combined over the ranks like Time.
	P50, P99, Spread float64
}

// Summary is what a whole run found.
type Summary struct {
	Rows     int     // rows reported
	AvgBusBW float64 // the average of every bus bandwidth reported (out of place and in place)
	Wrong    int64   // wrong values over every row and rank
	Checked  bool    // whether results were checked (Options.Check)
	Notes    []string
}

// Failed reports whether the run found any wrong value.
func (s Summary) Failed() bool { return s.Wrong > 0 }

// Run runs the sweep of opts on c and calls report (when not nil) with each row as soon as it
// is measured. Every rank of c calls Run with the same options, and every rank gets the same
// rows. Run fails with an error wrapping ErrOptions when opts are invalid, and with the
// communicator's error when an operation fails (which aborts the communicator). Wrong values
// are not an error: they are counted in the rows and the Summary.
func Run(ctx context.Context, c *comm.Comm, opts Options, report func(Row)) (Summary, error) {
	sum := Summary{Checked: opts.Check}
	if err := opts.Validate(); err != nil {
		return sum, err
	}
	n := c.Size()
	if opts.Root >= n {
		return sum, fmt.Errorf("%w: root %d is not a rank of %d", ErrOptions, opts.Root, n)
	}
	r := &runner{c: c, opts: &opts}
	if opts.Shared {
		free, err := r.allocShared(opts.MaxBytes)
		if err != nil {
			return sum, err
		}
		defer free()
	}
	type point struct {
		coll Collective
		dt   comm.DType
		op   comm.Op
	}
	var points []point
	for _, coll := range opts.Collectives {
		if coll == SendRecv && n < 2 {
			sum.Notes = append(sum.Notes, "sendrecv skipped: it needs at least 2 ranks")
			continue
		}
		for _, dt := range opts.types() {
			for _, op := range opts.opsFor(coll) {
				points = append(points, point{coll, dt, op})
			}
		}
	}
	sizes := opts.Sizes()
	total := len(points) * len(sizes)
	var busSum float64
	var busN int
	for _, p := range points {
		for _, size := range sizes {
			row, err := r.row(ctx, p.coll, p.dt, p.op, size)
			if err != nil {
				return sum, err
			}
			sum.Rows++
			for _, res := range []Result{row.OutOfPlace, row.InPlace} {
				if res.Skipped {
					continue
				}
				busSum += res.BusBW
				busN++
				sum.Wrong += max(res.Wrong, 0)
			}
			if report != nil {
				report(row)
			}
			if opts.Progress != nil {
				opts.Progress(sum.Rows, total)
			}
		}
	}
	if busN > 0 {
		sum.AvgBusBW = busSum / float64(busN)
	}
	return sum, nil
}

// runner runs the rows of one Run.
type runner struct {
	c          *comm.Comm
	opts       *Options
	send, recv []byte // reused from row to row
	settled    bool   // the first warm-up has run for SettleTime
}

// SettleTime is how long, at least, the warm-up of a run's first row lasts (when there is a
// warm-up). A process's first tens of milliseconds of collectives run several times slower than
// the ones after: on the 2-core development VM, 4 KiB all-reduces between two processes took
// 20 us each for about 30 ms after start, bound to CPUs or not, against 2.8 us afterwards, which
// made the first row of a sweep read 10-12 us.
const SettleTime = 100 * time.Millisecond

// settleBatch is how many calls the settling warm-up makes between checks of the time, which
// the ranks agree on with a small all-reduce so that all make the same number of calls.
const settleBatch = 32

// settle runs the operation of p until SettleTime has passed on every rank, once per run.
func (r *runner) settle(ctx context.Context, coll Collective, op comm.Op, root int, p *place) error {
	if r.settled || r.opts.Warmup == 0 {
		return nil
	}
	r.settled = true
	start := time.Now()
	more := []int32{1}
	for more[0] != 0 {
		for range settleBatch {
			if err := r.call(ctx, coll, op, root, p); err != nil {
				return err
			}
		}
		more[0] = 0
		if time.Since(start) < SettleTime {
			more[0] = 1
		}
		if err := r.c.AllReduce(ctx, comm.Of(more), comm.Of(more), comm.Max); err != nil {
			return err
		}
	}
	return nil
}

// allocShared makes the runner's buffers shared memory of size bytes each (comm.Alloc), which
// no row outgrows, and returns the function that frees them.
func (r *runner) allocShared(size int64) (free func(), err error) {
	n := int(max(size, 1))
	if r.send, err = comm.Alloc[byte](n); err != nil {
		return nil, err
	}
	if r.recv, err = comm.Alloc[byte](n); err != nil {
		_ = comm.Free(r.send)
		return nil, err
	}
	send, recv := r.send, r.recv
	return func() {
		_ = comm.Free(send)
		_ = comm.Free(recv)
		r.send, r.recv = nil, nil
	}, nil
}

// grow returns b with at least n bytes.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// stats is what one place measured on this rank, in the order it travels.
type stats struct {
	time, wrong, p50, p99, spread float64
}

const statsLen = 5

// place is the memory of one place of a row on this rank.
type place struct {
	req       plan.Request
	send      comm.Buffer
	recv      comm.Buffer
	in, out   []byte // the bytes of send and recv
	algorithm string
}

// layout lays out the buffers of a row for this rank, in place or not.
func (r *runner) layout(coll Collective, dt comm.DType, count, root int, inPlace bool) (place, error) {
	me, n, es := r.c.Rank(), r.c.Size(), dt.Size()
	req := plan.Request{Coll: planColl(coll), Ranks: n, Count: count, ElemSize: es, Root: root, InPlace: inPlace}
	inLen, outLen := count, count // sendrecv
	if coll != SendRecv {
		inLen, outLen = req.Sizes(me)
	}
	r.send = grow(r.send, inLen*es)
	r.recv = grow(r.recv, outLen*es)
	p := place{req: req, in: r.send[:inLen*es], out: r.recv[:outLen*es]}
	if inPlace && coll != SendRecv {
		if off, inInOut, ok := req.InPlaceOffset(me); ok {
			if inInOut {
				p.in = p.out[off*es : (off+inLen)*es]
			} else {
				p.out = p.in[off*es : (off+outLen)*es]
			}
		} else {
			p.req.InPlace = false // this rank's buffers do not meet in place
		}
	}
	var err error
	if p.send, err = comm.OfBytes(p.in, dt); err != nil {
		return p, err
	}
	if p.recv, err = comm.OfBytes(p.out, dt); err != nil {
		return p, err
	}
	// The reduction does not change the choice; Sum is valid for every type.
	if p.algorithm, err = r.c.Algorithm(operation(coll, comm.Sum, root, &p)); err != nil {
		return p, err
	}
	return p, nil
}

// operation returns the communicator operation of one call of coll (for sendrecv, its send).
func operation(coll Collective, op comm.Op, root int, p *place) comm.Operation {
	switch coll {
	case AllReduce:
		return comm.AllReduceOp(p.send, p.recv, op)
	case AllGather:
		return comm.AllGatherOp(p.send, p.recv)
	case ReduceScatter:
		return comm.ReduceScatterOp(p.send, p.recv, op)
	case Broadcast:
		return comm.BroadcastOp(p.send, p.recv, root)
	case Reduce:
		return comm.ReduceOp(p.send, p.recv, op, root)
	case AllToAll:
		return comm.AllToAllOp(p.send, p.recv)
	case Gather:
		return comm.GatherOp(p.send, p.recv, root)
	case Scatter:
		return comm.ScatterOp(p.send, p.recv, root)
	}
	return comm.SendOp(p.send, 0)
}

// call runs one iteration of the operation.
func (r *runner) call(ctx context.Context, coll Collective, op comm.Op, root int, p *place) error {
	c := r.c
	switch coll {
	case AllReduce, AllGather, ReduceScatter, Broadcast, Reduce, AllToAll, Gather, Scatter:
		return c.Run(ctx, operation(coll, op, root, p))
	case SendRecv:
		n, me := c.Size(), c.Rank()
		s := c.Start(ctx, comm.SendOp(p.send, (me+1)%n))
		rv := c.Start(ctx, comm.RecvOp(p.recv, (me+n-1)%n))
		return errors.Join(rv.Wait(), s.Wait())
	}
	return fmt.Errorf("%w: unknown collective %d", ErrOptions, coll)
}

// measure runs one place of a row on this rank: warm-up, timed iterations, check.
func (r *runner) measure(ctx context.Context, coll Collective, dt comm.DType, op comm.Op, root int, pat pattern, count int, p *place) (stats, error) {
	o := r.opts
	if err := r.settle(ctx, coll, op, root, p); err != nil {
		return stats{}, err
	}
	for range o.Warmup {
		if err := r.call(ctx, coll, op, root, p); err != nil {
			return stats{}, err
		}
	}
	if err := r.c.Barrier(ctx); err != nil {
		return stats{}, err
	}
	durs := make([]time.Duration, o.Iters)
	start := time.Now()
	for i := range durs {
		t0 := time.Now()
		if err := r.call(ctx, coll, op, root, p); err != nil {
			return stats{}, err
		}
		durs[i] = time.Since(t0)
	}
	elapsed := time.Since(start)
	st := stats{time: float64(elapsed.Nanoseconds()) / 1e3 / float64(o.Iters)}
	slices.Sort(durs)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	st.p50, st.p99 = us(percentile(durs, 50)), us(percentile(durs, 99))
	if st.p50 > 0 {
		st.spread = us(durs[len(durs)-1]-durs[0]) / st.p50 * 100
	}
	if !o.Check {
		st.wrong = -1
		return st, nil
	}
	me := r.c.Rank()
	poison(p.out)
	fill(dt, p.in, func(i int) uint64 { return pat.input(me, i) })
	if err := r.call(ctx, coll, op, root, p); err != nil {
		return stats{}, err
	}
	st.wrong = float64(countWrong(dt, p.out, func(j int) uint64 { return pat.expected(me, root, count, j) }))
	return st, nil
}

// percentile returns the p-th percentile of sorted by the nearest-rank method.
func percentile(sorted []time.Duration, p int) time.Duration {
	k := (p*len(sorted) + 99) / 100
	return sorted[max(k, 1)-1]
}

// row measures one row and combines the ranks' results.
func (r *runner) row(ctx context.Context, coll Collective, dt comm.DType, op comm.Op, size int64) (Row, error) {
	n := r.c.Size()
	count, sz := Shape(coll, size, dt.Size(), n)
	root := 0
	if coll.Rooted() {
		root = r.opts.Root
	}
	row := Row{Collective: coll, Size: sz, Count: count, Type: dt, Op: op, Root: -1, Ranks: n, Transport: r.opts.Transport}
	if coll.Rooted() {
		row.Root = root
	}
	if row.Transport == "" {
		row.Transport = "unknown"
	}
	pat := newPattern(coll, dt, op, n)
	var local [2 * statsLen]float64
	var names []string
	for i, inPlace := range []bool{false, true} {
		where := "out of place"
		if inPlace {
			where = "in place"
		}
		if inPlace && coll == SendRecv {
			continue
		}
		p, err := r.layout(coll, dt, count, root, inPlace)
		if err != nil {
			return row, fmt.Errorf("bench: %s %s %s %s: %w", coll, TypeName(dt), FormatSize(sz), where, err)
		}
		st, err := r.measure(ctx, coll, dt, op, root, pat, count, &p)
		if err != nil {
			return row, fmt.Errorf("bench: %s %s %s %s: %w", coll, TypeName(dt), FormatSize(sz), where, err)
		}
		copy(local[i*statsLen:], []float64{st.time, st.wrong, st.p50, st.p99, st.spread})
		if !slices.Contains(names, p.algorithm) {
			names = append(names, p.algorithm)
		}
	}
	all := make([]float64, len(local)*n)
	if err := r.c.AllGather(ctx, comm.Of(local[:]), comm.Of(all)); err != nil {
		return row, fmt.Errorf("bench: %s %s %s: gathering the results: %w", coll, TypeName(dt), FormatSize(sz), err)
	}
	row.Algorithm = names[0]
	if len(names) > 1 {
		row.Algorithm = names[0] + "/" + names[1]
	}
	row.OutOfPlace = r.combine(coll, sz, all, 0)
	if coll == SendRecv {
		row.InPlace = Result{Skipped: true}
	} else {
		row.InPlace = r.combine(coll, sz, all, 1)
	}
	return row, nil
}

// combine turns the gathered stats of place i of every rank into the row's Result.
func (r *runner) combine(coll Collective, size int64, all []float64, i int) Result {
	n := r.c.Size()
	field := func(f int) []float64 {
		v := make([]float64, n)
		for rank := range n {
			v[rank] = all[rank*2*statsLen+i*statsLen+f]
		}
		return v
	}
	agg := func(v []float64) float64 { return aggregate(r.opts.Aggregate, v) }
	res := Result{Time: agg(field(0)), P50: agg(field(2)), P99: agg(field(3)), Spread: agg(field(4)), Wrong: -1}
	if r.opts.Check {
		res.Wrong = 0
		for _, w := range field(1) {
			res.Wrong += int64(w)
		}
	}
	res.AlgBW, res.BusBW = Bandwidths(coll, size, res.Time/1e6, n)
	return res
}

// aggregate combines the ranks' values of one measure.
func aggregate(a Aggregate, v []float64) float64 {
	switch a {
	case AggAvg:
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	case AggMin:
		return slices.Min(v)
	case AggMax:
		return slices.Max(v)
	}
	return v[0]
}

// RankInfo says where one rank runs.
type RankInfo struct {
	Rank int    `json:"rank"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// CPUs is the rank's CPU affinity in cpulist form ("0-3"), as its communicator's System
	// records it; empty when unknown.
	CPUs string `json:"cpus,omitempty"`
}

// rankInfoLen is the size of one rank's record in Ranks' all-gather: pid, host length, host.
const rankInfoLen = 64

// Ranks returns where every rank of c runs (host name, process id and CPUs), gathered through c.
// Every rank calls it, as a collective.
func Ranks(ctx context.Context, c *comm.Comm) ([]RankInfo, error) {
	host, _ := os.Hostname()
	if len(host) > rankInfoLen-5 {
		host = host[:rankInfoLen-5]
	}
	mine := make([]byte, rankInfoLen)
	pid := os.Getpid()
	mine[0], mine[1], mine[2], mine[3] = byte(pid), byte(pid>>8), byte(pid>>16), byte(pid>>24)
	mine[4] = byte(len(host))
	copy(mine[5:], host)
	all := make([]byte, rankInfoLen*c.Size())
	if err := c.AllGather(ctx, comm.Of(mine), comm.Of(all)); err != nil {
		return nil, fmt.Errorf("bench: gathering the ranks: %w", err)
	}
	out := make([]RankInfo, c.Size())
	for r := range out {
		b := all[r*rankInfoLen : (r+1)*rankInfoLen]
		l := min(int(b[4]), rankInfoLen-5)
		out[r] = RankInfo{
			Rank: r,
			Host: string(b[5 : 5+l]),
			PID:  int(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24),
		}
		if sys := c.System(); sys != nil && r < len(sys.Peers) {
			out[r].CPUs = sys.Peers[r].CPUs.String()
		}
	}
	return out, nil
}

// nan0 maps NaN and infinities to 0, for output.
func nan0(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
