package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chorus-cc/chorus/bench"
	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/faulty"
	"github.com/chorus-cc/chorus/transport/inproc"
)

// benchUsage is the help of chorus bench.
const benchUsage = `Usage: chorus bench [COLLECTIVE[,COLLECTIVE...]] [flags]
       chorus bench --compare A.json B.json [--plot FILE]

Measures collectives the way nccl-tests does and prints its table: size, count,
type, redop, root, then time, algbw, busbw and #wrong out of place and in place,
then the algorithm and the transport that ran.

COLLECTIVE is allreduce (the default), allgather, reducescatter, broadcast,
reduce, alltoall, gather, scatter, sendrecv, or all.

Ranks: -N k starts k ranks on this machine through the launcher (as chorus run
-n k would). Without -N, under chorus run, torchrun, Slurm or Open MPI, every
rank runs chorus bench and takes its rank from the environment; otherwise one
rank runs alone. CHORUS_TRANSPORT=inproc with -N runs the k ranks inside this
process instead, over memory. Rank 0 prints.

Sizes and iterations:
  -b SIZE    smallest size, bytes with an optional K, M or G suffix (default 1K)
  -e SIZE    largest size (default 4M)
  -f N       multiply the size by N from one row to the next (default 4)
  -i SIZE    add SIZE from one row to the next instead of -f
  -n N       timed iterations per row (default 10)
  -w N       untimed warm-up iterations per row (default 3); with N > 0 the
             first row's warm-up also lasts at least 100 ms

What to run:
  -d TYPE    element type: int8, uint8, int32, uint32, int64, uint64, half,
             bfloat16, float, double (or float16, float32, float64, ...), a
             comma-separated list, or all (default float)
  -o OP      reduction op: sum, prod, min, max, avg, a list, or all (default sum)
  -r RANK    root of broadcast, reduce, gather and scatter (default 0)
  -A ALGO    algorithms, as CHORUS_ALGO: "ring", or "allreduce=ring,broadcast=chain"
             (default: CHORUS_ALGO, else the cost model chooses)
  -R 0|1     1: the buffers come from comm.Alloc (shared memory), which ranks of
             one host read from each other in place instead of copying through
             the ring (default 0: ordinary memory, as a framework's tensors are)

Checking and reporting:
  -c 0|1     check every result against its exact value (default 1); any wrong
             value makes the exit status 1
  -a MODE    combine the ranks' times: 0 or rank0, 1 or avg, 2 or min, 3 or max
             (default avg)
  -I 0|1     add each row's per-iteration p50, p99 and spread (default 0)
  --json FILE         write the rows, the machine and the configuration as JSON
  --plot FILE         draw bus bandwidth against size (.png, .svg or .pdf)
  --compare A.json B.json
                      print the ratios between two JSON runs (with --plot, one
                      line per run)
  --faults SPEC       inject faults into in-process ranks (CHORUS_TRANSPORT=inproc
                      or a single rank), such as "corrupt=0.01,minsize=64K,seed=7"
  -N K       start K local ranks

Exit status: 0 when every value checked is right, 1 when one is wrong or a run
fails, 2 for a usage error.
`

// benchConfig is a parsed chorus bench command line.
type benchConfig struct {
	opts     bench.Options
	nprocs   int               // -N; 0 when not given
	algos    map[string]string // -A; nil when not given
	faults   faulty.Config
	jsonPath string
	plotPath string
	compare  []string // --compare: the two reports
	command  string   // the command line, for the JSON report
}

// benchEnv is what chorus bench takes from its process, so that tests can supply their own.
type benchEnv struct {
	getenv  func(string) string
	environ []string
	// exe returns the program that -N starts as each rank.
	exe func() (string, error)
	// tty reports whether stderr is a terminal (progress is shown there only).
	tty bool
}

// processEnv is the environment of this process, for a command whose stderr is stderr.
func processEnv(stderr io.Writer) benchEnv {
	return benchEnv{getenv: os.Getenv, environ: os.Environ(), exe: os.Executable, tty: isTerminal(stderr)}
}

// isTerminal reports whether w is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// benchCmd is `chorus bench`.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return benchMain(ctx, args, processEnv(stderr), stdout, stderr)
}

