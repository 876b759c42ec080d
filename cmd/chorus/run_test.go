package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/topology"
)

// childModeVar selects what the test binary does when the launcher runs it as a rank.
const childModeVar = "CHORUS_TEST_CHILD"

// pidDirVar names a directory where children record their pids (file "pid.<rank>").
const pidDirVar = "CHORUS_TEST_PIDDIR"

// longLine is the length of the long line the "print" child writes.
const longLine = 100 << 10

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeVar); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child is the test binary acting as a rank; it returns its exit status.
func child(mode string) int {
	job, err := rendezvous.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 10
	}
	if dir := os.Getenv(pidDirVar); dir != "" {
		if err := recordPid(filepath.Join(dir, "pid."+strconv.Itoa(job.Rank)), os.Getpid()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 11
		}
	}
	switch mode {
	case "print":
		fmt.Printf("rank=%s size=%s local_rank=%s local_size=%s rdzv=%t secret=%t\n",
			os.Getenv("CHORUS_RANK"), os.Getenv("CHORUS_SIZE"), os.Getenv("CHORUS_LOCAL_RANK"),
			os.Getenv("CHORUS_LOCAL_SIZE"), os.Getenv("CHORUS_RDZV") != "", os.Getenv("CHORUS_SECRET") != "")
		fmt.Fprintf(os.Stderr, "to stderr\n")
		fmt.Printf("long:%s\n", strings.Repeat("x", longLine))
		fmt.Print("partial")
		return 0
	case "store", "fail", "ready":
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		st, err := rendezvous.Open(ctx, job.URL(), job.Secret)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 12
		}
		defer st.Close()
		// Everyone adds, the last one sets "go", everyone waits for it: the store stays up
		// (and every rank is running) until all ranks got here.
		n, err := st.Add(ctx, "count", 1)
		if err == nil && n == int64(job.Size) {
			err = st.Set(ctx, "go", []byte("1"))
		}
		if err == nil {
			err = st.Wait(ctx, "go")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 13
		}
		fmt.Printf("count=%d size=%d\n", n, job.Size)
		if mode == "store" {
			return 0
		}
		if mode == "fail" && job.Rank == 1 {
			return 3
		}
		fmt.Println("ready")
		time.Sleep(time.Hour) // blocked until the launcher kills it
		return 0
	case "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour)
		return 0
	case "stubborn":
		// Ignores SIGTERM, so only the launcher's SIGKILL after the grace period stops it.
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
		return 0
	case "parent":
		// Starts a grandchild in the same process group and records its pid.
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childModeVar+"=block", pidDirVar+"=")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 15
		}
		if err := recordPid(filepath.Join(os.Getenv(pidDirVar), "gpid."+strconv.Itoa(job.Rank)), cmd.Process.Pid); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 11
		}
		fmt.Println("ready")
		_ = cmd.Wait()
		return 0
	case "affinity":
		// The CPUs this rank may run on, and its Ps.
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 16
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				fmt.Printf("cpus=%s env=%s procs=%d\n", strings.TrimSpace(v), os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0))
			}
		}
		return 0
	case "block":
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
	return 14
}

// recordPid writes pid to the file name, which appears whole or not at all: the launcher may
// kill this process at any moment (a test's timeout), and an empty pid file would fail the test.
func recordPid(name string, pid int) error {
	tmp := filepath.Join(filepath.Dir(name), "writing."+strconv.Itoa(pid)) // not matched by "*pid.*"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// syncBuffer is a bytes.Buffer safe for concurrent use, which can report when it holds n
// lines ending in "ready".
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	want    int
	readyCh chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.readyCh != nil && strings.Count(s.b.String(), "] ready\n") >= s.want {
		close(s.readyCh)
		s.readyCh = nil
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// childEnv is the test process's environment plus the child mode and pid directory.
func childEnv(mode, pidDir string, extra ...string) []string {
	// GORACE: a race-enabled child otherwise sleeps 1 s at exit.
	env := append(os.Environ(), childModeVar+"="+mode, pidDirVar+"="+pidDir, "GORACE=atexit_sleep_ms=0")
	return append(env, extra...)
}

// testConfig parses args as chorus run would, running the test binary as the program.
func testConfig(t *testing.T, args ...string) runConfig {
	t.Helper()
	var stderr bytes.Buffer
	cfg, code, ok := parseRunFlags(append(args, "--", os.Args[0]), &stderr, &stderr)
	require.True(t, ok, "code %d: %s", code, stderr.String())
	cfg.grace = 500 * time.Millisecond
	return cfg
}

// requireDead checks that every pid recorded in dir (files pid.* and gpid.*) belongs to no
// live process any more: gone, or a zombie that only waits for a reaper (a grandchild
// reparented to a container's init that does not reap).
func requireDead(t *testing.T, dir string, want int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*pid.*"))
	require.NoError(t, err)
	require.Len(t, files, want)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		pid, err := strconv.Atoi(string(b))
		require.NoError(t, err)
		// A killed process dies asynchronously: wait (at most 10 s) until it has exited. A pidfd
		// becomes readable when its process exits, so this is a wait on the event, not a sleep.
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10_000)
			_ = unix.Close(fd)
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		// The state follows the command name in parentheses: "pid (comm) S ...".
		i := bytes.LastIndexByte(stat, ')')
		require.Positive(t, i)
		require.Equal(t, "Z", strings.Fields(string(stat[i+1:]))[0], "pid %d of %s still runs", pid, f)
	}
}

