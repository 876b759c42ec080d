package rendezvous

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServerWrongSecretRefused(t *testing.T) {
	logs := &syncBuffer{}
	secret := []byte("right")
	srv, addr := startServer(t, ServerConfig{Secret: secret, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := testCtx(t)

	good := dial(t, addr, secret)
	require.NoError(t, good.Set(ctx, "private", []byte("data")))

	for _, bad := range [][]byte{[]byte("wrong"), nil, []byte("right\x00")} {
		c, err := Dial(ctx, addr, bad, ClientConfig{})
		require.ErrorIs(t, err, ErrAuth, "secret %q", bad)
		require.Nil(t, c)
	}
	// A raw connection with a wrong proof is refused and can read nothing.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.ErrorIs(t, clientHandshake(conn, []byte("wrong")), ErrAuth)
	_ = writeFrame(conn, frame{op: opGet, key: "private"})
	requireClosedByPeer(t, conn)

	// The good client and new good clients are still served.
	v, err := good.Get(ctx, "private")
	require.NoError(t, err)
	require.Equal(t, "data", string(v))
	requireServes(t, addr, secret)

	require.NoError(t, srv.Close())
	require.Contains(t, logs.String(), "authentication failed")
	require.NotContains(t, logs.String(), "right", "the secret is never logged")
}

func TestServerImpostorRefused(t *testing.T) {
	// A server that does not know the secret cannot pass the client's check either.
	_, addr := startServer(t, ServerConfig{Secret: []byte("impostor")})
	_, err := Dial(testCtx(t), addr, []byte("real"), ClientConfig{})
	require.ErrorIs(t, err, ErrAuth)
}

func TestServerNoSecret(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	requireServes(t, addr, nil)
	_, err := Dial(testCtx(t), addr, []byte("some"), ClientConfig{})
	require.ErrorIs(t, err, ErrAuth, "a secret on one side only fails")
}

func TestServerGarbageClosesOnlyThatConnection(t *testing.T) {
	secret := []byte("s")
	header := func(op byte, keyLen uint32, valLen, auxLen uint64) []byte {
		b := []byte{op}
		b = binary.BigEndian.AppendUint32(b, keyLen)
		b = binary.BigEndian.AppendUint64(b, valLen)
		return binary.BigEndian.AppendUint64(b, auxLen)
	}
	cases := []struct {
		name string
		auth bool
		data []byte
	}{
		{"garbage before auth", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + string(make([]byte, 64)))},
		{"garbage after auth", true, []byte("\xde\xad\xbe\xef garbage garbage garbage")},
		{"absurd value length", true, header(opSet, 1, 1<<60, 0)},
		{"absurd aux length", true, header(opCAS, 1, 0, 1<<60)},
		{"value one over the limit", true, header(opSet, 1, MaxValueSize+1, 0)},
		{"key over the limit", true, header(opSet, MaxKeySize+1, 0, 0)},
		{"response op as request", true, header(opOK, 0, 0, 0)},
		{"short body then hang up", true, header(opSet, 3, 10, 0)[:21]},
	}
	_, addr := startServer(t, ServerConfig{Secret: secret})
	good := dial(t, addr, secret)
	ctx := testCtx(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var conn net.Conn
			if tc.auth {
				conn = rawConn(t, addr, secret)
			} else {
				var err error
				conn, err = net.Dial("tcp", addr)
				require.NoError(t, err)
				defer conn.Close()
			}
			_, err := conn.Write(tc.data)
			require.NoError(t, err)
			if tc.name == "short body then hang up" {
				require.NoError(t, conn.(*net.TCPConn).CloseWrite())
			}
			requireClosedByPeer(t, conn)

			n, err := good.Add(ctx, "survived", 1)
			require.NoError(t, err)
			require.EqualValues(t, i+1, n)
		})
	}
	requireServes(t, addr, secret)
}

