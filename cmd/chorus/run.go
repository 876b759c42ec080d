package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport/shm"
)

// Exit statuses of chorus run besides the ranks' own.
const (
	// exitTimeout is the status when --timeout expires (as coreutils timeout).
	exitTimeout = 124
	// exitCannotStart is the status when a rank's program cannot be started.
	exitCannotStart = 127
	// exitInterrupted is the status when the context is cancelled without a signal as cause.
	exitInterrupted = 130
)

// defaultGrace is how long the launcher waits after SIGTERM before it sends SIGKILL.
const defaultGrace = 3 * time.Second

// runUsage is the synopsis of chorus run.
const runUsage = `Usage: chorus run -n N [--nnodes K --node-rank I --rdzv HOST:PORT] [--timeout D] -- PROG [ARGS...]

Starts N ranks of PROG on this node. Each gets the parent's environment plus
CHORUS_RANK, CHORUS_SIZE, CHORUS_LOCAL_RANK, CHORUS_LOCAL_SIZE, CHORUS_RDZV and
CHORUS_SECRET. Node 0 (the only node by default) serves the rendezvous store. Each
line a rank writes is prefixed with "[rank R] ". When a rank fails, the others are
stopped and chorus run exits with the failing rank's status (128+signal for a
signal); 124 when --timeout expires; 2 for a usage error.

Flags:
`

// runConfig is a parsed chorus run command line.
type runConfig struct {
	nprocs   int           // ranks on this node (-n)
	nnodes   int           // nodes in the job
	nodeRank int           // this node's index
	rdzv     string        // store address; empty: 127.0.0.1:0 on a single node
	timeout  time.Duration // 0: none
	grace    time.Duration // SIGTERM to SIGKILL
	bind     bindMode      // CPU binding of the local ranks; "" is bindNone
	argv     []string      // program and its arguments
}

// runCmd is `chorus run`: it parses args, launches the ranks with the process's environment
// and returns the exit status.
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code, ok := parseRunFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	return launch(ctx, cfg, os.Environ(), stdout, stderr)
}

