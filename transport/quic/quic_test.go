package quic

import (
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/transport"
	"github.com/chorus-cc/chorus/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.RunBackend(t, transporttest.Backend{
		Pair: func(t *testing.T) (a, b transport.Conn) {
			a, b = pair(t)
			return a, b
		},
		Transport: func(t *testing.T) transport.Transport {
			// One transport that allows itself: its listener accepts its own dials.
			id, err := NewIdentity()
			require.NoError(t, err)
			// A short handshake timeout: the suite's last Dial goes to a closed listener, where
			// nothing answers.
			tr, err := New(Config{Identity: id, Allowed: AllowFingerprints(id.Fingerprint()), HandshakeTimeout: time.Second})
			require.NoError(t, err)
			return tr
		},
		RendezvousSize: 0, // every message is buffered at the receiver
	})
}

func TestNewNeedsAllowed(t *testing.T) {
	_, err := New(Config{})
	require.ErrorContains(t, err, "Allowed is required")
	tr, err := New(Config{Allowed: func([32]byte) bool { return true }})
	require.NoError(t, err)
	require.NotNil(t, tr.Identity(), "an identity is made when none is given")
}

func TestIdentity(t *testing.T) {
	a, err := NewIdentity()
	require.NoError(t, err)
	b, err := NewIdentity()
	require.NoError(t, err)
	require.NotEqual(t, a.Fingerprint(), b.Fingerprint())
	require.Len(t, a.String(), 16)
	allowed := AllowFingerprints(a.Fingerprint())
	require.True(t, allowed(a.Fingerprint()))
	require.False(t, allowed(b.Fingerprint()))
	_, err = IdentityFromKey(nil)
	require.Error(t, err)
}

// TestPinning dials with keys the other side does not allow: the handshake fails on both
// sides, with an error that says so, and the listener goes on accepting allowed peers.
func TestPinning(t *testing.T) {
	ctx := t.Context()
	good, err := NewIdentity()
	require.NoError(t, err)
	stranger, err := NewIdentity()
	require.NoError(t, err)
	server, err := New(Config{Identity: good, Allowed: AllowFingerprints(good.Fingerprint())})
	require.NoError(t, err)
	l := listen(t, server)

	t.Run("client key not allowed by the server", func(t *testing.T) {
		// The stranger trusts the server, the server does not trust the stranger.
		tr, err := New(Config{Identity: stranger, Allowed: AllowFingerprints(good.Fingerprint())})
		require.NoError(t, err)
		_, err = tr.Dial(ctx, l.Addr())
		require.Error(t, err)
		require.ErrorContains(t, err, "refused by the peer")
		var te *quicgo.TransportError
		require.ErrorAs(t, err, &te)
		require.True(t, te.Remote)
		require.True(t, te.ErrorCode.IsCryptoError())
	})
	t.Run("server key not allowed by the client", func(t *testing.T) {
		// The stranger's listener is dialled by a client that trusts only itself.
		strangerTr, err := New(Config{Identity: stranger, Allowed: func([32]byte) bool { return true }})
		require.NoError(t, err)
		sl := listen(t, strangerTr)
		_, err = server.Dial(ctx, sl.Addr())
		require.ErrorIs(t, err, ErrNotAllowed)
		require.ErrorContains(t, err, stranger.String(), "the error names the refused key")
	})
	t.Run("listener still accepts allowed peers", func(t *testing.T) {
		d, acc := connect(t, server, l)
		exchange(ctx, t, d, acc, transport.Tag{Seq: 1}, []byte("after the strangers"))
		exchange(ctx, t, acc, d, transport.Tag{Seq: 2}, []byte("and back"))
	})
}

// TestGarbageDatagrams sends random datagrams to the listener's port, from a plain UDP socket:
// the established connection carries messages both ways afterwards.
func TestGarbageDatagrams(t *testing.T) {
	ctx := t.Context()
	ta, tb := newTransports(t)
	l := listen(t, tb)
	d, acc := connect(t, ta, l)
	exchange(ctx, t, d, acc, transport.Tag{Seq: 1}, []byte("before"))

	raddr, err := net.ResolveUDPAddr("udp", l.Addr())
	require.NoError(t, err)
	junk, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, raddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = junk.Close() })
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		b := make([]byte, 1+r.IntN(1400))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%5 == 0 {
			b[0] |= 0xc0 // looks like a long header (an Initial, say)
		}
		_, err := junk.Write(b)
		require.NoError(t, err)
	}

	for i := range 10 {
		msg := make([]byte, 1+r.IntN(300<<10))
		_, _ = crand.Read(msg)
		exchange(ctx, t, d, acc, transport.Tag{Seq: 2, Step: uint32(i)}, msg)
		exchange(ctx, t, acc, d, transport.Tag{Seq: 3, Step: uint32(i)}, msg)
	}
}

