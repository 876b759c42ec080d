package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/bench"
	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/faulty"
	"github.com/chorus-cc/chorus/transport/inproc"
)

func TestBusFactor(t *testing.T) {
	for _, tc := range []struct {
		c    bench.Collective
		n    int
		want float64
	}{
		{bench.AllReduce, 1, 0}, {bench.AllReduce, 2, 1}, {bench.AllReduce, 4, 1.5}, {bench.AllReduce, 8, 1.75},
		{bench.AllGather, 4, 0.75}, {bench.ReduceScatter, 4, 0.75}, {bench.AllToAll, 4, 0.75},
		{bench.Gather, 8, 0.875}, {bench.Scatter, 2, 0.5}, {bench.AllGather, 1, 0},
		{bench.Broadcast, 4, 1}, {bench.Reduce, 8, 1}, {bench.SendRecv, 2, 1}, {bench.Broadcast, 1, 1},
		{bench.AllReduce, 0, 0},
	} {
		require.InDelta(t, tc.want, bench.BusFactor(tc.c, tc.n), 1e-12, "%s over %d ranks", tc.c, tc.n)
	}
	alg, bus := bench.Bandwidths(bench.AllReduce, 4e9, 2, 4)
	require.InDelta(t, 2.0, alg, 1e-12)
	require.InDelta(t, 3.0, bus, 1e-12)
	alg, bus = bench.Bandwidths(bench.AllReduce, 4e9, 0, 4)
	require.Zero(t, alg)
	require.Zero(t, bus)
}

func TestShape(t *testing.T) {
	for _, tc := range []struct {
		c         bench.Collective
		bytes     int64
		elem, n   int
		count     int
		wantBytes int64
	}{
		{bench.AllReduce, 1024, 4, 4, 256, 1024},
		{bench.AllReduce, 1023, 4, 4, 255, 1020},
		{bench.Broadcast, 1 << 20, 8, 3, 1 << 17, 1 << 20},
		{bench.SendRecv, 100, 2, 2, 50, 100},
		{bench.AllGather, 1024, 4, 4, 64, 1024},
		{bench.AllGather, 4096, 1, 3, 1365, 4095},
		{bench.ReduceScatter, 4096, 2, 3, 682, 4092},
		{bench.AllToAll, 1 << 20, 4, 8, 1 << 15, 1 << 20},
		{bench.Gather, 8, 4, 4, 0, 0},
		{bench.Scatter, 64, 4, 2, 8, 64},
	} {
		count, size := bench.Shape(tc.c, tc.bytes, tc.elem, tc.n)
		require.Equal(t, tc.count, count, "%s %d bytes of %d over %d", tc.c, tc.bytes, tc.elem, tc.n)
		require.Equal(t, tc.wantBytes, size, "%s %d bytes of %d over %d", tc.c, tc.bytes, tc.elem, tc.n)
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "8": 8, "4K": 4 << 10, "4k": 4 << 10, "64M": 64 << 20, "1G": 1 << 30, "512KB": 512 << 10,
		"2MiB": 2 << 20, " 16 ": 16, "3g": 3 << 30,
	} {
		got, err := bench.ParseSize(s)
		require.NoError(t, err, "%q", s)
		require.Equal(t, want, got, "%q", s)
	}
	for _, s := range []string{"", "K", "-1", "+4", "4Q", "1.5M", "4 K", "99999999999999999999", "8E", "9000000000G", "0x10"} {
		_, err := bench.ParseSize(s)
		require.ErrorIs(t, err, bench.ErrOptions, "%q", s)
	}
	for _, n := range []int64{0, 7, 1024, 3 << 10, 5 << 20, 1 << 30, 1<<30 + 1} {
		back, err := bench.ParseSize(bench.FormatSize(n))
		require.NoError(t, err)
		require.Equal(t, n, back)
	}
	require.Equal(t, "64M", bench.FormatSize(64<<20))
}

