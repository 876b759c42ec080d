package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// buildDir holds what the tests build: libchorus.so, its header and the C test program.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chorus-capi-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	libOnce sync.Once
	libPath string
	libSkip string // why the library cannot be built here, when it cannot
	libErr  error
)

// library builds libchorus.so with go build -buildmode=c-shared (the thing under test) once
// per test binary and returns its path. It skips where the machine has no go command or no C
// compiler and cannot get one.
func library(t *testing.T) string {
	t.Helper()
	libOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
			if _, err := os.Stat(goTool); err != nil {
				libSkip = "the go command is not on PATH nor in GOROOT: the C ABI is built where it is"
				return
			}
		}
		if reason := ensureTool("gcc", "gcc"); reason != "" {
			libSkip = reason
			return
		}
		path := filepath.Join(buildDir, "libchorus.so")
		cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			libErr = fmt.Errorf("go build -buildmode=c-shared: %v\n%s", err, out)
			return
		}
		libPath = path
	})
	if libSkip != "" {
		t.Skip(libSkip)
	}
	require.NoError(t, libErr)
	return libPath
}

// ensureTool makes sure the command name is on PATH, installing the Debian package pkg with
// apt-get when it is not and this process is root. It returns why it could not, or "".
func ensureTool(name, pkg string) string {
	if _, err := exec.LookPath(name); err == nil {
		return ""
	}
	if os.Geteuid() != 0 {
		return fmt.Sprintf("%s is not installed and installing it needs root (apt-get install -y %s)", name, pkg)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Sprintf("%s is not installed and there is no apt-get to install it", name)
	}
	if out, err := aptInstall(pkg); err != nil {
		return fmt.Sprintf("apt-get install -y %s failed: %v\n%s", pkg, err, out)
	}
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Sprintf("%s is still not on PATH after installing %s", name, pkg)
	}
	return ""
}

// aptInstall installs Debian packages, refreshing the package lists when the first try fails.
func aptInstall(pkgs ...string) ([]byte, error) {
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append([]string{"install", "-y"}, pkgs...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err == nil {
		return out, nil
	}
	if upd, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
		return upd, err
	}
	return install()
}

var (
	progOnce sync.Once
	progPath string
	progErr  error
)

// program compiles testdata/capi_test.c against chorus.h and the library, once.
func program(t *testing.T) string {
	t.Helper()
	lib := library(t)
	progOnce.Do(func() {
		path := filepath.Join(buildDir, "capi_test")
		dir := filepath.Dir(lib)
		cmd := exec.Command("gcc", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", ".", "-o", path,
			filepath.Join("testdata", "capi_test.c"), "-L", dir, "-lchorus", "-lpthread", "-Wl,-rpath,"+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			progErr = fmt.Errorf("gcc: %v\n%s", err, out)
			return
		}
		progPath = path
	})
	require.NoError(t, progErr)
	return progPath
}

