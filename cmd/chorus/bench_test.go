package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/bench"
	"github.com/chorus-cc/chorus/comm"
)

// benchMainVar makes the test binary act as the chorus command: the ranks that -N starts run
// it with this variable set.
const benchMainVar = "CHORUS_TEST_BENCH_MAIN"

// init turns the test binary into the chorus command for the ranks that TestBenchLaunch
// starts through the launcher. It runs before TestMain, which has child modes of its own.
func init() {
	if os.Getenv(benchMainVar) == "1" {
		os.Exit(dispatch(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
}

// testBenchEnv is an environment for benchMain: vars are the variables it sees; the ranks it
// launches get the test process's environment plus vars and the variables that make the test
// binary act as chorus.
func testBenchEnv(vars map[string]string) benchEnv {
	environ := []string{benchMainVar + "=1", "GORACE=atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; ok || k == "CHORUS_TRANSPORT" || k == "CHORUS_ALGO" || k == "CHORUS_RANK" {
			continue
		}
		environ = append(environ, kv)
	}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return benchEnv{
		getenv:  func(k string) string { return vars[k] },
		environ: environ,
		exe:     func() (string, error) { return os.Args[0], nil },
	}
}

// runBench runs chorus bench with args in env and returns its exit status and output.
func runBench(t *testing.T, env benchEnv, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var out, errOut syncBuffer
	code = benchMain(ctx, args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

var inprocEnv = map[string]string{"CHORUS_TRANSPORT": "inproc"}

// rowRE matches a row of the table: size, count, type, redop, root, then the places.
var rowRE = regexp.MustCompile(`^ +(\d+) +(\d+) +(\S+) +(\S+) +(-?\d+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+)  (\S+) +(\S+)$`)

// tableRows returns the fields of the table rows in out.
func tableRows(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := rowRE.FindStringSubmatch(line)
		require.NotNil(t, m, "not a table row: %q", line)
		rows = append(rows, m[1:])
	}
	return rows
}

func TestBenchFlags(t *testing.T) {
	t.Parallel()
	parse := func(args ...string) benchConfig {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cfg, code, ok := parseBenchFlags(args, &stdout, &stderr)
		require.True(t, ok, "%q: code %d: %s", args, code, stderr.String())
		return cfg
	}
	cfg := parse()
	def := bench.DefaultOptions()
	require.Equal(t, []bench.Collective{bench.AllReduce}, cfg.opts.Collectives)
	require.Equal(t, def.MinBytes, cfg.opts.MinBytes)
	require.Equal(t, def.MaxBytes, cfg.opts.MaxBytes)
	require.True(t, cfg.opts.Check)
	require.False(t, cfg.opts.Shared)
	require.Zero(t, cfg.nprocs)

	cfg = parse("-b", "4K", "allgather", "-e", "64M", "-f", "2", "broadcast", "-n", "7", "-w", "0", "-c", "0",
		"-o", "max,min", "-d", "half,double", "-r", "1", "-a", "max", "-I", "1", "-N", "4", "-A", "ring",
		"--json", "out.json", "--plot", "out.svg", "--faults", "corrupt=0.5,minsize=1K,seed=3", "-R", "1")
	o := cfg.opts
	require.True(t, o.Shared)
	require.Equal(t, []bench.Collective{bench.AllGather, bench.Broadcast}, o.Collectives)
	require.Equal(t, int64(4<<10), o.MinBytes)
	require.Equal(t, int64(64<<20), o.MaxBytes)
	require.Equal(t, int64(2), o.StepFactor)
	require.Equal(t, 7, o.Iters)
	require.Zero(t, o.Warmup)
	require.False(t, o.Check)
	require.True(t, o.PerIter)
	require.Equal(t, []comm.Op{comm.Max, comm.Min}, o.Ops)
	require.Equal(t, []comm.DType{comm.Float16, comm.Float64}, o.Types)
	require.Equal(t, 1, o.Root)
	require.Equal(t, bench.AggMax, o.Aggregate)
	require.Equal(t, 4, cfg.nprocs)
	require.Equal(t, map[string]string{"*": "ring"}, cfg.algos)
	require.Equal(t, cfg.algos, o.Algorithms)
	require.Equal(t, "out.json", cfg.jsonPath)
	require.Equal(t, "out.svg", cfg.plotPath)
	require.Equal(t, 0.5, cfg.faults.Corrupt)
	require.Equal(t, 1024, cfg.faults.MinSize)

	cfg = parse("all", "-b", "1M", "-e", "2G", "-i", "512M", "-d", "all", "-o", "all", "-a", "0")
	require.Len(t, cfg.opts.Collectives, 9)
	require.Equal(t, int64(512<<20), cfg.opts.StepBytes)
	require.Equal(t, []int64{1 << 20, 513 << 20, 1025 << 20, 1537 << 20}, cfg.opts.Sizes())
	require.Len(t, cfg.opts.Types, 10)
	require.Len(t, cfg.opts.Ops, 5)
	require.Equal(t, bench.AggRank0, cfg.opts.Aggregate)

	// -b alone above the default maximum, or -e alone below the default minimum: one size.
	require.Equal(t, []int64{64 << 20}, parse("-b", "64M").opts.Sizes())
	require.Equal(t, []int64{8}, parse("-e", "8").opts.Sizes())
	require.Equal(t, []int64{8}, parse("-b=8", "-e=8").opts.Sizes())

	cfg = parse("--compare", "a.json", "b.json", "--plot", "c.png")
	require.Equal(t, []string{"a.json", "b.json"}, cfg.compare)
	require.Equal(t, "c.png", cfg.plotPath)
}

func TestBenchFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-b", "4Q"}, `size "4Q"`},
		{[]string{"-b", "-1"}, `size "-1"`},
		{[]string{"-e", "1.5M"}, `size "1.5M"`},
		{[]string{"-b", "4K", "-e", "1K"}, "below the minimum"},
		{[]string{"-e", "65G"}, "above the limit"},
		{[]string{"-f", "1"}, "step factor 1"},
		{[]string{"-f", "x"}, "invalid value"},
		{[]string{"-i", "1K", "-f", "2"}, "-i and -f"},
		{[]string{"-i", "0"}, "above 0"},
		{[]string{"-n", "0"}, "0 iterations"},
		{[]string{"-w", "-1"}, "warm-up"},
		{[]string{"-c", "2"}, "want 0 or 1"},
		{[]string{"-I", "yes"}, "want 0 or 1"},
		{[]string{"-o", "xor"}, `unknown reduce op "xor"`},
		{[]string{"-d", "float128"}, `unknown dtype "float128"`},
		{[]string{"-a", "4"}, `unknown aggregate "4"`},
		{[]string{"-r", "-1"}, "root -1"},
		{[]string{"-r", "2", "-N", "2"}, "-r 2 is not a rank of 2"},
		{[]string{"-N", "0"}, "-N must be at least 1"},
		{[]string{"-N", "-2"}, "-N must be at least 1"},
		{[]string{"-A", "bogus"}, `no collective has an algorithm "bogus"`},
		{[]string{"-A", "allreduce=chain"}, `allreduce has no algorithm "chain"`},
		{[]string{"-A", "frobnicate=ring"}, `unknown collective "frobnicate"`},
		{[]string{"-A", ""}, "no algorithm named"},
		{[]string{"allreduc"}, `unknown collective "allreduc"`},
		{[]string{"--plot", "x.gif"}, "must end in"},
		{[]string{"--faults", "corrupt=2"}, "not a probability"},
		{[]string{"--faults", "kill=1"}, `unknown key "kill"`},
		{[]string{"--compare", "a.json"}, "two reports"},
		{[]string{"--compare", "a.json", "b.json", "-n", "3"}, "does not go with --compare"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"-b"}, "flag needs an argument"},
	} {
		var stdout, stderr bytes.Buffer
		code := benchMain(t.Context(), tc.args, testBenchEnv(nil), &stdout, &stderr)
		require.Equal(t, exitUsage, code, "%q: %s", tc.args, stderr.String())
		require.Contains(t, stderr.String(), "chorus bench: ", "%q", tc.args)
		require.Contains(t, stderr.String(), tc.msg, "%q", tc.args)
		require.Contains(t, stderr.String(), "Usage: chorus bench", "%q", tc.args)
		require.Empty(t, stdout.String(), "%q", tc.args)
	}
}