func TestSizes(t *testing.T) {
	o := bench.DefaultOptions()
	o.MinBytes, o.MaxBytes, o.StepFactor = 4<<10, 64<<20, 4
	require.Equal(t, []int64{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}, o.Sizes())
	o.MinBytes, o.MaxBytes, o.StepFactor = 1000, 5000, 2
	require.Equal(t, []int64{1000, 2000, 4000}, o.Sizes())
	o.StepBytes = 1500
	require.Equal(t, []int64{1000, 2500, 4000}, o.Sizes())
	o.MinBytes, o.MaxBytes, o.StepBytes = 8, 8, 0
	require.Equal(t, []int64{8}, o.Sizes())
	o.MinBytes, o.MaxBytes = 0, 0
	require.Equal(t, []int64{0}, o.Sizes())
	o.MinBytes, o.MaxBytes, o.StepFactor = 1<<30, bench.MaxBufferBytes, 1<<40
	require.Equal(t, []int64{1 << 30}, o.Sizes(), "an overflowing step ends the sweep")
}

func TestValidate(t *testing.T) {
	require.NoError(t, bench.DefaultOptions().Validate())
	for name, mod := range map[string]func(o *bench.Options){
		"no collective":   func(o *bench.Options) { o.Collectives = nil },
		"bad collective":  func(o *bench.Options) { o.Collectives = []bench.Collective{42} },
		"negative min":    func(o *bench.Options) { o.MinBytes = -1 },
		"max below min":   func(o *bench.Options) { o.MinBytes, o.MaxBytes = 10, 5 },
		"huge":            func(o *bench.Options) { o.MaxBytes = bench.MaxBufferBytes + 1 },
		"factor 1":        func(o *bench.Options) { o.StepFactor = 1 },
		"negative step":   func(o *bench.Options) { o.StepBytes = -1 },
		"from zero":       func(o *bench.Options) { o.MinBytes = 0 },
		"no iterations":   func(o *bench.Options) { o.Iters = 0 },
		"negative warmup": func(o *bench.Options) { o.Warmup = -1 },
		"negative root":   func(o *bench.Options) { o.Root = -1 },
		"bad aggregate":   func(o *bench.Options) { o.Aggregate = 9 },
		"bad type":        func(o *bench.Options) { o.Types = []comm.DType{99} },
		"bad op":          func(o *bench.Options) { o.Ops = []comm.Op{99} },
		"too many sizes":  func(o *bench.Options) { o.MinBytes, o.MaxBytes, o.StepBytes = 1, 1<<30, 1 },
	} {
		o := bench.DefaultOptions()
		mod(&o)
		require.ErrorIs(t, o.Validate(), bench.ErrOptions, name)
	}
}

func TestParseLists(t *testing.T) {
	colls, err := bench.ParseCollectives("allreduce, all_gather,allreduce")
	require.NoError(t, err)
	require.Equal(t, []bench.Collective{bench.AllReduce, bench.AllGather}, colls)
	colls, err = bench.ParseCollectives("ALL")
	require.NoError(t, err)
	require.Len(t, colls, 9)
	for _, bad := range []string{"", "allreduc", "allreduce,x"} {
		_, err := bench.ParseCollectives(bad)
		require.ErrorIs(t, err, bench.ErrOptions, "%q", bad)
	}

	types, err := bench.ParseTypes("float,half,bf16,double,int8")
	require.NoError(t, err)
	require.Equal(t, []comm.DType{comm.Float32, comm.Float16, comm.BFloat16, comm.Float64, comm.Int8}, types)
	types, err = bench.ParseTypes("all")
	require.NoError(t, err)
	require.Len(t, types, 10)
	_, err = bench.ParseTypes("float128")
	require.ErrorIs(t, err, bench.ErrOptions)

	ops, err := bench.ParseOps("sum,max")
	require.NoError(t, err)
	require.Equal(t, []comm.Op{comm.Sum, comm.Max}, ops)
	ops, err = bench.ParseOps("all")
	require.NoError(t, err)
	require.Len(t, ops, 5)
	_, err = bench.ParseOps("xor")
	require.ErrorIs(t, err, bench.ErrOptions)

	for s, want := range map[string]bench.Aggregate{"0": bench.AggRank0, "rank0": bench.AggRank0, "1": bench.AggAvg,
		"avg": bench.AggAvg, "2": bench.AggMin, "MIN": bench.AggMin, "3": bench.AggMax, "max": bench.AggMax} {
		got, err := bench.ParseAggregate(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	_, err = bench.ParseAggregate("4")
	require.ErrorIs(t, err, bench.ErrOptions)
	require.Equal(t, "float", bench.TypeName(comm.Float32))
	require.Equal(t, "none", bench.OpName(0))
}

func TestCollectiveText(t *testing.T) {
	for _, c := range bench.Collectives() {
		b, err := c.MarshalText()
		require.NoError(t, err)
		var back bench.Collective
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, c, back)
	}
	_, err := bench.Collective(0).MarshalText()
	require.Error(t, err)
}

// runAll runs bench.Run on every rank of comms at once and returns each rank's rows and summary.
func runAll(t *testing.T, comms []*comm.Comm, opts bench.Options) ([][]bench.Row, []bench.Summary, []error) {
	t.Helper()
	rows := make([][]bench.Row, len(comms))
	sums := make([]bench.Summary, len(comms))
	errs := make([]error, len(comms))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			sums[r], errs[r] = bench.Run(ctx, c, opts, func(row bench.Row) { rows[r] = append(rows[r], row) })
		})
	}
	wg.Wait()
	return rows, sums, errs
}