// benchMain runs chorus bench with env as its process's environment and returns the exit
// status.
func benchMain(ctx context.Context, args []string, env benchEnv, stdout, stderr io.Writer) int {
	cfg, code, ok := parseBenchFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	if len(cfg.compare) == 2 {
		return benchCompare(cfg, stdout, stderr)
	}
	inJob := jobInEnv(env.getenv)
	transportName := env.getenv("CHORUS_TRANSPORT")
	switch {
	case cfg.nprocs > 0 && inJob:
		return benchUsageError(stderr, "-N starts its own ranks: leave it out when running under a launcher (the environment has a rank)")
	case cfg.faults.Enabled() && (inJob || cfg.nprocs > 0 && transportName != "inproc"):
		return benchUsageError(stderr, "--faults works with in-process ranks only: set CHORUS_TRANSPORT=inproc with -N, or run one rank")
	case cfg.nprocs > 0 && transportName != "inproc":
		return benchLaunch(ctx, cfg, args, env, stdout, stderr)
	case inJob:
		return benchFromEnv(ctx, cfg, env, stdout, stderr)
	}
	return benchLocal(ctx, cfg, max(cfg.nprocs, 1), env, stdout, stderr)
}

// jobInEnv reports whether the environment gives this process a rank (chorus run, torchrun,
// Slurm, Open MPI).
func jobInEnv(getenv func(string) string) bool {
	for _, v := range []string{"CHORUS_RANK", "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK"} {
		if getenv(v) != "" {
			return true
		}
	}
	return false
}

func benchUsageError(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "chorus bench: "+format+"\n\n", a...)
	fmt.Fprint(stderr, benchUsage)
	return exitUsage
}

// sizeFlag is a flag holding a size in bytes, with an optional K, M or G suffix.
type sizeFlag struct {
	v *int64
}

func (f *sizeFlag) String() string {
	if f.v == nil {
		return ""
	}
	return bench.FormatSize(*f.v)
}

func (f *sizeFlag) Set(s string) error {
	n, err := bench.ParseSize(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), bench.ErrOptions.Error()+": "))
	}
	*f.v = n
	return nil
}

// switchFlag is a 0 or 1 flag, as nccl-tests takes -c.
type switchFlag struct{ v *bool }

func (f switchFlag) String() string {
	if f.v != nil && *f.v {
		return "1"
	}
	return "0"
}

func (f switchFlag) Set(s string) error {
	switch s {
	case "0", "false":
		*f.v = false
	case "1", "true":
		*f.v = true
	default:
		return fmt.Errorf("want 0 or 1, got %q", s)
	}
	return nil
}