// TestAbsurdLength writes a header announcing more than MaxFrame bytes on a raw stream: the
// receiver closes the connection with an error before allocating, and both ends learn of it.
func TestAbsurdLength(t *testing.T) {
	ctx := t.Context()
	d, acc := pair(t)
	noFn := func([]byte) error { return errors.New("fn ran for a bad frame") }
	pending := make(chan error, 1)
	go func() { pending <- acc.Recv(ctx, transport.Tag{Seq: 9}, noFn) }()

	s, err := d.qc.OpenUniStreamSync(ctx)
	require.NoError(t, err)
	b := make([]byte, headerLen)
	encodeHeader(b, hdr{kind: kindData, tag: transport.Tag{Seq: 9}})
	b[44], b[45], b[46], b[47] = 0xff, 0xff, 0xff, 0xff // 4 GiB
	_, err = s.Write(b)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	err = <-pending
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, err, transport.ErrTooLarge)
	require.ErrorContains(t, err, "4294967295 bytes")

	// The sender learns of it too: its calls fail with the receiver's reason.
	err = d.Recv(ctx, transport.Tag{Seq: 10}, noFn)
	require.ErrorIs(t, err, transport.ErrClosed)
	var app *quicgo.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, codeBadFrame, app.ErrorCode)
	require.ErrorContains(t, err, "peer")
	require.ErrorIs(t, d.Send(ctx, transport.Tag{Seq: 11}, []byte("late")), transport.ErrClosed)
}

// TestTooLargeSend refuses to send more than MaxFrame bytes.
func TestTooLargeSend(t *testing.T) {
	d, acc := pair(t)
	require.ErrorIs(t, d.Send(t.Context(), transport.Tag{}, make([]byte, MaxFrame+1)), transport.ErrTooLarge)
	exchange(t.Context(), t, d, acc, transport.Tag{}, []byte("still fine"))
}

// TestCloseNamesPeer checks the error a peer's close gives.
func TestCloseNamesPeer(t *testing.T) {
	d, acc := pair(t)
	require.NoError(t, d.Close())
	err := acc.Recv(t.Context(), transport.Tag{}, func([]byte) error { return nil })
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorContains(t, err, "quic: peer "+acc.RemoteAddr()+" closed")
}

// TestListenerCloseKeepsConns closes a listener: an accepted connection keeps working.
func TestListenerCloseKeepsConns(t *testing.T) {
	ta, tb := newTransports(t)
	l := listen(t, tb)
	d, acc := connect(t, ta, l)
	require.NoError(t, l.Close())
	exchange(t.Context(), t, d, acc, transport.Tag{Seq: 1}, []byte("after the listener closed"))
	exchange(t.Context(), t, acc, d, transport.Tag{Seq: 2}, []byte("both ways"))
}

// TestDuplicateTagClosesConn sends two messages with one tag before any Recv: the receiver
// cannot tell the sender in time, so it closes the connection, and both ends fail with errors
// naming the tag.
func TestDuplicateTagClosesConn(t *testing.T) {
	ctx := t.Context()
	d, acc := pair(t)
	tag := transport.Tag{Seq: 5, Step: 1}
	require.NoError(t, d.Send(ctx, tag, []byte("first")))
	// The second Send may return before the receiver has seen the first; either way the
	// connection ends.
	_ = d.Send(ctx, tag, []byte("second"))
	err := d.Recv(ctx, transport.Tag{Seq: 6}, func([]byte) error { return nil })
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorContains(t, err, tag.String())
	err = acc.Recv(ctx, transport.Tag{Seq: 6}, func([]byte) error { return nil })
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, err, transport.ErrDuplicateTag)
}

// TestErrorMessages logs the errors a user sees, so that a reader of the test output can judge
// them.
func TestErrorMessages(t *testing.T) {
	ctx := t.Context()
	good, err := NewIdentity()
	require.NoError(t, err)
	bad, err := NewIdentity()
	require.NoError(t, err)
	server, err := New(Config{Identity: good, Allowed: AllowFingerprints(good.Fingerprint())})
	require.NoError(t, err)
	l := listen(t, server)
	client, err := New(Config{Identity: bad, Allowed: AllowFingerprints(good.Fingerprint())})
	require.NoError(t, err)
	_, err = client.Dial(ctx, l.Addr())
	require.Error(t, err)
	t.Logf("refused client: %v", err)
	sl := listen(t, client)
	_, err = server.Dial(ctx, sl.Addr())
	require.Error(t, err)
	t.Logf("refused server: %v", err)

	d, acc := pair(t)
	require.NoError(t, d.Close())
	err = acc.Recv(ctx, transport.Tag{Seq: 1}, func([]byte) error { return nil })
	require.ErrorIs(t, err, transport.ErrClosed)
	t.Logf("recv when the peer closes: %v", err)
	err = acc.Send(ctx, transport.Tag{Seq: 1}, nil)
	require.ErrorIs(t, err, transport.ErrClosed)
	t.Logf("send after the peer closed: %v", err)
}