func TestBenchEnvironmentErrors(t *testing.T) {
	t.Parallel()
	inJob := map[string]string{"CHORUS_RANK": "0", "CHORUS_SIZE": "2"}
	code, _, stderr := runBench(t, testBenchEnv(inJob), "-N", "2")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "leave it out when running under a launcher")

	code, _, stderr = runBench(t, testBenchEnv(nil), "-N", "2", "--faults", "corrupt=1")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--faults works with in-process ranks only")

	code, _, stderr = runBench(t, testBenchEnv(inJob), "--faults", "corrupt=1")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--faults works with in-process ranks only")

	code, _, stderr = runBench(t, testBenchEnv(nil), "-r", "1")
	require.Equal(t, exitUsage, code, "one rank has no rank 1")
	require.Contains(t, stderr, "-r 1 is not a rank of 1")
}

func TestBenchHelp(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"-h", "--help", "-help"} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, benchMain(t.Context(), []string{h}, testBenchEnv(nil), &stdout, &stderr))
		for _, flag := range []string{"-b SIZE", "-e SIZE", "-f N", "-i SIZE", "-n N", "-w N", "-c 0|1", "-o OP", "-d TYPE",
			"-r RANK", "-a MODE", "-I 0|1", "-N K", "-A ALGO", "--json FILE", "--plot FILE", "--compare A.json B.json", "--faults SPEC"} {
			require.Contains(t, stdout.String(), flag)
		}
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, dispatch(t.Context(), []string{"help"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "bench ")
}