func TestServerRawProtocol(t *testing.T) {
	// A hand-written client sees the documented answers, including server-side checks that the
	// Client would catch before sending.
	secret := []byte("s")
	_, addr := startServer(t, ServerConfig{Secret: secret})
	conn := rawConn(t, addr, secret)
	roundTrip := func(req frame) frame {
		t.Helper()
		require.NoError(t, writeFrame(conn, req))
		resp, err := readFrame(conn)
		require.NoError(t, err)
		return resp
	}
	require.Equal(t, opOK, roundTrip(frame{op: opSet, key: "k", value: []byte("v")}).op)
	resp := roundTrip(frame{op: opGet, key: "k"})
	require.Equal(t, opOK, resp.op)
	require.Equal(t, "v", string(resp.value))
	resp = roundTrip(frame{op: opSet, key: ""})
	require.Equal(t, opErr, resp.op)
	require.ErrorIs(t, decodeErr(resp), ErrKeyTooLarge)
	resp = roundTrip(frame{op: opAdd, key: "n", value: []byte{1, 2}})
	require.Equal(t, opErr, resp.op)
	require.Contains(t, decodeErr(resp).Error(), "want 8")
	resp = roundTrip(frame{op: opAdd, key: "k", value: make([]byte, 8)})
	require.ErrorIs(t, decodeErr(resp), ErrNotCounter)
}

func TestServerPipelinedBytesDuringWaitClose(t *testing.T) {
	// A client that sends while its Get waits breaks the protocol: the server closes it.
	secret := []byte("s")
	_, addr := startServer(t, ServerConfig{Secret: secret})
	conn := rawConn(t, addr, secret)
	require.NoError(t, writeFrame(conn, frame{op: opGet, key: "never"}))
	require.NoError(t, writeFrame(conn, frame{op: opSet, key: "x"}))
	requireClosedByPeer(t, conn)
	requireServes(t, addr, secret)
}

func TestServerConnectionLimit(t *testing.T) {
	secret := []byte("s")
	_, addr := startServer(t, ServerConfig{Secret: secret, MaxConns: 2})
	ctx := testCtx(t)
	c1 := dial(t, addr, secret)
	c2 := dial(t, addr, secret)
	_, err := Dial(ctx, addr, secret, ClientConfig{})
	require.ErrorIs(t, err, ErrBusy)
	// The two admitted clients are still served.
	require.NoError(t, c1.Set(ctx, "a", []byte("1")))
	v, err := c2.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
}

func TestDialRetriesUntilServerListens(t *testing.T) {
	// Reserve a port, free it, and let Dial fail against it before the server starts.
	ln := listen(t)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	attempts := make(chan error, 100)
	cfg := ClientConfig{DialFunc: func(ctx context.Context, network, a string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, a)
		select {
		case attempts <- err:
		default:
		}
		return conn, err
	}}
	secret := []byte("s")
	type result struct {
		c   *Client
		err error
	}
	done := make(chan result, 1)
	ctx := testCtx(t)
	go func() {
		c, err := Dial(ctx, addr, secret, cfg)
		done <- result{c, err}
	}()
	require.Error(t, <-attempts, "the first attempt finds no server")

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := NewServer(ServerConfig{Secret: secret})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-served)
	}()

	r := <-done
	require.NoError(t, r.err)
	defer r.c.Close()
	require.NoError(t, r.c.Set(ctx, "k", []byte("v")))
}

func TestDialGivesUpWithContext(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithCancel(testCtx(t))
	attempts := make(chan error, 1)
	cfg := ClientConfig{DialFunc: func(ctx context.Context, network, a string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, a)
		select {
		case attempts <- err:
		default:
		}
		return conn, err
	}}
	done := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, addr, nil, cfg)
		done <- err
	}()
	<-attempts
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), addr)
}

func TestClientCloseAbortsWaitingGet(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	c, err := Dial(testCtx(t), addr, nil, ClientConfig{})
	require.NoError(t, err)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := c.Get(testCtx(t), "never")
		done <- err
	}()
	<-started
	require.NoError(t, c.Close())
	require.Error(t, <-done)
}
