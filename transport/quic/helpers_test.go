package quic

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
)

// newTransports returns two transports that allow each other's keys.
func newTransports(t testing.TB) (a, b *Transport) {
	t.Helper()
	ida, err := NewIdentity()
	require.NoError(t, err)
	idb, err := NewIdentity()
	require.NoError(t, err)
	allowed := AllowFingerprints(ida.Fingerprint(), idb.Fingerprint())
	a, err = New(Config{Identity: ida, Allowed: allowed})
	require.NoError(t, err)
	b, err = New(Config{Identity: idb, Allowed: allowed})
	require.NoError(t, err)
	return a, b
}

// listen starts a listener on loopback that is closed when the test ends.
func listen(t testing.TB, tr *Transport) *Listener {
	t.Helper()
	l, err := tr.listen(t.Context(), "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// connect dials l from tr and accepts: dialer and acceptor, closed when the test ends.
func connect(t testing.TB, tr *Transport, l *Listener) (dialer, acceptor *Conn) {
	t.Helper()
	ctx := t.Context()
	d, err := tr.dial(ctx, l.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	acc, err := l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = acc.Close() })
	return d, acc.(*Conn)
}

// pair returns the two ends of a new connection between pinned identities.
func pair(t *testing.T) (a, b *Conn) {
	t.Helper()
	ta, tb := newTransports(t)
	return connect(t, ta, listen(t, tb))
}

// exchange sends msg from one end and checks that the other receives it.
func exchange(ctx context.Context, t *testing.T, from, to transport.Conn, tag transport.Tag, msg []byte) {
	t.Helper()
	require.NoError(t, from.Send(ctx, tag, msg))
	var got []byte
	require.NoError(t, to.Recv(ctx, tag, func(p []byte) error {
		got = append(got[:0], p...)
		return nil
	}))
	require.Equal(t, msg, got)
}