// TestBenchInProcess runs three ranks in this process (CHORUS_TRANSPORT=inproc) and checks the
// table, the JSON report and the plot.
func TestBenchInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "run.json"), filepath.Join(dir, "run.svg")
	code, stdout, stderr := runBench(t, testBenchEnv(inprocEnv), "allreduce,alltoall", "-N", "3", "-b", "1K", "-e", "64K",
		"-f", "8", "-n", "2", "-w", "1", "-d", "float,int32", "--json", jsonPath, "--plot", plotPath)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Empty(t, stderr)
	require.Contains(t, stdout, "# chorus bench allreduce,alltoall: 3 ranks, transport inproc\n")
	require.Contains(t, stdout, "#  Rank  2 Pid")
	require.Contains(t, stdout, "# Collective: alltoall")
	require.Contains(t, stdout, "# Out of bounds values : 0 OK\n")
	require.Contains(t, stdout, "# Avg bus bandwidth    : ")
	rows := tableRows(t, stdout)
	require.Len(t, rows, 2*2*3) // 2 collectives, 2 types, sizes 1K, 8K and 64K
	for _, r := range rows {
		require.Equal(t, "0", r[8], "out-of-place #wrong")
		require.Equal(t, "0", r[12], "in-place #wrong")
		require.Equal(t, "inproc", r[14])
	}
	require.Equal(t, []string{"1024", "256", "float", "sum", "-1"}, rows[0][:5])
	require.Equal(t, []string{"1020", "85", "float", "none", "-1"}, rows[6][:5], "alltoall: count per pair, size rounded down")
	require.Equal(t, "pairwise", rows[6][13])

	rep, err := bench.ReadJSONFile(jsonPath)
	require.NoError(t, err)
	require.Len(t, rep.Rows, 12)
	require.Equal(t, 3, rep.Config.Ranks)
	require.Equal(t, "inproc", rep.Config.Transport)
	require.Len(t, rep.Ranks, 3)
	require.Zero(t, rep.Wrong)
	require.Contains(t, rep.Command, "--json")
	require.Equal(t, "alltoall", rep.Rows[6].Collective)
	require.Equal(t, int64(1020), rep.Rows[6].Size)
	svg, err := os.ReadFile(plotPath)
	require.NoError(t, err)
	require.Contains(t, string(svg), "<svg")
}

func TestBenchSingleRank(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runBench(t, testBenchEnv(nil), "reduce,sendrecv", "-b", "4K", "-e", "4K", "-n", "1", "-o", "prod")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, ": 1 ranks, transport inproc")
	require.Contains(t, stdout, "# sendrecv skipped: it needs at least 2 ranks")
	rows := tableRows(t, stdout)
	require.Len(t, rows, 1)
	require.Equal(t, []string{"4096", "1024", "float", "prod", "0"}, rows[0][:5])
}