// linesOf returns the lines of s with prefix "[rank R] ", by rank.
func linesOf(t *testing.T, s string) map[int][]string {
	t.Helper()
	re := regexp.MustCompile(`^\[rank (\d+)\] (.*)$`)
	out := map[int][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		m := re.FindStringSubmatch(line)
		require.NotNil(t, m, "line without a rank prefix: %.100q", line)
		r, _ := strconv.Atoi(m[1])
		out[r] = append(out[r], m[2])
	}
	return out
}

func TestRunPrint(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	code := launch(t.Context(), testConfig(t, "-n", "3"), childEnv("print", t.TempDir()), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())

	out := linesOf(t, stdout.String())
	require.Len(t, out, 3)
	for r := range 3 {
		lines := out[r]
		require.Len(t, lines, 3, "rank %d", r)
		require.Equal(t, fmt.Sprintf("rank=%d size=3 local_rank=%d local_size=3 rdzv=true secret=true", r, r), lines[0])
		require.Equal(t, "long:"+strings.Repeat("x", longLine), lines[1])
		require.Equal(t, "partial", lines[2])
	}
	errs := linesOf(t, stderr.String())
	require.Len(t, errs, 3)
	for r := range 3 {
		require.Equal(t, []string{"to stderr"}, errs[r])
	}
}

func TestRunStore(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	code := launch(t.Context(), testConfig(t, "-n", "3"), childEnv("store", t.TempDir()), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	var counts []string
	for r, lines := range linesOf(t, stdout.String()) {
		require.Len(t, lines, 1, "rank %d", r)
		counts = append(counts, lines[0])
	}
	sort.Strings(counts)
	require.Equal(t, []string{"count=1 size=3", "count=2 size=3", "count=3 size=3"}, counts)
}

func TestRunFailingRankStopsOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr syncBuffer
	code := launch(t.Context(), testConfig(t, "-n", "3"), childEnv("fail", dir), &stdout, &stderr)
	require.Equal(t, 3, code, stderr.String())
	require.Contains(t, stderr.String(), "chorus run: rank 1 exited with code 3; stopping the others\n")
	requireDead(t, dir, 3)
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr syncBuffer
	code := launch(t.Context(), testConfig(t, "-n", "2", "--timeout", "300ms"), childEnv("block", dir), &stdout, &stderr)
	require.Equal(t, exitTimeout, code, stderr.String())
	require.Contains(t, stderr.String(), "timed out")
	files, _ := filepath.Glob(filepath.Join(dir, "pid.*"))
	requireDead(t, dir, len(files))
}

func TestRunCancelForwardsTermination(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stdout := &syncBuffer{want: 2, readyCh: make(chan struct{})}
	ready := stdout.readyCh
	var stderr syncBuffer
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	go func() {
		<-ready
		cancel(signalError{syscall.SIGTERM})
	}()
	code := launch(ctx, testConfig(t, "-n", "2"), childEnv("ready", dir), stdout, &stderr)
	require.Equal(t, 128+int(syscall.SIGTERM), code, stderr.String())
	requireDead(t, dir, 2)
}

func TestRunStubbornRankGetsKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stdout := &syncBuffer{want: 2, readyCh: make(chan struct{})}
	ready := stdout.readyCh
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cancelled time.Time
	go func() {
		<-ready
		cancelled = time.Now()
		cancel()
	}()
	cfg := testConfig(t, "-n", "2")
	code := launch(ctx, cfg, childEnv("stubborn", dir), stdout, &stderr)
	require.Equal(t, exitInterrupted, code, stderr.String())
	require.GreaterOrEqual(t, time.Since(cancelled), cfg.grace, "stopped before the grace period: SIGTERM was not ignored")
	requireDead(t, dir, 2)
}

func TestRunGrandchildrenGetKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stdout := &syncBuffer{want: 2, readyCh: make(chan struct{})}
	ready := stdout.readyCh
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-ready
		cancel()
	}()
	code := launch(ctx, testConfig(t, "-n", "2"), childEnv("parent", dir), stdout, &stderr)
	require.Equal(t, exitInterrupted, code, stderr.String())
	requireDead(t, dir, 4)
}

func TestRunMultiNode(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	env := childEnv("store", t.TempDir(), "CHORUS_SECRET=shared-secret")
	var (
		wg     sync.WaitGroup
		codes  [2]int
		stdout [2]syncBuffer
		stderr [2]syncBuffer
	)
	for node := range 2 {
		cfg := testConfig(t, "-n", "2", "--nnodes", "2", "--node-rank", strconv.Itoa(node), "--rdzv", addr, "--timeout", "60s")
		wg.Go(func() { codes[node] = launch(t.Context(), cfg, env, &stdout[node], &stderr[node]) })
	}
	wg.Wait()
	var counts []string
	for node := range 2 {
		require.Equal(t, 0, codes[node], "node %d: %s", node, stderr[node].String())
		out := linesOf(t, stdout[node].String())
		ranks := []int{}
		for r, lines := range out {
			ranks = append(ranks, r)
			require.Len(t, lines, 1)
			counts = append(counts, lines[0])
		}
		sort.Ints(ranks)
		require.Equal(t, []int{2 * node, 2*node + 1}, ranks)
	}
	sort.Strings(counts)
	require.Equal(t, []string{"count=1 size=4", "count=2 size=4", "count=3 size=4", "count=4 size=4"}, counts)
}

func TestRunMultiNodeNeedsSecret(t *testing.T) {
	t.Parallel()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_SECRET=") {
			env = append(env, kv)
		}
	}
	var stdout, stderr syncBuffer
	cfg := testConfig(t, "-n", "1", "--nnodes", "2", "--rdzv", "127.0.0.1:1")
	require.Equal(t, exitUsage, launch(t.Context(), cfg, env, &stdout, &stderr))
	require.Contains(t, stderr.String(), "CHORUS_SECRET")
}