func local(t *testing.T, n int) []*comm.Comm {
	t.Helper()
	comms, err := comm.NewLocal(t.Context(), n, comm.Config{})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, c := range comms {
			require.NoError(t, c.Close())
		}
	})
	return comms
}

func quickOptions(colls ...bench.Collective) bench.Options {
	o := bench.DefaultOptions()
	o.Collectives = colls
	o.MinBytes, o.MaxBytes, o.StepFactor = 1<<10, 1<<20, 32
	o.Iters, o.Warmup = 2, 1
	o.Transport = "inproc"
	return o
}

// TestRunChecksEveryCollective runs every collective, type and op on groups of several sizes
// and checks that each row is complete, the same on every rank, and free of wrong values.
func TestRunChecksEveryCollective(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		comms := local(t, n)
		o := quickOptions(bench.Collectives()...)
		o.Types, _ = bench.ParseTypes("all")
		o.Ops, _ = bench.ParseOps("all")
		o.Root = n - 1
		o.MaxBytes = 32 << 10
		rows, sums, errs := runAll(t, comms, o)
		for r := range comms {
			require.NoError(t, errs[r], "%d ranks, rank %d", n, r)
		}
		colls := 9
		if n == 1 {
			colls = 8
			require.Contains(t, sums[0].Notes, "sendrecv skipped: it needs at least 2 ranks")
		}
		// Sizes 1K and 32K; 10 types; 5 ops for the 3 reducing collectives.
		wantRows := 2 * 10 * ((colls - 3) + 3*5)
		require.Len(t, rows[0], wantRows, "%d ranks", n)
		require.Equal(t, wantRows, sums[0].Rows)
		require.Zero(t, sums[0].Wrong, "%d ranks", n)
		require.True(t, sums[0].Checked)
		for _, row := range rows[0] {
			require.Zero(t, row.OutOfPlace.Wrong, "%+v", row)
			require.Equal(t, n, row.Ranks)
			require.NotEmpty(t, row.Algorithm)
			require.NotEqual(t, "?", row.Algorithm)
			require.Equal(t, "inproc", row.Transport)
			require.Positive(t, row.OutOfPlace.Time)
			if row.Collective == bench.SendRecv {
				require.True(t, row.InPlace.Skipped)
				require.Equal(t, "p2p", row.Algorithm)
			} else {
				require.Zero(t, row.InPlace.Wrong, "%+v", row)
				require.Positive(t, row.InPlace.Time)
			}
			if row.Collective.Rooted() {
				require.Equal(t, n-1, row.Root)
			} else {
				require.Equal(t, -1, row.Root)
			}
			if !row.Collective.Reduces() {
				require.Zero(t, row.Op)
			}
			count, size := bench.Shape(row.Collective, map[bool]int64{true: 1 << 10, false: 32 << 10}[row.Size <= 1<<10], row.Type.Size(), n)
			require.Equal(t, count, row.Count)
			require.Equal(t, size, row.Size)
		}
		for r := 1; r < n; r++ {
			require.Equal(t, len(rows[0]), len(rows[r]))
			for i := range rows[0] {
				a, b := rows[0][i], rows[r][i]
				require.Equal(t, a.OutOfPlace, b.OutOfPlace, "rank %d row %d: ranks disagree", r, i)
				require.Equal(t, a.InPlace, b.InPlace, "rank %d row %d: ranks disagree", r, i)
			}
		}
	}
}