// parseRunFlags parses the command line of chorus run. When ok is false the caller returns
// code: 0 after -h, exitUsage after a mistake (already reported on stderr).
func parseRunFlags(args []string, stdout, stderr io.Writer) (cfg runConfig, code int, ok bool) {
	fs := flag.NewFlagSet("chorus run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&cfg.nprocs, "n", 0, "number of ranks on this node (required, at least 1)")
	fs.IntVar(&cfg.nnodes, "nnodes", 1, "number of nodes in the job")
	fs.IntVar(&cfg.nodeRank, "node-rank", 0, "this node's index, 0..nnodes-1")
	fs.StringVar(&cfg.rdzv, "rdzv", "", "rendezvous store host:port; node 0 listens on it (required with --nnodes > 1)")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "stop every rank and exit 124 after this long (0: no limit)")
	bind := fs.String("bind", string(bindNone), "bind each rank to a CPU: none, core (one CPU each, on distinct cores\nwhile they last; an error with more ranks than CPUs), or auto (core when\nevery rank can have one, else none)")
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, runUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fail := func(format string, a ...any) (runConfig, int, bool) {
		fmt.Fprintf(stderr, "chorus run: "+format+"\n\n", a...)
		printUsage(stderr)
		return runConfig{}, exitUsage, false
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return runConfig{}, 0, false
		}
		return fail("%v", err)
	}
	cfg.argv = fs.Args()
	cfg.grace = defaultGrace
	switch {
	case cfg.nprocs < 1:
		return fail("-n must be at least 1 (got %d)", cfg.nprocs)
	case cfg.nnodes < 1:
		return fail("--nnodes must be at least 1 (got %d)", cfg.nnodes)
	case cfg.nodeRank < 0 || cfg.nodeRank >= cfg.nnodes:
		return fail("--node-rank must be in 0..%d (got %d)", cfg.nnodes-1, cfg.nodeRank)
	case cfg.nnodes > 1 && cfg.rdzv == "":
		return fail("--rdzv host:port is required with --nnodes %d", cfg.nnodes)
	case cfg.timeout < 0:
		return fail("--timeout must not be negative (got %v)", cfg.timeout)
	case len(cfg.argv) == 0:
		return fail("no program to run (put it after --)")
	}
	var err error
	if cfg.bind, err = parseBind(*bind); err != nil {
		return fail("%v", err)
	}
	if cfg.rdzv != "" {
		host, port, err := net.SplitHostPort(cfg.rdzv)
		if err != nil {
			return fail("--rdzv %q: %v", cfg.rdzv, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 || (p == 0 && cfg.nnodes > 1) {
			return fail("--rdzv %q: bad port %q", cfg.rdzv, port)
		}
		if unspecifiedHost(host) && cfg.nodeRank != 0 {
			return fail("--rdzv %q: the other nodes need node 0's host name or address", cfg.rdzv)
		}
	}
	return cfg, 0, true
}

// unspecifiedHost reports whether host means "every interface" rather than a host to dial.
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// lookupEnv returns the value of the last key=value entry of env, as exec and the kernel see it.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// rankProc is one launched rank.
type rankProc struct {
	rank   int
	cmd    *exec.Cmd
	out    *linePrefixer
	errOut *linePrefixer
}

// exitStatus is the status of a finished rank.
type exitStatus struct {
	rank int
	code int
}

// launch runs the job described by cfg with env as the base environment of the ranks.
func launch(ctx context.Context, cfg runConfig, env []string, stdout, stderr io.Writer) int {
	var outMu sync.Mutex // one lock for both streams: they may be the same writer
	logf := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stderr, "chorus run: "+format+"\n", a...)
	}

	cpus, err := bindCPUs(cfg.bind, cfg.nprocs)
	if err != nil {
		logf("%v", err)
		return exitUsage
	}

	secret, ok := lookupEnv(env, "CHORUS_SECRET")
	if !ok || secret == "" {
		if cfg.nnodes > 1 {
			logf("--nnodes %d needs the same CHORUS_SECRET on every node: set it in the environment (e.g. CHORUS_SECRET=$(openssl rand -hex 32))", cfg.nnodes)
			return exitUsage
		}
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			logf("making the job secret: %v", err)
			return 1
		}
		secret = hex.EncodeToString(b[:])
	}

	// The store: node 0 serves it; the others only tell their ranks where it is.
	rdzv := cfg.rdzv
	if cfg.nodeRank == 0 {
		listen := cfg.rdzv
		if listen == "" {
			listen = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			logf("rendezvous store: %v", err)
			return 1
		}
		srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: []byte(secret)})
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = srv.Serve(ln) // returns nil after Close; an accept error leaves ranks to time out
		}()
		defer func() {
			_ = srv.Close()
			<-served
		}()
		host, _, _ := net.SplitHostPort(listen)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		if unspecifiedHost(host) {
			host = "127.0.0.1"
		}
		rdzv = net.JoinHostPort(host, port)
	}

	// The ranks' shared-memory sockets go to a directory of this job, removed at the end, so
	// that a rank killed while it listens leaves nothing behind.
	if dir, ok := lookupEnv(env, shm.EnvDir); !ok || dir == "" {
		dir, err := os.MkdirTemp("", "chorus-job-")
		if err != nil {
			logf("making the job's directory: %v", err)
			return 1
		}
		defer os.RemoveAll(dir)
		env = append(append([]string(nil), env...), shm.EnvDir+"="+dir)
	}

	size := cfg.nnodes * cfg.nprocs
	procs := make([]*rankProc, 0, cfg.nprocs)
	done := make(chan exitStatus, cfg.nprocs)
	var wg sync.WaitGroup
	defer wg.Wait()

	// signalAll sends sig to the process group of every rank (its grandchildren included).
	signalAll := func(sig syscall.Signal) {
		for _, p := range procs {
			_ = syscall.Kill(-p.cmd.Process.Pid, sig)
		}
	}
	var killTimer *time.Timer
	stop := func() {
		signalAll(syscall.SIGTERM)
		killTimer = time.AfterFunc(cfg.grace, func() { signalAll(syscall.SIGKILL) })
	}

	for local := range cfg.nprocs {
		rank := cfg.nodeRank*cfg.nprocs + local
		cmd := exec.Command(cfg.argv[0], cfg.argv[1:]...)
		cmd.Env = append(append([]string(nil), env...),
			"CHORUS_RANK="+strconv.Itoa(rank),
			"CHORUS_SIZE="+strconv.Itoa(size),
			"CHORUS_LOCAL_RANK="+strconv.Itoa(local),
			"CHORUS_LOCAL_SIZE="+strconv.Itoa(cfg.nprocs),
			"CHORUS_RDZV="+rdzv,
			"CHORUS_SECRET="+secret,
		)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		prefix := fmt.Sprintf("[rank %d] ", rank)
		p := &rankProc{rank: rank, cmd: cmd,
			out:    &linePrefixer{prefix: prefix, w: stdout, mu: &outMu},
			errOut: &linePrefixer{prefix: prefix, w: stderr, mu: &outMu}}
		cmd.Stdout, cmd.Stderr = p.out, p.errOut
		// A grandchild that keeps the output pipes open must not hold up the launcher.
		cmd.WaitDelay = cfg.grace
		start := cmd.Start
		if cpus != nil {
			start = func() error { return startOn(cmd, cpus[local]) }
		}
		if err := start(); err != nil {
			logf("starting rank %d: %v", rank, err)
			stop()
			for range procs {
				<-done
			}
			killTimer.Stop()
			signalAll(syscall.SIGKILL)
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				return exitCannotStart
			}
			return 1
		}
		procs = append(procs, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cmd.Wait()
			p.out.Flush()
			p.errOut.Flush()
			done <- exitStatus{rank: rank, code: exitCode(cmd.ProcessState)}
		}()
	}

	var timeout <-chan time.Time
	if cfg.timeout > 0 {
		t := time.NewTimer(cfg.timeout)
		defer t.Stop()
		timeout = t.C
	}
	code := 0
	stopping := false
	ctxDone := ctx.Done()
	for remaining := len(procs); remaining > 0; {
		select {
		case st := <-done:
			remaining--
			if st.code != 0 && !stopping {
				stopping = true
				code = st.code
				logf("rank %d exited with code %d; stopping the others", st.rank, st.code)
				stop()
			}
		case <-timeout:
			if !stopping {
				stopping = true
				code = exitTimeout
				logf("timed out after %v; stopping every rank", cfg.timeout)
				stop()
			}
		case <-ctxDone:
			ctxDone = nil
			if !stopping {
				stopping = true
				code = exitInterrupted
				var se signalError
				if errors.As(context.Cause(ctx), &se) {
					if s, ok := se.sig.(syscall.Signal); ok {
						code = 128 + int(s)
					}
				}
				logf("%v; stopping every rank", context.Cause(ctx))
				stop()
			}
		}
	}
	if killTimer != nil {
		killTimer.Stop()
		// Every rank has exited; whatever is left in their groups goes too.
		signalAll(syscall.SIGKILL)
	}
	return code
}

// exitCode is the status of a finished process as a shell reports it: 128+n for signal n.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// linePrefixer writes each complete line written to it, prefixed, to w in one Write under mu,
// so that lines of different ranks never interleave. It keeps a partial line until its
// newline or Flush; lines may be of any length.
type linePrefixer struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte // the pending partial line, without prefix
}

// Write implements io.Writer. It is called by one goroutine at a time (exec's copier).
func (l *linePrefixer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			break
		}
		line := make([]byte, 0, len(l.prefix)+len(l.buf)+i+1)
		line = append(line, l.prefix...)
		line = append(line, l.buf...)
		line = append(line, p[:i+1]...)
		l.buf = l.buf[:0]
		p = p[i+1:]
		l.emit(line)
	}
	return n, nil
}

// Flush writes a pending partial line, ending it with a newline.
func (l *linePrefixer) Flush() {
	if len(l.buf) == 0 {
		return
	}
	line := append(append([]byte(l.prefix), l.buf...), '\n')
	l.buf = nil
	l.emit(line)
}

// emit writes one whole line. Errors of the launcher's own output are ignored: a rank must
// not die because nobody reads the launcher.
func (l *linePrefixer) emit(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(line)
}