// rankProc is one running rank of the C test program.
type rankProc struct {
	rank   int
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// start starts the C program with args and extra environment.
func start(t *testing.T, ctx context.Context, rank int, env []string, args ...string) *rankProc {
	t.Helper()
	p := &rankProc{rank: rank, cmd: exec.CommandContext(ctx, program(t), args...)}
	p.cmd.Env = append(append(os.Environ(), "CHORUS_TIMEOUT=60s"), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// finish waits for p and checks that it exited 0 and said OK.
func (p *rankProc) finish(t *testing.T) {
	t.Helper()
	err := p.cmd.Wait()
	require.NoError(t, err, "rank %d:\nstdout:\n%s\nstderr:\n%s", p.rank, &p.stdout, &p.stderr)
	require.Contains(t, p.stdout.String(), fmt.Sprintf("rank %d: OK", p.rank), "stderr:\n%s", &p.stderr)
}

// serveStore runs a rendezvous server for the test and returns its host:port.
func serveStore(t *testing.T, secret string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: []byte(secret)})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestCRankServesStore runs 3 ranks of the C program: rank 0 serves the store through
// chorusRendezvousServe and prints its URL; the others join through it. Every collective, type,
// the asynchronous calls, argument checks and a mismatch are checked inside the program.
func TestCRankServesStore(t *testing.T) {
	ctx := testContext(t)
	const size, secret = 3, "capi-test-secret"
	prog := program(t)
	r0 := &rankProc{rank: 0, cmd: exec.CommandContext(ctx, prog, "serve", "0", strconv.Itoa(size), secret)}
	r0.cmd.Env = append(os.Environ(), "CHORUS_TIMEOUT=60s")
	r0.cmd.Stderr = &r0.stderr
	pipe, err := r0.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, r0.cmd.Start())
	t.Cleanup(func() {
		if r0.cmd.ProcessState == nil {
			_ = r0.cmd.Process.Kill()
			_ = r0.cmd.Wait()
		}
	})
	lines := bufio.NewScanner(pipe)
	require.True(t, lines.Scan(), "rank 0 printed no URL: %s", &r0.stderr)
	url, ok := strings.CutPrefix(lines.Text(), "URL ")
	require.True(t, ok, "rank 0's first line: %q", lines.Text())
	require.True(t, strings.HasPrefix(url, "tcp://127.0.0.1:"), url)
	var rest []*rankProc
	for r := 1; r < size; r++ {
		rest = append(rest, start(t, ctx, r, nil, "url", strconv.Itoa(r), strconv.Itoa(size), url, secret))
	}
	for lines.Scan() {
		r0.stdout.WriteString(lines.Text() + "\n")
	}
	r0.finish(t)
	for _, p := range rest {
		p.finish(t)
	}
}

// TestCInitFromEnv runs 2 ranks that join through chorusCommInitFromEnv, as under `chorus run`.
func TestCInitFromEnv(t *testing.T) {
	ctx := testContext(t)
	const secret = "env-secret"
	addr := serveStore(t, secret)
	var ranks []*rankProc
	for r := range 2 {
		env := []string{"CHORUS_RANK=" + strconv.Itoa(r), "CHORUS_SIZE=2", "CHORUS_RDZV=" + addr, "CHORUS_SECRET=" + secret}
		ranks = append(ranks, start(t, ctx, r, env, "env"))
	}
	for _, p := range ranks {
		p.finish(t)
	}
}

// TestCAbort: rank 0 aborts with a reason; rank 1's next collective fails with chorusAborted
// and a last error that quotes the reason (checked inside the program).
func TestCAbort(t *testing.T) {
	ctx := testContext(t)
	const secret = "abort-secret"
	url := "tcp://" + serveStore(t, secret)
	r0 := &rankProc{rank: 0, cmd: exec.CommandContext(ctx, program(t), "abort", "0", "2", url, secret)}
	r0.cmd.Env = os.Environ()
	r0.cmd.Stdout, r0.cmd.Stderr = &r0.stdout, &r0.stderr
	stdin, err := r0.cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, r0.cmd.Start())
	t.Cleanup(func() {
		if r0.cmd.ProcessState == nil {
			_ = r0.cmd.Process.Kill()
			_ = r0.cmd.Wait()
		}
	})
	r1 := start(t, ctx, 1, nil, "abort", "1", "2", url, secret)
	r1.finish(t)
	require.NoError(t, stdin.Close()) // rank 0 stays up until rank 1 has heard the notice
	r0.finish(t)
	require.Contains(t, r0.stdout.String(), "ABORTED")
}

// TestHeaderMatchesLibrary checks that chorus.h declares every function the library exports
// and nothing it does not, and that the header compiles as C++ too.
func TestHeaderMatchesLibrary(t *testing.T) {
	lib := library(t)
	header, err := os.ReadFile("chorus.h")
	require.NoError(t, err)
	declared := map[string]bool{}
	for _, line := range strings.Split(string(header), "\n") {
		for _, prefix := range []string{"chorusResult_t chorus", "const char* chorus"} {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				name, _, _ := strings.Cut(rest, "(")
				declared["chorus"+name] = true
			}
		}
	}
	out, err := exec.Command("nm", "-D", "--defined-only", lib).CombinedOutput()
	if err != nil {
		t.Skipf("nm cannot list the library's symbols: %v\n%s", err, out)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "T" && strings.HasPrefix(f[2], "chorus") {
			exported[f[2]] = true
		}
	}
	require.Equal(t, declared, exported, "chorus.h and libchorus.so disagree")
	require.Len(t, exported, 50)
	if _, err := exec.LookPath("g++"); err == nil {
		cmd := exec.Command("g++", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", ".", "-x", "c++", "-")
		cmd.Stdin = strings.NewReader("#include \"chorus.h\"\nint main() { chorusComm_t c = nullptr; return chorusCommDestroy(c); }\n")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "chorus.h as C++:\n%s", out)
	}
}