func TestRunAlgorithmOverride(t *testing.T) {
	comms, err := comm.NewLocal(t.Context(), 4, comm.Config{Algorithms: map[string]string{"allreduce": "ring"}})
	require.NoError(t, err)
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	o := quickOptions(bench.AllReduce, bench.Broadcast)
	o.Algorithms = map[string]string{"allreduce": "ring"}
	rows, sums, errs := runAll(t, comms, o)
	require.NoError(t, errs[0])
	require.Zero(t, sums[0].Wrong)
	for _, row := range rows[0] {
		if row.Collective == bench.AllReduce {
			require.Equal(t, "ring", row.Algorithm)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	comms := local(t, 2)
	o := quickOptions(bench.AllReduce)
	o.Root = 2
	_, err := bench.Run(t.Context(), comms[0], o, nil)
	require.ErrorIs(t, err, bench.ErrOptions)
	o.Root, o.Iters = 0, 0
	_, err = bench.Run(t.Context(), comms[0], o, nil)
	require.ErrorIs(t, err, bench.ErrOptions)
}

// faultyComms joins n ranks with comm.Init over inproc wrapped with the faults of cfg.
func faultyComms(t *testing.T, n int, cfg faulty.Config) ([]*comm.Comm, *faulty.Transport) {
	t.Helper()
	tr := faulty.Wrap(inproc.New(), cfg)
	store := rendezvous.NewMemStore()
	comms := make([]*comm.Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			var t transport.Transport = tr
			comms[r], errs[r] = comm.Init(context.Background(), comm.Member{Rank: r, Size: n, Store: store, Transport: t}, comm.Config{Timeout: time.Minute})
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, c := range comms {
			if c != nil {
				wg.Go(func() { c.Close() })
			}
		}
		wg.Wait()
	})
	for r := range n {
		require.NoError(t, errs[r])
	}
	return comms, tr
}

// TestRunCountsCorruptedData runs over a transport that flips a bit in every data message
// (those of at least 4 KiB: the call descriptions stay intact) and checks that the wrong values
// are counted on every rank, and that the run still ends.
func TestRunCountsCorruptedData(t *testing.T) {
	comms, tr := faultyComms(t, 3, faulty.Config{Seed: 7, Corrupt: 1, MinSize: 4 << 10})
	o := quickOptions(bench.AllReduce, bench.AllGather)
	o.Types = []comm.DType{comm.Int32}
	o.MinBytes, o.MaxBytes = 64<<10, 256<<10
	o.StepFactor = 4
	rows, sums, errs := runAll(t, comms, o)
	for r := range comms {
		require.NoError(t, errs[r], "rank %d", r)
		require.Positive(t, sums[r].Wrong, "rank %d", r)
		require.True(t, sums[r].Failed())
		require.Equal(t, sums[0].Wrong, sums[r].Wrong, "every rank sees the same count")
	}
	require.Len(t, rows[0], 4)
	for _, row := range rows[0] {
		require.Positive(t, row.OutOfPlace.Wrong, "%s %d", row.Collective, row.Size)
		require.Positive(t, row.InPlace.Wrong, "%s %d", row.Collective, row.Size)
	}
	require.Positive(t, tr.Stats().Corrupted)

	// The same group without faults in the small messages only finds nothing wrong.
	clean, _ := faultyComms(t, 3, faulty.Config{Seed: 7, Corrupt: 1, MinSize: 1 << 30})
	_, sums, errs = runAll(t, clean, o)
	require.NoError(t, errs[0])
	require.Zero(t, sums[0].Wrong)
}

func TestRunWithoutCheck(t *testing.T) {
	comms := local(t, 2)
	o := quickOptions(bench.AllReduce)
	o.Check = false
	rows, sums, errs := runAll(t, comms, o)
	require.NoError(t, errs[0])
	require.False(t, sums[0].Checked)
	for _, row := range rows[0] {
		require.Equal(t, int64(-1), row.OutOfPlace.Wrong)
		require.Equal(t, int64(-1), row.InPlace.Wrong)
	}
	var buf bytes.Buffer
	tab := bench.NewTable(&buf, false)
	tab.Row(rows[0][0])
	tab.Footer(sums[0])
	require.Contains(t, buf.String(), "  N/A  ")
	require.Contains(t, buf.String(), "# Out of bounds values : N/A")
}

func TestRunProgress(t *testing.T) {
	comms := local(t, 2)
	o := quickOptions(bench.AllReduce, bench.Broadcast)
	var mu sync.Mutex
	var calls [][2]int
	o.Progress = func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, [2]int{done, total})
	}
	_, _, errs := runAll(t, comms, o)
	require.NoError(t, errs[0])
	// Two ranks, six rows each (sizes 1K, 32K and 1M of two collectives).
	require.Len(t, calls, 12)
	for _, c := range calls {
		require.Equal(t, 6, c[1])
	}
}