// TestBenchCorruptedData runs ranks whose transport flips a bit in every data message: the
// table counts wrong values, the footer says FAILED, and the exit status is 1.
func TestBenchCorruptedData(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runBench(t, testBenchEnv(inprocEnv), "allreduce", "-N", "2", "-b", "64K", "-e", "256K",
		"-n", "1", "-w", "0", "-d", "int32", "--faults", "corrupt=1,minsize=4K,seed=7")
	require.Equal(t, 1, code, "stderr: %s\nstdout: %s", stderr, stdout)
	require.Contains(t, stdout, "transport inproc+faulty")
	require.Contains(t, stdout, "# faults: seed=7,corrupt=1,minsize=4096\n")
	require.Contains(t, stdout, "FAILED")
	require.Regexp(t, `chorus bench: \d+ wrong values`, stderr)
	rows := tableRows(t, stdout)
	require.Len(t, rows, 2)
	for _, r := range rows {
		require.NotEqual(t, "0", r[8], "out-of-place #wrong of %v", r)
		require.NotEqual(t, "0", r[12], "in-place #wrong of %v", r)
		require.Equal(t, "inproc+faulty", r[14])
	}

	// The same run with corruption of large messages only (none here) passes.
	code, _, stderr = runBench(t, testBenchEnv(inprocEnv), "allreduce", "-N", "2", "-b", "64K", "-e", "256K",
		"-n", "1", "-w", "0", "-d", "int32", "--faults", "corrupt=1,minsize=1G,seed=7")
	require.Equal(t, 0, code, stderr)
}

func TestBenchExitCode(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0, benchExitCode(bench.Summary{Checked: true}, nil))
	require.Equal(t, 1, benchExitCode(bench.Summary{Checked: true, Wrong: 3}, nil))
	require.Equal(t, 1, benchExitCode(bench.Summary{}, errors.New("rank 2 died")))
	require.Equal(t, exitUsage, benchExitCode(bench.Summary{}, fmt.Errorf("x: %w", bench.ErrOptions)))

	var stderr bytes.Buffer
	require.Equal(t, 1, benchExit(&stderr, 0, bench.Summary{Checked: true, Wrong: 5}, nil))
	require.Equal(t, "chorus bench: 5 wrong values\n", stderr.String())
	stderr.Reset()
	require.Equal(t, 1, benchExit(&stderr, 3, bench.Summary{Checked: true, Wrong: 5}, nil))
	require.Empty(t, stderr.String(), "only rank 0 reports the count")
	require.Equal(t, 1, benchExit(&stderr, 3, bench.Summary{}, errors.New("boom")))
	require.Equal(t, "chorus bench: rank 3: boom\n", stderr.String())
}

// TestBenchLaunch runs chorus bench -N 2 as a user would: the launcher starts two ranks (the
// test binary acting as chorus) that meet through the rendezvous store, over shared memory by
// default and over QUIC when CHORUS_TRANSPORT says so; rank 0 prints the table without the
// launcher's rank prefix and writes the JSON report.
func TestBenchLaunch(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"", "quic"} {
		want := tr
		if want == "" {
			want = "shm"
		}
		t.Run(want, func(t *testing.T) {
			var vars map[string]string
			if tr != "" {
				vars = map[string]string{"CHORUS_TRANSPORT": tr}
			}
			jsonPath := filepath.Join(t.TempDir(), want+".json")
			code, stdout, stderr := runBench(t, testBenchEnv(vars), "allreduce", "-N", "2", "-b", "1K", "-e", "16K", "-f", "16",
				"-n", "2", "-w", "1", "--json", jsonPath)
			require.Equal(t, 0, code, "stderr: %s\nstdout: %s", stderr, stdout)
			require.Contains(t, stdout, "# chorus bench allreduce: 2 ranks, transport "+want+"\n")
			require.NotContains(t, stdout, "[rank ")
			rows := tableRows(t, stdout)
			require.Len(t, rows, 2)
			for _, r := range rows {
				require.Equal(t, "0", r[8])
				require.Equal(t, "0", r[12])
				require.Equal(t, want, r[14])
			}
			rep, err := bench.ReadJSONFile(jsonPath)
			require.NoError(t, err)
			require.Len(t, rep.Ranks, 2)
			require.NotEqual(t, rep.Ranks[0].PID, rep.Ranks[1].PID, "the ranks are separate processes")
			// -N binds each rank to a CPU of its own when there are enough (--bind auto).
			cpus, err := usableCPUs()
			require.NoError(t, err)
			if len(cpus) >= 2 {
				require.Equal(t, []string{strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1])}, []string{rep.Ranks[0].CPUs, rep.Ranks[1].CPUs})
			}
			require.Contains(t, rep.Command, "chorus bench allreduce -N 2 ", "the report has the command the user typed")
		})
	}
}