func TestRunFlagErrors(t *testing.T) {
	t.Parallel()
	prog := os.Args[0]
	for _, args := range [][]string{
		{"--", prog},
		{"-n", "0", "--", prog},
		{"-n", "x", "--", prog},
		{"-n", "2"},
		{"-n", "2", "--bogus", "--", prog},
		{"-n", "2", "--nnodes", "2", "--", prog},
		{"-n", "2", "--nnodes", "2", "--node-rank", "2", "--rdzv", "h:1", "--", prog},
		{"-n", "2", "--nnodes", "2", "--node-rank", "1", "--rdzv", ":1", "--", prog},
		{"-n", "2", "--rdzv", "nope", "--", prog},
		{"-n", "2", "--timeout", "-1s", "--", prog},
		{"-n", "2", "--bind", "socket", "--", prog},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, exitUsage, runCmd(t.Context(), args, &stdout, &stderr), "%q", args)
		require.Contains(t, stderr.String(), "chorus run: ", "%q", args)
		require.Contains(t, stderr.String(), "Usage: chorus run", "%q", args)
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, runCmd(t.Context(), []string{"-h"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "--nnodes")
}

func TestRunMissingProgram(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := runCmd(t.Context(), []string{"-n", "2", "--", filepath.Join(t.TempDir(), "no-such-program")}, &stdout, &stderr)
	require.Equal(t, exitCannotStart, code)
	require.Contains(t, stderr.String(), "starting rank 0")
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitUsage, dispatch(t.Context(), nil, &stdout, &stderr))
	require.Contains(t, stderr.String(), "run ")

	stdout.Reset()
	require.Equal(t, 0, dispatch(t.Context(), []string{"help"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "Subcommands:")
	require.Contains(t, stdout.String(), "run ")

	stderr.Reset()
	require.Equal(t, exitUsage, dispatch(t.Context(), []string{"frobnicate"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), `unknown subcommand "frobnicate"`)

	stderr.Reset()
	require.Equal(t, exitUsage, dispatch(t.Context(), []string{"run", "-n", "0", "--", "x"}, &stdout, &stderr))
}

func TestLinePrefixer(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	l := &linePrefixer{prefix: "[rank 7] ", w: &buf, mu: &mu}
	for _, s := range []string{"a", "b\nc\n", "", "\n", "d\ne"} {
		n, err := l.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	l.Flush()
	l.Flush()
	require.Equal(t, "[rank 7] ab\n[rank 7] c\n[rank 7] \n[rank 7] d\n[rank 7] e\n", buf.String())
}

func TestRunRankKilledBySignal(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	code := launch(t.Context(), testConfig(t, "-n", "1"), childEnv("kill", t.TempDir()), &stdout, &stderr)
	require.Equal(t, 128+int(syscall.SIGKILL), code, stderr.String())
	require.Contains(t, stderr.String(), "rank 0 exited with code 137")
}

// affinityOf runs n ranks in mode "affinity" with extra flags and returns each rank's line.
func affinityOf(t *testing.T, n int, flags ...string) (lines []string, code int, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	args := append([]string{"-n", strconv.Itoa(n)}, flags...)
	env := slices.DeleteFunc(childEnv("affinity", ""), func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") })
	code = launch(t.Context(), testConfig(t, args...), env, &out, &errOut)
	if code != 0 {
		return nil, code, errOut.String()
	}
	byRank := linesOf(t, out.String())
	for r := range n {
		require.Len(t, byRank[r], 1, "rank %d", r)
		lines = append(lines, byRank[r][0])
	}
	return lines, code, errOut.String()
}

// unbound is the start of the line of a rank with the launcher's own affinity and no
// GOMAXPROCS set (its Ps follow: as many as Go takes from the affinity and the cgroup).
func unbound(t *testing.T) string {
	cpus, err := usableCPUs()
	require.NoError(t, err)
	return "cpus=" + topology.NewCPUSet(cpus...).String() + " env= procs="
}

func TestRunBindCore(t *testing.T) {
	t.Parallel()
	cpus, err := usableCPUs()
	require.NoError(t, err)
	n := min(2, len(cpus))
	lines, code, stderr := affinityOf(t, n, "--bind", "core")
	require.Equal(t, 0, code, stderr)
	for r, line := range lines {
		// Rank r alone on the r-th CPU of the launcher's set, with the one P that Go takes
		// from that affinity: the launcher sets no GOMAXPROCS.
		require.Equal(t, fmt.Sprintf("cpus=%d env= procs=1", cpus[r]), line, "rank %d", r)
	}
	if n == 2 {
		require.NotEqual(t, lines[0], lines[1])
	}
}

func TestRunBindNoneAndAuto(t *testing.T) {
	t.Parallel()
	cpus, err := usableCPUs()
	require.NoError(t, err)
	// Without --bind, and with auto when there are more ranks than CPUs, the ranks keep the
	// launcher's affinity.
	for _, flags := range [][]string{nil, {"--bind", "none"}, {"--bind", "auto"}} {
		n := 2
		if len(flags) > 0 && flags[1] == "auto" {
			n = len(cpus) + 1
		}
		lines, code, stderr := affinityOf(t, n, flags...)
		require.Equal(t, 0, code, stderr)
		for r, line := range lines {
			require.True(t, strings.HasPrefix(line, unbound(t)), "%q rank %d: %s", flags, r, line)
		}
	}
	// auto binds when every rank can have a CPU.
	lines, code, stderr := affinityOf(t, 1, "--bind", "auto")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, []string{fmt.Sprintf("cpus=%d env= procs=1", cpus[0])}, lines)
}

func TestRunBindCoreNeedsACPUPerRank(t *testing.T) {
	t.Parallel()
	cpus, err := usableCPUs()
	require.NoError(t, err)
	_, code, stderr := affinityOf(t, len(cpus)+1, "--bind", "core")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, fmt.Sprintf("--bind core: %d ranks on this node but only %d CPUs", len(cpus)+1, len(cpus)))
}

func TestSpreadOverCores(t *testing.T) {
	t.Parallel()
	// Eight CPUs, hyperthread siblings 4 apart (core = cpu mod 4), as many x86 machines number them.
	apart := func(c int) (cpuCore, bool) { return cpuCore{0, c % 4}, true }
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7}, spreadOverCores([]int{0, 1, 2, 3, 4, 5, 6, 7}, apart))
	// Siblings next to each other (core = cpu / 2): one CPU of every core first.
	adjacent := func(c int) (cpuCore, bool) { return cpuCore{0, c / 2}, true }
	require.Equal(t, []int{0, 2, 4, 6, 1, 3, 5, 7}, spreadOverCores([]int{7, 6, 5, 4, 3, 2, 1, 0}, adjacent))
	// Two packages whose core ids restart, and an affinity that leaves some CPUs out.
	twoPkgs := func(c int) (cpuCore, bool) { return cpuCore{c / 4, c % 2}, true }
	require.Equal(t, []int{0, 1, 5, 2, 3, 7}, spreadOverCores([]int{0, 1, 2, 3, 5, 7}, twoPkgs))
	// CPUs whose core is unknown count as cores of their own.
	unknown := func(c int) (cpuCore, bool) { return cpuCore{}, false }
	require.Equal(t, []int{3, 9}, spreadOverCores([]int{9, 3}, unknown))
}