func TestRanks(t *testing.T) {
	comms := local(t, 3)
	got := make([][]bench.RankInfo, 3)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			var err error
			got[r], err = bench.Ranks(t.Context(), c)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	host, _ := os.Hostname()
	for r := range 3 {
		require.Len(t, got[r], 3)
		for i, info := range got[r] {
			cpus := comms[i].System().Peers[i].CPUs.String()
			require.Equal(t, bench.RankInfo{Rank: i, Host: host, PID: os.Getpid(), CPUs: cpus}, info)
		}
	}
}

func sampleRow() bench.Row {
	return bench.Row{
		Collective: bench.AllReduce, Size: 1048576, Count: 262144, Type: comm.Float32, Op: comm.Sum, Root: -1, Ranks: 4,
		Algorithm: "ring", Transport: "quic",
		OutOfPlace: bench.Result{Time: 1654.23, AlgBW: 0.634, BusBW: 0.951, Wrong: 0, P50: 1500, P99: 2100.5, Spread: 40},
		InPlace:    bench.Result{Time: 12345.6, AlgBW: 0.085, BusBW: 0.127, Wrong: 3, P50: 99.5, P99: 150, Spread: 12.25},
	}
}

func TestFormatRow(t *testing.T) {
	require.Equal(t,
		"     1048576        262144     float     sum      -1   1654.2    0.63    0.95      0    12346    0.09    0.13      3  ring                quic",
		bench.FormatRow(sampleRow(), false))
	row := sampleRow()
	row.Collective, row.Op, row.Root, row.InPlace = bench.SendRecv, 0, -1, bench.Result{Skipped: true}
	row.OutOfPlace.Time = 12.345
	require.Equal(t,
		"     1048576        262144     float    none      -1    12.35    0.63    0.95      0      N/A     N/A     N/A    N/A    1500.0    2100.5     40.0       N/A       N/A      N/A  ring                quic",
		bench.FormatRow(row, true))
}

// TestTableColumnsAlign checks that each header word ends where its column's values end.
func TestTableColumnsAlign(t *testing.T) {
	for _, perIter := range []bool{false, true} {
		var buf bytes.Buffer
		tab := bench.NewTable(&buf, perIter)
		tab.Row(sampleRow())
		tab.Footer(bench.Summary{Rows: 1, AvgBusBW: 0.539, Wrong: 3, Checked: true})
		require.NoError(t, tab.Err())
		lines := strings.Split(buf.String(), "\n")
		var head, row string
		for _, l := range lines {
			if strings.HasPrefix(l, "#       size") {
				head = l
			}
			if strings.HasPrefix(l, "     1048576") {
				row = l
			}
		}
		require.NotEmpty(t, head)
		require.NotEmpty(t, row)
		words := []string{"size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong"}
		ends := columnEnds(row)
		pos := 0
		for i, w := range words {
			j := strings.Index(head[pos:], w) + pos
			pos = j + len(w)
			require.Equal(t, ends[i], pos, "column %s (perIter %v)", w, perIter)
		}
		require.Contains(t, buf.String(), "# Collective: allreduce")
		require.Contains(t, buf.String(), "# Out of bounds values : 3 FAILED\n")
		require.Contains(t, buf.String(), "# Avg bus bandwidth    : 0.539")
		require.Contains(t, head, "algorithm")
		require.Contains(t, head, "transport")
	}
}

// columnEnds returns the index just past each space-separated field of line.
func columnEnds(line string) []int {
	var ends []int
	for i := 0; i < len(line); i++ {
		if line[i] != ' ' && (i+1 == len(line) || line[i+1] == ' ') {
			ends = append(ends, i+1)
		}
	}
	return ends
}

