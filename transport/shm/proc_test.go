//go:build linux

package shm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

// Multi-process tests re-execute this test binary as the peer: with envChild set, TestMain runs
// that child mode, which dials the address in envAddr, instead of the tests.
const (
	envChild = "CHORUS_SHM_TEST_CHILD"
	envAddr  = "CHORUS_SHM_TEST_ADDR"
	envSize  = "CHORUS_SHM_TEST_SIZE"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

// runChild is a peer process. Modes:
//
//	stream  sends 256 KiB messages (Seq 0, 1, ...) and receives the parent's, until killed
//	idle    waits in Recv for a message that never comes, until killed
//	close   receives one message (Seq 1) and closes the connection
//	sink    receives messages like sinkLoop (size in envSize), until the parent closes
//	echo    sends back every message like echoLoop, until the parent closes
//	netns   prints its network namespace, echoes one message, and closes
func runChild(mode string) int {
	ctx := context.Background()
	if mode == "netns" {
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			fmt.Fprintln(os.Stderr, "netns:", err)
			return 1
		}
		fmt.Println(ns)
	}
	tr := &Transport{}
	tc, err := tr.Dial(ctx, os.Getenv(envAddr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 1
	}
	c := tc.(*Conn)
	defer c.Close()
	nothing := func([]byte) error { return nil }
	switch mode {
	case "stream":
		go func() {
			msg := make([]byte, 256<<10)
			for i := uint64(0); c.Send(ctx, transport.Tag{Seq: i}, msg) == nil; i++ {
			}
		}()
		err = sinkLoop(ctx, c, make([]byte, 256<<10))
	case "idle":
		err = c.Recv(ctx, transport.Tag{Seq: 1 << 60}, nothing)
	case "close":
		err = c.Recv(ctx, transport.Tag{Seq: 1}, nothing)
	case "sink":
		n, _ := strconv.Atoi(os.Getenv(envSize))
		err = sinkLoop(ctx, c, make([]byte, n))
	case "echo":
		err = echoLoop(ctx, c)
	case "netns":
		var msg []byte
		err = c.Recv(ctx, transport.Tag{Seq: 1}, func(p []byte) error {
			msg = append(msg, p...)
			return nil
		})
		if err == nil {
			err = c.Send(ctx, transport.Tag{Seq: 2}, msg)
		}
		if err == nil {
			// Wait for the parent to take the answer: it closes then.
			err = c.Recv(ctx, transport.Tag{Seq: 3}, nothing)
			if errors.Is(err, transport.ErrClosed) {
				err = nil
			}
		}
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil && !errors.Is(err, transport.ErrClosed) {
		fmt.Fprintln(os.Stderr, mode+":", err)
		return 1
	}
	return 0
}

// child is a peer process started by startChild.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	waited         chan error
}

// startChild runs this test binary in mode, dialling addr. The test kills it at the end if it
// still runs.
func startChild(t testing.TB, mode, addr string, attr *syscall.SysProcAttr, env ...string) (*child, error) {
	t.Helper()
	ch := &child{waited: make(chan error, 1)}
	ch.cmd = exec.Command(os.Args[0], "-test.run=^$")
	ch.cmd.Env = append(os.Environ(), append(env, envChild+"="+mode, envAddr+"="+addr)...)
	ch.cmd.Stdout, ch.cmd.Stderr = &ch.stdout, &ch.stderr
	ch.cmd.SysProcAttr = attr
	if err := ch.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { ch.waited <- ch.cmd.Wait() }()
	t.Cleanup(func() {
		_ = ch.cmd.Process.Kill()
		_ = ch.wait()
	})
	return ch, nil
}

// wait waits for the child to exit and returns its error.
func (ch *child) wait() error {
	err := <-ch.waited
	ch.waited <- err
	return err
}

// listenFor listens in a directory of the test's own and accepts one connection from a child
// in mode.
func listenFor(t testing.TB, mode string, attr *syscall.SysProcAttr, env ...string) (*Listener, *Conn, *child, string) {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	tr, err := New(Config{Dir: dir})
	require.NoError(t, err)
	tl, err := tr.Listen(ctx, "")
	require.NoError(t, err)
	l := tl.(*Listener)
	t.Cleanup(func() { _ = l.Close() })
	ch, err := startChild(t, mode, l.Addr(), attr, env...)
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot start the child with %+v: %v", attr, err)
	}
	require.NoError(t, err)
	accepted := make(chan transport.Conn, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	select {
	case c, ok := <-accepted:
		require.True(t, ok, "accept failed")
		t.Cleanup(func() { _ = c.Close() })
		return l, c.(*Conn), ch, dir
	case err := <-ch.waited:
		t.Fatalf("the child exited before connecting: %v\n%s", err, ch.stderr.String())
	}
	return nil, nil, nil, ""
}

// memfds counts this process's open descriptors and mappings of the transport's memfds.
func memfds(t *testing.T) (fds, maps int) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, e := range entries {
		if link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.Contains(link, "memfd:"+memfdName) {
			fds++
		}
	}
	m, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	return fds, strings.Count(string(m), "memfd:"+memfdName)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// settle waits, polling up to a minute, until no more goroutines run than baseline; it returns
// "" then, or the stacks of all goroutines.
func settle(baseline int) string {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if runtime.NumGoroutine() <= baseline {
			return ""
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestPeerKilled kills the peer process with SIGKILL, in the middle of a transfer both ways or
// while this end sleeps in Recv: the pending calls fail at once with transport.ErrClosed, and
// once the connection and the listener are closed, nothing the transport made is left: no
// socket file, nothing new in /dev/shm, no memfd descriptor or mapping, no goroutine.
func TestPeerKilled(t *testing.T) {
	for _, mode := range []string{"stream", "idle"} {
		t.Run(mode, func(t *testing.T) { testPeerKilled(t, mode) })
	}
}

func testPeerKilled(t *testing.T, mode string) {
	baseline := runtime.NumGoroutine()
	shmBefore := dirNames(t, "/dev/shm")
	fds, maps := memfds(t)
	require.Zero(t, fds+maps, "memfds before the test")

	ctx := t.Context()
	l, c, ch, dir := listenFor(t, mode, nil)
	fds, maps = memfds(t)
	require.Zero(t, fds, "no memfd descriptor stays open once connected")
	require.NotZero(t, maps, "the rings are mapped")

	recvErr, sendErr := make(chan error, 1), make(chan error, 1)
	switch mode {
	case "stream":
		going := make(chan struct{})
		go func() {
			buf := make([]byte, 256<<10)
			fn := func(p []byte) error {
				copy(buf, p)
				return nil
			}
			for i := uint64(0); ; i++ {
				if err := c.Recv(ctx, transport.Tag{Seq: i}, fn); err != nil {
					recvErr <- err
					return
				}
				if i == 100 {
					close(going)
				}
			}
		}()
		go func() {
			msg := make([]byte, 256<<10)
			for i := uint64(0); ; i++ {
				if err := c.Send(ctx, transport.Tag{Seq: i}, msg); err != nil {
					sendErr <- err
					return
				}
			}
		}()
		select {
		case <-going:
		case err := <-recvErr:
			_ = ch.cmd.Process.Kill()
			_ = ch.wait()
			t.Fatalf("the stream stopped: %v\n%s", err, ch.stderr.String())
		}
	case "idle":
		go func() { recvErr <- c.Recv(ctx, transport.Tag{Seq: 1}, func([]byte) error { return nil }) }()
		// Kill the child only once this end sleeps on the futex.
		for c.in.ctrl.consSleeping.Load() == 0 {
			require.NoError(t, ctx.Err())
			time.Sleep(time.Millisecond) // polling, bounded by the test's deadline
		}
		sendErr <- transport.ErrClosed // nothing sends in this mode
	}

	require.NoError(t, ch.cmd.Process.Kill())
	err := <-recvErr
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorContains(t, err, "went away without closing")
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, <-sendErr, transport.ErrClosed)
	require.ErrorIs(t, c.Send(ctx, transport.Tag{}, []byte("late")), transport.ErrClosed)
	require.ErrorIs(t, c.Recv(ctx, transport.Tag{}, func([]byte) error { return nil }), transport.ErrClosed)
	require.Error(t, ch.wait(), "the child was killed")

	require.NoError(t, c.Close())
	require.NoError(t, l.Close())
	_, err = os.Stat(l.Addr())
	require.ErrorIs(t, err, os.ErrNotExist, "the socket file")
	require.Empty(t, dirNames(t, dir), "the socket directory")
	require.Equal(t, shmBefore, dirNames(t, "/dev/shm"), "/dev/shm")
	fds, maps = memfds(t)
	require.Zero(t, fds, "memfd descriptors after Close")
	require.Zero(t, maps, "memfd mappings after Close")
	require.Empty(t, settle(baseline), "goroutines left running")
}

// TestPeerCloses has the peer process close the connection while this end waits in Recv.
func TestPeerCloses(t *testing.T) {
	ctx := t.Context()
	_, c, ch, _ := listenFor(t, "close", nil)
	got := make(chan error, 1)
	go func() { got <- c.Recv(ctx, transport.Tag{Seq: 2}, func([]byte) error { return nil }) }()
	require.NoError(t, c.Send(ctx, transport.Tag{Seq: 1}, []byte("bye")))
	err := <-got
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorContains(t, err, "closed the connection")
	require.NoError(t, ch.wait(), ch.stderr.String())
}

// TestNetworkNamespace runs the peer in a network namespace of its own: a socket named by a
// path (not an abstract one) reaches it, and the rings work.
func TestNetworkNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace (CLONE_NEWNET)")
	}
	ctx := t.Context()
	_, c, ch, _ := listenFor(t, "netns", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET})
	msg := fill(12, 100<<10)
	require.NoError(t, c.Send(ctx, transport.Tag{Seq: 1}, msg))
	var back []byte
	require.NoError(t, c.Recv(ctx, transport.Tag{Seq: 2}, func(p []byte) error {
		back = append(back, p...)
		return nil
	}))
	require.Equal(t, msg, back)
	require.NoError(t, c.Close())
	require.NoError(t, ch.wait(), ch.stderr.String())
	mine, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	theirs := strings.TrimSpace(ch.stdout.String())
	require.NotEmpty(t, theirs)
	require.NotEqual(t, mine, theirs, "the child ran in another network namespace")
}