// TestBenchLaunchShared runs chorus bench -N 2 -R 1: the buffers come from comm.Alloc, the
// ranks lend each other messages of 4 MiB, the results are right, and the report says so.
func TestBenchLaunchShared(t *testing.T) {
	t.Parallel()
	jsonPath := filepath.Join(t.TempDir(), "shared.json")
	code, stdout, stderr := runBench(t, testBenchEnv(nil), "allreduce,broadcast", "-N", "2", "-b", "8M", "-e", "8M",
		"-n", "2", "-w", "1", "-R", "1", "--json", jsonPath)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", stderr, stdout)
	rows := tableRows(t, stdout)
	require.Len(t, rows, 2)
	for _, r := range rows {
		require.Equal(t, "0", r[8])
		require.Equal(t, "0", r[12])
		require.Equal(t, "shm", r[14])
	}
	rep, err := bench.ReadJSONFile(jsonPath)
	require.NoError(t, err)
	require.True(t, rep.Config.Shared)
}

func TestBenchCompare(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	for i, p := range paths {
		code, _, stderr := runBench(t, testBenchEnv(inprocEnv), "-N", "2", "-b", "1K", "-e", "4K", "-n", "1", "-w", "0",
			"-A", []string{"ring", "recursive-doubling"}[i], "--json", p)
		require.Equal(t, 0, code, stderr)
	}
	plotPath := filepath.Join(dir, "cmp.png")
	code, stdout, stderr := runBench(t, testBenchEnv(nil), "--compare", paths[0], paths[1], "--plot", plotPath)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "# A: "+paths[0])
	require.Contains(t, stdout, "speed-up")
	require.Contains(t, stdout, "# Rows compared: 2; only in A: 0; only in B: 0")
	require.Regexp(t, `(?m)^ +allreduce +1024 +float +sum +-1 +[0-9.]+ +[0-9.]+ +[0-9.]+`, stdout)
	png, err := os.ReadFile(plotPath)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")))

	code, _, stderr = runBench(t, testBenchEnv(nil), "--compare", paths[0], filepath.Join(dir, "missing.json"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "missing.json")
}

func TestWithoutN(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"allreduce", "-b", "4K"}, withoutN([]string{"allreduce", "-N", "4", "-b", "4K"}))
	require.Equal(t, []string{"-b", "4K"}, withoutN([]string{"-N=4", "-b", "4K", "--N", "2"}))
	require.Equal(t, []string{"-n", "3", "--", "-N", "2"}, withoutN([]string{"-n", "3", "--", "-N", "2"}))
}

func TestRankLines(t *testing.T) {
	t.Parallel()
	var out, tty bytes.Buffer
	p := &progressLine{w: &tty, start: time.Now()}
	stdout := &rankLines{w: &out, tty: p, strip: true}
	stderr := &rankLines{w: &out, tty: p, progress: true}
	_, _ = stderr.Write([]byte("[rank 0] " + progressPrefix + "3/9\n"))
	require.Contains(t, tty.String(), "\r# chorus bench: 3/9 rows")
	require.Empty(t, out.String(), "a progress line goes to the terminal line only")
	tty.Reset()
	_, _ = stdout.Write([]byte("[rank 0]         1024   row\n"))
	require.Equal(t, "\r\x1b[K", tty.String(), "the progress line is cleared before the table goes on")
	_, _ = stderr.Write([]byte("[rank 1] something failed\n"))
	require.Equal(t, "        1024   row\n[rank 1] something failed\n", out.String())

	// Without a terminal, progress lines are dropped and nothing is cleared.
	out.Reset()
	quiet := &rankLines{w: &out, progress: true}
	_, _ = quiet.Write([]byte("[rank 0] " + progressPrefix + "1/2\n"))
	_, _ = quiet.Write([]byte("[rank 0] error\n"))
	require.Equal(t, "[rank 0] error\n", out.String())
}