func TestTableHeaderPerCollective(t *testing.T) {
	var buf bytes.Buffer
	tab := bench.NewTable(&buf, false)
	r := sampleRow()
	tab.Row(r)
	tab.Row(r)
	r.Collective = bench.Broadcast
	tab.Row(r)
	require.Equal(t, 2, strings.Count(buf.String(), "#       size"))
	require.Equal(t, 1, strings.Count(buf.String(), "# Collective: broadcast"))
}

func sampleReport() *bench.Report {
	o := bench.DefaultOptions()
	o.Transport = "quic"
	row := sampleRow()
	skipped := row
	skipped.Collective, skipped.Op, skipped.InPlace = bench.SendRecv, 0, bench.Result{Skipped: true}
	unchecked := row
	unchecked.Size, unchecked.OutOfPlace.Wrong, unchecked.InPlace.Wrong = 4096, -1, -1
	unchecked.OutOfPlace.Time = math.NaN()
	return &bench.Report{
		Version: bench.ReportVersion, Command: "chorus bench", Start: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Seconds: 1.5, Machine: bench.ThisMachine(), Config: bench.ConfigOf(o, 4),
		Ranks: []bench.RankInfo{{Rank: 0, Host: "h", PID: 1}},
		Rows:  []bench.Record{bench.RecordOf(row), bench.RecordOf(skipped), bench.RecordOf(unchecked)},
		Wrong: 3, AvgBusBW: 0.5,
	}
}

func TestJSONRecords(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	require.NoError(t, bench.WriteJSON(&buf, rep))
	back, err := bench.ReadJSON(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, rep.Rows, back.Rows)
	require.Equal(t, rep.Config, back.Config)
	require.Equal(t, rep.Machine, back.Machine)
	require.True(t, rep.Start.Equal(back.Start))

	// The schema, as documented in docs/bench.md.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	for _, k := range []string{"version", "command", "start", "seconds", "machine", "config", "ranks", "rows", "avg_busbw", "wrong"} {
		require.Contains(t, doc, k)
	}
	for _, k := range []string{"host", "os", "arch", "cpus", "go"} {
		require.Contains(t, doc["machine"], k)
	}
	cfg := doc["config"].(map[string]any)
	for _, k := range []string{"collectives", "ranks", "transport", "min_bytes", "max_bytes", "step_factor", "iters", "warmup", "check", "types", "ops", "root", "aggregate"} {
		require.Contains(t, cfg, k)
	}
	require.Equal(t, []any{"allreduce"}, cfg["collectives"])
	require.Equal(t, []any{"float"}, cfg["types"])
	rows := doc["rows"].([]any)
	first := rows[0].(map[string]any)
	for k, v := range map[string]any{"collective": "allreduce", "size": 1048576.0, "count": 262144.0, "type": "float",
		"redop": "sum", "root": -1.0, "ranks": 4.0, "algorithm": "ring", "transport": "quic"} {
		require.Equal(t, v, first[k], k)
	}
	oop := first["out_of_place"].(map[string]any)
	for k, v := range map[string]any{"time_us": 1654.23, "algbw": 0.634, "busbw": 0.951, "wrong": 0.0, "p50_us": 1500.0, "p99_us": 2100.5, "spread_pct": 40.0} {
		require.Equal(t, v, oop[k], k)
	}
	require.Equal(t, 3.0, first["in_place"].(map[string]any)["wrong"])
	require.Nil(t, rows[1].(map[string]any)["in_place"], "a skipped place is null")
	third := rows[2].(map[string]any)["out_of_place"].(map[string]any)
	require.Nil(t, third["wrong"], "an unchecked place's wrong is null")
	require.Equal(t, 0.0, third["time_us"], "NaN is written as 0")

	_, err = bench.ReadJSON(strings.NewReader(`{"version": 99, "rows": []}`))
	require.ErrorContains(t, err, "version 99")
	_, err = bench.ReadJSON(strings.NewReader(`{"version": `))
	require.Error(t, err)
	_, err = bench.ReadJSONFile(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestCompare(t *testing.T) {
	a := sampleReport()
	b := sampleReport()
	b.Rows[0].OutOfPlace.Time /= 2
	b.Rows[0].OutOfPlace.BusBW *= 2
	b.Rows[0].InPlace.Time *= 2
	b.Rows = b.Rows[:2]
	extra := b.Rows[0]
	extra.Size = 1 << 30
	b.Rows = append(b.Rows, extra)
	var buf bytes.Buffer
	cmp, err := bench.Compare(&buf, a, b, "old.json", "new.json")
	require.NoError(t, err)
	require.Equal(t, 2, cmp.Matched)
	require.Equal(t, 1, cmp.OnlyA)
	require.Equal(t, 1, cmp.OnlyB)
	// Speed-ups: 2 and 0.5 for the first row, 1 for the second's out of place.
	require.InDelta(t, 1.0, cmp.GeoMean, 1e-9)
	out := buf.String()
	require.Contains(t, out, "# A: old.json")
	require.Contains(t, out, "# B: new.json")
	require.Contains(t, out, "2.000")
	require.Contains(t, out, "0.500")
	require.Contains(t, out, "# Rows compared: 2; only in A: 1; only in B: 1")

	buf.Reset()
	other := sampleReport()
	for i := range other.Rows {
		other.Rows[i].Type = "double"
	}
	cmp, err = bench.Compare(&buf, a, other, "a", "b")
	require.NoError(t, err)
	require.Zero(t, cmp.Matched)
	require.Contains(t, buf.String(), "Nothing to compare")
}

func TestPlot(t *testing.T) {
	rep := sampleReport()
	more := bench.RecordOf(sampleRow())
	more.Size *= 4
	rep.Rows = append(rep.Rows, more)
	series := bench.SeriesOf("", rep.Rows)
	require.Len(t, series, 2, "one line per collective")
	require.Equal(t, "allreduce", series[0].Name)
	require.Len(t, series[0].Points, 3)
	require.Equal(t, "sendrecv", series[1].Name)
	require.Equal(t, "B: allreduce", bench.SeriesOf("B", rep.Rows)[0].Name)

	dir := t.TempDir()
	for ext, magic := range map[string]string{".png": "\x89PNG", ".svg": "<?xml", ".pdf": "%PDF"} {
		path := filepath.Join(dir, "bw"+ext)
		require.NoError(t, bench.Plot(path, "test", series), ext)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(b, []byte(magic)), "%s starts with %q", ext, b[:min(len(b), 8)])
	}
	require.ErrorIs(t, bench.Plot(filepath.Join(dir, "bw.gif"), "", series), bench.ErrOptions)
	require.Error(t, bench.Plot(filepath.Join(dir, "empty.png"), "", nil))
}