// parseBenchFlags parses the command line of chorus bench. When ok is false the caller returns
// code: 0 after -h, exitUsage after a mistake (already reported on stderr).
func parseBenchFlags(args []string, stdout, stderr io.Writer) (cfg benchConfig, code int, ok bool) {
	fail := func(format string, a ...any) (benchConfig, int, bool) {
		return benchConfig{}, benchUsageError(stderr, format, a...), false
	}
	o := bench.DefaultOptions()
	var (
		types, ops, agg, algo, faults, compare string
		step                                   int64
	)
	fs := flag.NewFlagSet("chorus bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	minB, maxB, stepB := &sizeFlag{v: &o.MinBytes}, &sizeFlag{v: &o.MaxBytes}, &sizeFlag{v: &step}
	fs.Var(minB, "b", "")
	fs.Var(maxB, "e", "")
	fs.Var(stepB, "i", "")
	fs.Int64Var(&o.StepFactor, "f", o.StepFactor, "")
	fs.IntVar(&o.Iters, "n", o.Iters, "")
	fs.IntVar(&o.Warmup, "w", o.Warmup, "")
	fs.Var(switchFlag{&o.Check}, "c", "")
	fs.Var(switchFlag{&o.PerIter}, "I", "")
	fs.Var(switchFlag{&o.Shared}, "R", "")
	fs.StringVar(&ops, "o", "sum", "")
	fs.StringVar(&types, "d", "float", "")
	fs.IntVar(&o.Root, "r", 0, "")
	fs.StringVar(&agg, "a", "avg", "")
	fs.StringVar(&algo, "A", "", "")
	fs.IntVar(&cfg.nprocs, "N", 0, "")
	fs.StringVar(&cfg.jsonPath, "json", "", "")
	fs.StringVar(&cfg.plotPath, "plot", "", "")
	fs.StringVar(&compare, "compare", "", "")
	fs.StringVar(&faults, "faults", "", "")

	// Flags and positional arguments may come in any order: parse, take one positional, go on.
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, benchUsage)
				return benchConfig{}, 0, false
			}
			return fail("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if compare != "" {
		if len(positional) != 1 {
			return fail("--compare takes two reports: --compare A.json B.json")
		}
		for name := range set {
			if name != "compare" && name != "plot" {
				return fail("-%s does not go with --compare (only --plot does)", name)
			}
		}
		cfg.compare = []string{compare, positional[0]}
		if cfg.plotPath != "" {
			if err := bench.CheckPlotPath(cfg.plotPath); err != nil {
				return fail("%v", trimSentinel(err))
			}
		}
		return cfg, 0, true
	}

	var err error
	o.Collectives = []bench.Collective{bench.AllReduce}
	if len(positional) > 0 {
		if o.Collectives, err = bench.ParseCollectives(strings.Join(positional, ",")); err != nil {
			return fail("%v", trimSentinel(err))
		}
	}
	if o.Types, err = bench.ParseTypes(types); err != nil {
		return fail("-d: %v", trimSentinel(err))
	}
	if o.Ops, err = bench.ParseOps(ops); err != nil {
		return fail("-o: %v", trimSentinel(err))
	}
	if o.Aggregate, err = bench.ParseAggregate(agg); err != nil {
		return fail("-a: %v", trimSentinel(err))
	}
	if set["i"] {
		if set["f"] {
			return fail("-i and -f both set the step: give one of them")
		}
		if step == 0 {
			return fail("-i: the step must be above 0")
		}
		o.StepBytes = step
	}
	if set["b"] && !set["e"] && o.MinBytes > o.MaxBytes {
		o.MaxBytes = o.MinBytes // -b alone above the default maximum: one size
	}
	if set["e"] && !set["b"] && o.MaxBytes < o.MinBytes {
		o.MinBytes = o.MaxBytes
	}
	if cfg.nprocs < 0 || set["N"] && cfg.nprocs == 0 {
		return fail("-N must be at least 1 (got %d)", cfg.nprocs)
	}
	if o.Root > 0 && cfg.nprocs > 0 && o.Root >= cfg.nprocs {
		return fail("-r %d is not a rank of %d", o.Root, cfg.nprocs)
	}
	if set["A"] {
		if cfg.algos, err = parseAlgos(algo); err != nil {
			return fail("-A: %v", err)
		}
		o.Algorithms = cfg.algos
	}
	if faults != "" {
		if cfg.faults, err = faulty.Parse(faults); err != nil {
			return fail("--faults: %v", trimSentinel(err))
		}
	}
	if cfg.plotPath != "" {
		if err := bench.CheckPlotPath(cfg.plotPath); err != nil {
			return fail("%v", trimSentinel(err))
		}
	}
	if err := o.Validate(); err != nil {
		return fail("%v", trimSentinel(err))
	}
	cfg.opts = o
	cfg.command = strings.TrimSpace("chorus bench " + strings.Join(args, " "))
	return cfg, 0, true
}

