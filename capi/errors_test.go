package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// A panic inside an export must come back as chorusInternalError with the panic's value, never
// unwind into C.
func TestGuardRecoversPanics(t *testing.T) {
	code, msg := guard(func() error { panic("boom in the exporter") })
	require.Equal(t, resInternalError, code)
	require.Contains(t, msg, "boom in the exporter")
	require.Contains(t, msg, "recovered")

	code, msg = guard(func() error {
		var m map[string]int
		m["nil map"] = 1 // a runtime error panics too
		return nil
	})
	require.Equal(t, resInternalError, code)
	require.Contains(t, msg, "nil map")

	code, msg = guard(func() error { return nil })
	require.Equal(t, resSuccess, code)
	require.Empty(t, msg)

	code, msg = guard(func() error { return invalidf("count %d", 7) })
	require.Equal(t, resInvalidArgument, code)
	require.Equal(t, "chorus: invalid argument: count 7", msg)
}

func TestResultOf(t *testing.T) {
	aborted := func() error {
		comms, err := comm.NewLocal(context.Background(), 1, comm.Config{})
		require.NoError(t, err)
		defer comms[0].Close()
		comms[0].Abort(comm.ErrMismatch) // an abort caused by a mismatch is still an abort
		return comms[0].Barrier(context.Background())
	}()
	cases := []struct {
		err  error
		want int
	}{
		{nil, resSuccess},
		{fmt.Errorf("wrapped: %w", comm.ErrInvalid), resInvalidArgument},
		{invalidf("x"), resInvalidArgument},
		{invalidUsage("still running"), resInvalidUsage},
		{fmt.Errorf("open: %w", rendezvous.ErrAuth), resInvalidUsage},
		{fmt.Errorf("set: %w", rendezvous.ErrValueTooLarge), resInvalidArgument},
		{errInProgress, resInProgress},
		{&comm.PeerError{Rank: 2, Op: "allreduce", Err: errors.New("connection reset")}, resRemoteError},
		{&comm.PeerError{Rank: 2, Op: "allreduce", Err: comm.ErrTimeout}, resTimeout},
		{&comm.MismatchError{}, resMismatch},
		{aborted, resAborted},
		{fmt.Errorf("op: %w", comm.ErrClosed), resClosed},
		{context.DeadlineExceeded, resTimeout},
		{errors.New("socket: no route to host"), resSystemError},
	}
	for _, c := range cases {
		require.Equal(t, c.want, resultOf(c.err), "%v", c.err)
	}
}

func TestTypesAndOps(t *testing.T) {
	// NCCL's numbering: ncclInt8=0 ... ncclFloat16=6, ncclFloat32=7, ncclFloat64=8, ncclBfloat16=9.
	want := []comm.DType{comm.Int8, comm.Uint8, comm.Int32, comm.Uint32, comm.Int64, comm.Uint64,
		comm.Float16, comm.Float32, comm.Float64, comm.BFloat16}
	for i, w := range want {
		got, err := dtypeOf(i)
		require.NoError(t, err)
		require.Equal(t, w, got, "type %d", i)
	}
	for _, bad := range []int{-1, 10, math.MaxInt32} {
		_, err := dtypeOf(bad)
		require.ErrorIs(t, err, errInvalid)
	}
	wantOps := []comm.Op{comm.Sum, comm.Prod, comm.Max, comm.Min, comm.Avg}
	for i, w := range wantOps {
		got, err := opOf(i)
		require.NoError(t, err)
		require.Equal(t, w, got, "op %d", i)
	}
	_, err := opOf(5)
	require.ErrorIs(t, err, errInvalid)

	n, err := elems(10, 3, comm.Float64)
	require.NoError(t, err)
	require.Equal(t, 30, n)
	_, err = elems(math.MaxUint64/2, 2, comm.Float32)
	require.ErrorIs(t, err, errInvalid)
	_, err = elems(uint64(math.MaxInt/8)+1, 1, comm.Float64)
	require.ErrorIs(t, err, errInvalid)
}

func TestBuffer(t *testing.T) {
	b, err := buffer(nil, 0, comm.Float32, false, "sendbuff")
	require.NoError(t, err)
	require.Equal(t, 0, b.Len())
	require.Equal(t, comm.Float32, b.DType(), "an empty buffer keeps its type")
	b, err = buffer(nil, 5, comm.Float32, true, "recvbuff")
	require.NoError(t, err)
	require.Equal(t, comm.Buffer{}, b, "an absent buffer is the zero Buffer")
	_, err = buffer(nil, 5, comm.Float32, false, "recvbuff")
	require.ErrorIs(t, err, errInvalid)
	require.Contains(t, err.Error(), "recvbuff is NULL")
}

func TestJoinRefusesBadArguments(t *testing.T) {
	for _, c := range []struct{ size, rank int }{{0, 0}, {2, 2}, {2, -1}} {
		_, err := join(c.size, c.rank, "tcp://127.0.0.1:1", nil, joinOptions{})
		require.ErrorIs(t, err, errInvalid, "size %d rank %d", c.size, c.rank)
	}
	_, err := join(2, 0, "", nil, joinOptions{})
	require.ErrorIs(t, err, errInvalid)
	bad := "allreduce=no-such-algorithm"
	_, err = join(2, 0, "tcp://127.0.0.1:1", nil, joinOptions{algorithms: &bad})
	require.ErrorIs(t, err, comm.ErrInvalid)
}

func TestServeURL(t *testing.T) {
	srv, url, done, err := serve("0.0.0.0:0", []byte("s"))
	require.NoError(t, err)
	require.Regexp(t, `^tcp://127\.0\.0\.1:[0-9]+$`, url, "an unspecified host is dialled as loopback")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := rendezvous.Open(ctx, url, []byte("s"))
	require.NoError(t, err)
	require.NoError(t, st.Set(ctx, "k", []byte("v")))
	v, err := st.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.NoError(t, st.Close())
	require.NoError(t, srv.Close())
	<-done
	_, _, _, err = serve("no-port", nil)
	require.ErrorIs(t, err, errInvalid)
}