func TestSeriesSplitsByTypeAndOp(t *testing.T) {
	r := bench.RecordOf(sampleRow())
	h := r
	h.Type = "half"
	m := r
	m.Op = "max"
	names := []string{}
	for _, s := range bench.SeriesOf("", []bench.Record{r, h, m}) {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"allreduce float sum", "allreduce half sum", "allreduce float max"}, names)
}

// TestSettle: with a warm-up, the first row's warm-up runs the row's operation until
// SettleTime has passed on every rank (in batches, the same number of calls on every rank),
// once per run; without one it does not. The count of collectives comes from the sequence
// number of a barrier issued after the run.
func TestSettle(t *testing.T) {
	calls := func(warmup int) uint64 {
		comms := local(t, 2)
		o := quickOptions(bench.AllReduce)
		o.MinBytes, o.MaxBytes, o.StepFactor, o.Iters, o.Warmup = 1<<10, 4<<10, 4, 1, warmup
		seqs := make([]uint64, 2)
		var wg sync.WaitGroup
		for r, c := range comms {
			wg.Go(func() {
				_, err := bench.Run(t.Context(), c, o, nil)
				require.NoError(t, err)
				w := c.Start(t.Context(), comm.BarrierOp())
				require.NoError(t, w.Wait())
				seqs[r] = w.Seq()
			})
		}
		wg.Wait()
		require.Equal(t, seqs[0], seqs[1], "the ranks made different numbers of calls")
		return seqs[0]
	}
	start := time.Now()
	settled := calls(1)
	took := time.Since(start)
	plain := calls(0)
	// Two rows of two places each, and one warm-up call more per place with -w 1.
	require.GreaterOrEqual(t, settled, plain+4+32, "the first warm-up settled for at least one batch")
	require.GreaterOrEqual(t, took, bench.SettleTime, "the settling lasted SettleTime")
}