// trimSentinel drops the leading sentinel text of an error, which the usage line does not need.
func trimSentinel(err error) string {
	s := err.Error()
	for _, prefix := range []string{bench.ErrOptions.Error() + ": ", faulty.ErrSpec.Error() + ": "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// parseAlgos reads -A in the CHORUS_ALGO form and checks every name against comm's algorithms.
func parseAlgos(s string) (map[string]string, error) {
	spec, err := comm.ParseAlgorithms(s)
	if err != nil {
		return nil, err
	}
	if len(spec) == 0 {
		return nil, errors.New("no algorithm named")
	}
	have := comm.Algorithms()
	for coll, name := range spec {
		if coll == "*" {
			found := false
			for _, names := range have {
				for _, n := range names {
					found = found || n == name
				}
			}
			if !found {
				return nil, fmt.Errorf("no collective has an algorithm %q (have %v)", name, have)
			}
			continue
		}
		names, ok := have[coll]
		if !ok {
			return nil, fmt.Errorf("unknown collective %q (have %v)", coll, have)
		}
		found := false
		for _, n := range names {
			found = found || n == name
		}
		if !found {
			return nil, fmt.Errorf("%s has no algorithm %q (have %v)", coll, name, names)
		}
	}
	return spec, nil
}

// withoutN returns args without the -N flag and its value.
func withoutN(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "-N" || a == "--N":
			i++ // and its value
		case strings.HasPrefix(a, "-N=") || strings.HasPrefix(a, "--N="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// progressEnvVar tells a rank started by -N to report progress as lines for the launcher.
const progressEnvVar = "CHORUS_BENCH_PROGRESS"

// commandEnvVar passes the command line a user typed to the ranks that -N starts, for the
// JSON report.
const commandEnvVar = "CHORUS_BENCH_COMMAND"

// progressPrefix starts the progress lines a rank writes to stderr for the launcher.
const progressPrefix = "chorus bench progress: "

// benchLaunch runs the bench as cfg.nprocs ranks of this program through the launcher.
func benchLaunch(ctx context.Context, cfg benchConfig, args []string, env benchEnv, stdout, stderr io.Writer) int {
	exe, err := env.exe()
	if err != nil {
		fmt.Fprintf(stderr, "chorus bench: finding this program to start its ranks: %v\n", err)
		return 1
	}
	rc := runConfig{
		nprocs: cfg.nprocs,
		nnodes: 1,
		grace:  defaultGrace,
		bind:   bindAuto, // as mpirun does: a rank that shares its CPU measures the scheduler
		argv:   append([]string{exe, "bench"}, withoutN(args)...),
	}
	childEnv := append(append([]string(nil), env.environ...), commandEnvVar+"="+cfg.command)
	var tty *progressLine
	if env.tty {
		tty = &progressLine{w: stderr, start: time.Now()}
		childEnv = append(childEnv, progressEnvVar+"=1")
	}
	out := &rankLines{w: stdout, tty: tty, strip: true}
	errOut := &rankLines{w: stderr, tty: tty, progress: true}
	code := launch(ctx, rc, childEnv, out, errOut)
	tty.clear()
	return code
}

// rankLines receives the launcher's whole lines ("[rank R] text\n"): with strip it drops the
// prefix (rank 0 alone prints the table), with progress it shows a rank's progress lines on
// the terminal line instead of printing them.
type rankLines struct {
	w        io.Writer
	tty      *progressLine // nil when stderr is not a terminal
	strip    bool
	progress bool
}

func (r *rankLines) Write(p []byte) (int, error) {
	line := string(p)
	text := line
	if strings.HasPrefix(line, "[rank ") {
		if i := strings.Index(line, "] "); i > 0 {
			text = line[i+2:]
		}
	}
	if r.progress && strings.HasPrefix(text, progressPrefix) {
		if r.tty != nil {
			r.tty.show(strings.TrimSpace(strings.TrimPrefix(text, progressPrefix)))
		}
		return len(p), nil
	}
	r.tty.clear()
	if r.strip {
		line = text
	}
	_, err := io.WriteString(r.w, line)
	return len(p), err
}

// progressLine is the progress shown on the last line of a terminal, cleared before anything
// else is written there. Its methods do nothing on a nil *progressLine.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	shown bool
}

func (p *progressLine) show(text string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r# chorus bench: %s rows, %s\x1b[K", text, time.Since(p.start).Round(time.Second))
	p.shown = true
}

func (p *progressLine) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// clearingWriter clears the progress line before each write.
type clearingWriter struct {
	w   io.Writer
	tty *progressLine
}

func (c clearingWriter) Write(p []byte) (int, error) {
	c.tty.clear()
	return c.w.Write(p)
}

// benchFromEnv runs this process as one rank of the job the environment describes.
func benchFromEnv(ctx context.Context, cfg benchConfig, env benchEnv, stdout, stderr io.Writer) int {
	c, err := comm.InitFromEnv(ctx, comm.Config{Algorithms: cfg.algos})
	if err != nil {
		fmt.Fprintf(stderr, "chorus bench: %v\n", err)
		return 1
	}
	// The transports this rank (rank 0 prints) reaches its peers with: shm inside a host, quic
	// between hosts, unless CHORUS_TRANSPORT forces one.
	cfg.opts.Transport = strings.Join(c.Transports(), "+")
	if cfg.opts.Transport == "" {
		cfg.opts.Transport = "none" // a job of one rank
	}
	if cmd := env.getenv(commandEnvVar); cmd != "" {
		cfg.command = cmd
	}
	var progress func(done, total int)
	if c.Rank() == 0 && env.getenv(progressEnvVar) == "1" {
		progress = func(done, total int) { fmt.Fprintf(stderr, "%s%d/%d\n", progressPrefix, done, total) }
	}
	sum, err := benchRank(ctx, c, cfg, stdout, progress)
	closeErr := c.Close()
	return benchExit(stderr, c.Rank(), sum, errors.Join(err, closeErr))
}

// benchLocal runs n ranks in this process, connected through memory (and faults, if any).
func benchLocal(ctx context.Context, cfg benchConfig, n int, env benchEnv, stdout, stderr io.Writer) int {
	if cfg.opts.Root >= n {
		return benchUsageError(stderr, "-r %d is not a rank of %d", cfg.opts.Root, n)
	}
	var tr transport.Transport = inproc.New()
	cfg.opts.Transport = "inproc"
	if cfg.faults.Enabled() {
		tr = faulty.Wrap(tr, cfg.faults)
		cfg.opts.Transport = "inproc+faulty"
	}
	comms, err := localComms(ctx, n, tr, comm.Config{Algorithms: cfg.algos})
	if err != nil {
		fmt.Fprintf(stderr, "chorus bench: %v\n", err)
		return 1
	}
	var tty *progressLine
	if env.tty {
		tty = &progressLine{w: stderr, start: time.Now()}
		stdout = clearingWriter{w: stdout, tty: tty}
	}
	sums := make([]bench.Summary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			var progress func(done, total int)
			if r == 0 && tty != nil {
				progress = func(done, total int) { tty.show(fmt.Sprintf("%d/%d", done, total)) }
			}
			sums[r], errs[r] = benchRank(ctx, c, cfg, stdout, progress)
			if errs[r] != nil {
				c.Abort(errs[r]) // the others must not wait for this rank
			}
		})
	}
	wg.Wait()
	tty.clear()
	closeAll(comms)
	code := 0
	for r := range comms {
		code = max(code, benchExit(stderr, r, sums[r], errs[r]))
		if errs[r] != nil {
			break // the other ranks report the abort this rank caused
		}
	}
	return code
}

// localComms joins n ranks over tr with an in-memory store.
func localComms(ctx context.Context, n int, tr transport.Transport, cfg comm.Config) ([]*comm.Comm, error) {
	store := rendezvous.NewMemStore()
	comms := make([]*comm.Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			comms[r], errs[r] = comm.Init(ctx, comm.Member{Rank: r, Size: n, Store: store, Transport: tr}, cfg)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(comms)
		return nil, err
	}
	return comms, nil
}

// closeAll closes the communicators at once: each waits for its peers to close.
func closeAll(comms []*comm.Comm) {
	var wg sync.WaitGroup
	for _, c := range comms {
		if c != nil {
			wg.Go(func() { _ = c.Close() })
		}
	}
	wg.Wait()
}

// benchRank runs the bench as one rank of c; rank 0 prints to stdout and writes the files.
func benchRank(ctx context.Context, c *comm.Comm, cfg benchConfig, stdout io.Writer, progress func(done, total int)) (bench.Summary, error) {
	start := time.Now()
	ranks, err := bench.Ranks(ctx, c)
	if err != nil {
		return bench.Summary{}, err
	}
	lead := c.Rank() == 0
	o := cfg.opts
	if lead {
		o.Progress = progress
		printPreamble(stdout, cfg, c.Size(), ranks)
	}
	table := bench.NewTable(stdout, o.PerIter)
	var recs []bench.Record
	sum, err := bench.Run(ctx, c, o, func(r bench.Row) {
		if lead {
			table.Row(r)
			recs = append(recs, bench.RecordOf(r))
		}
	})
	if err != nil || !lead {
		return sum, err
	}
	table.Footer(sum)
	if cfg.jsonPath != "" {
		rep := &bench.Report{
			Version: bench.ReportVersion, Command: cfg.command, Start: start.UTC(),
			Seconds: time.Since(start).Seconds(), Machine: bench.ThisMachine(),
			Config: bench.ConfigOf(o, c.Size()), Ranks: ranks, Rows: recs,
			AvgBusBW: sum.AvgBusBW, Wrong: sum.Wrong, Notes: sum.Notes,
		}
		if err := writeJSONFile(cfg.jsonPath, rep); err != nil {
			return sum, err
		}
	}
	if cfg.plotPath != "" {
		title := fmt.Sprintf("chorus bench, %d ranks, %s", c.Size(), o.Transport)
		if err := bench.Plot(cfg.plotPath, title, bench.SeriesOf("", recs)); err != nil {
			return sum, err
		}
	}
	return sum, table.Err()
}

// printPreamble writes the lines nccl-tests prints before its table: the parameters and the
// ranks.
func printPreamble(w io.Writer, cfg benchConfig, size int, ranks []bench.RankInfo) {
	o := cfg.opts
	names := make([]string, len(o.Collectives))
	for i, c := range o.Collectives {
		names[i] = c.String()
	}
	step := fmt.Sprintf("%d(factor)", o.StepFactor)
	if o.StepBytes > 0 {
		step = fmt.Sprintf("%d(bytes)", o.StepBytes)
	}
	check := 0
	if o.Check {
		check = 1
	}
	fmt.Fprintf(w, "# chorus bench %s: %d ranks, transport %s\n", strings.Join(names, ","), size, o.Transport)
	fmt.Fprintf(w, "# minBytes %d maxBytes %d step: %s warmup iters: %d iters: %d agg: %s validation: %d\n",
		o.MinBytes, o.MaxBytes, step, o.Warmup, o.Iters, o.Aggregate, check)
	if cfg.faults.Enabled() {
		fmt.Fprintf(w, "# faults: %s\n", cfg.faults)
	}
	fmt.Fprintf(w, "#\n# Using ranks\n")
	for _, r := range ranks {
		cpus := ""
		if r.CPUs != "" {
			cpus = " cpus " + r.CPUs
		}
		fmt.Fprintf(w, "#  Rank %2d Pid %6d on %s%s\n", r.Rank, r.PID, r.Host, cpus)
	}
}

func writeJSONFile(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := bench.WriteJSON(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("--json %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--json %s: %w", path, err)
	}
	return nil
}

// benchExit reports the outcome of rank's run and returns its exit status: 1 for an error or
// a wrong value, 0 otherwise.
func benchExit(stderr io.Writer, rank int, sum bench.Summary, err error) int {
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "chorus bench: rank %d: %v\n", rank, err)
		return benchExitCode(sum, err)
	case sum.Failed():
		if rank == 0 {
			fmt.Fprintf(stderr, "chorus bench: %d wrong values\n", sum.Wrong)
		}
		return 1
	}
	return 0
}

// benchExitCode maps the outcome of a run to the exit status: 2 for invalid options, 1 for any
// other error or for a wrong value, 0 otherwise.
func benchExitCode(sum bench.Summary, err error) int {
	switch {
	case errors.Is(err, bench.ErrOptions):
		return exitUsage
	case err != nil, sum.Failed():
		return 1
	}
	return 0
}

// benchCompare prints the ratios between two reports, and plots them when asked.
func benchCompare(cfg benchConfig, stdout, stderr io.Writer) int {
	a, err := bench.ReadJSONFile(cfg.compare[0])
	if err != nil {
		fmt.Fprintf(stderr, "chorus bench: --compare: %v\n", err)
		return 1
	}
	b, err := bench.ReadJSONFile(cfg.compare[1])
	if err != nil {
		fmt.Fprintf(stderr, "chorus bench: --compare: %v\n", err)
		return 1
	}
	if _, err := bench.Compare(stdout, a, b, cfg.compare[0], cfg.compare[1]); err != nil {
		fmt.Fprintf(stderr, "chorus bench: --compare: %v\n", err)
		return 1
	}
	if cfg.plotPath != "" {
		series := append(bench.SeriesOf("A", a.Rows), bench.SeriesOf("B", b.Rows)...)
		title := fmt.Sprintf("A = %s, B = %s", cfg.compare[0], cfg.compare[1])
		if err := bench.Plot(cfg.plotPath, title, series); err != nil {
			fmt.Fprintf(stderr, "chorus bench: %v\n", err)
			return 1
		}
	}
	return 0
}
