// Package quic is the transport between hosts: one QUIC connection (quic-go) per Conn, TLS 1.3
// with mutual authentication by pinned keys, one unidirectional stream per message.
//
// # Identity and pinning
//
// Every endpoint has an Identity: an ECDSA P-256 key and a self-signed certificate. Both ends
// present their certificate in the handshake (the server requires one), and each checks the
// other's key against Config.Allowed, a set of SHA-256 fingerprints of public keys that the
// upper layer learnt through rendezvous. No certificate authority is involved: a peer is who its
// key says, and TLS 1.3 has it prove that it holds the key. A connection from or to a key not
// allowed fails its handshake on both sides; the listener goes on accepting other peers.
//
// # Messages on the wire
//
// Each Send opens a new unidirectional stream, writes one frame (a 48-byte header carrying the
// tag and the length, then the payload, see encodeHeader) and closes the stream. A stream per
// message makes cancellation exact: a Send whose ctx ends while it writes resets its stream, the
// receiver drops the partial frame, and no other message is touched; a Send that returned nil
// has handed its whole frame to QUIC, which delivers it unless the connection dies. Streams are
// cheap in QUIC (no round trip to open one), and messages are matched by tag, not by order, so
// nothing is lost by not sharing a stream.
//
// On the receiving side, one goroutine accepts streams and one goroutine per stream reads the
// frame into a pooled buffer and hands it to the Conn's transport.Mailbox (DeliverOwned). The
// readers always drain: Send never waits for the receiver, whatever the message size, and
// received messages wait in the receiver's memory until a Recv takes them. Flow control is
// therefore QUIC's windows (below) plus the receiver's memory; the upper layer bounds the data
// in flight (the engine pipelines a few chunks per peer).
//
// A header that announces more than MaxFrame bytes, or is not a Chorus header, closes the
// connection with an error before anything is allocated for it.
//
// # Windows and timeouts
//
// Stream receive windows start at 1 MiB and grow to 16 MiB (MaxFrame: one message may be in
// flight whole); the connection window starts at 4 MiB and grows to 64 MiB. On loopback,
// quic-go moves 0.3-0.5 GB/s whatever the windows (larger ones changed nothing), so these are
// moderate: large enough not to stall a 256 KiB chunk pipeline on a LAN, small enough to bound
// what one connection buffers in quic-go. A dead peer is noticed after Config.IdleTimeout
// (10 s by default); keep-alives every third of it keep a quiet but live connection open.
// UDP socket buffers: quic-go asks the kernel for 7 MiB each way and, where the process may (root
// or CAP_NET_ADMIN), forces it past net.core.rmem_max/wmem_max with SO_RCVBUFFORCE and
// SO_SNDBUFFORCE; elsewhere it logs a warning and gets the sysctl maximum, and the cure is to raise
// net.core.rmem_max and wmem_max to 7340032 on the hosts. Chorus leaves this to quic-go rather than
// choosing another size: on this project's 2-core test machine the stream throughput is bound by
// the CPU (encryption and one system call per ~1.4 KB packet), not by socket buffers; with
// BenchmarkQUICProcesses (comm) a 2-rank all-reduce over this transport reaches 0.84-0.88 of
// plain quic-go's single-stream throughput measured in the same run.
package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/chorus-cc/chorus/transport"
)

// ALPN is the application protocol both ends negotiate.
const ALPN = "chorus/1"

// Flow-control windows and stream limits; see the package documentation.
const (
	initialStreamWindow = 1 << 20
	maxStreamWindow     = MaxFrame
	initialConnWindow   = 4 << 20
	maxConnWindow       = 64 << 20
	// maxIncomingStreams is how many messages a peer may have in flight at once (streams
	// opened and not yet read to their end); a Send beyond it waits for a stream.
	maxIncomingStreams = 1024
)

// Defaults for Config's zero values.
const (
	DefaultIdleTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
)

// Config configures a Transport.
type Config struct {
	// Identity is this endpoint's key and certificate. Nil: New makes a fresh one (NewIdentity).
	Identity *Identity
	// Allowed says whether a peer's key fingerprint (Identity.Fingerprint) may connect, as
	// client or server. It is required: New fails without it. It may be called from many
	// goroutines at once. AllowFingerprints makes one from a list.
	Allowed func(fingerprint [32]byte) bool
	// IdleTimeout is how long a connection stays open without hearing from the peer; a peer that
	// died is noticed after it. Keep-alives are sent every third of it. Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a Dial to an address where nothing answers (ctx may end it sooner).
	// Zero: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// Transport makes QUIC connections between pinned identities. Its methods may be called from
// many goroutines at once.
type Transport struct {
	id        *Identity
	serverTLS *tls.Config
	clientTLS *tls.Config
	quicConf  *quicgo.Config
}

var _ transport.Transport = (*Transport)(nil)

// New returns a Transport for cfg.
func New(cfg Config) (*Transport, error) {
	if cfg.Allowed == nil {
		return nil, errors.New("quic: new transport: Config.Allowed is required (pin the peers' fingerprints)")
	}
	id := cfg.Identity
	if id == nil {
		var err error
		if id, err = NewIdentity(); err != nil {
			return nil, fmt.Errorf("quic: new transport: %w", err)
		}
	}
	idle := cfg.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	handshake := cfg.HandshakeTimeout
	if handshake <= 0 {
		handshake = DefaultHandshakeTimeout
	}
	verify := verifyPin(cfg.Allowed)
	cert := id.Certificate()
	return &Transport{
		id: id,
		serverTLS: &tls.Config{
			MinVersion:            tls.VersionTLS13,
			Certificates:          []tls.Certificate{cert},
			ClientAuth:            tls.RequireAnyClientCert,
			VerifyPeerCertificate: verify,
			NextProtos:            []string{ALPN},
		},
		clientTLS: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			// The server's certificate is self-signed: it is checked by its key's pin in
			// VerifyPeerCertificate instead of a chain of authorities.
			InsecureSkipVerify:    true,
			VerifyPeerCertificate: verify,
			NextProtos:            []string{ALPN},
			ServerName:            "chorus",
		},
		quicConf: &quicgo.Config{
			HandshakeIdleTimeout:           handshake,
			MaxIdleTimeout:                 idle,
			KeepAlivePeriod:                idle / 3,
			InitialStreamReceiveWindow:     initialStreamWindow,
			MaxStreamReceiveWindow:         maxStreamWindow,
			InitialConnectionReceiveWindow: initialConnWindow,
			MaxConnectionReceiveWindow:     maxConnWindow,
			MaxIncomingStreams:             -1, // no bidirectional streams
			MaxIncomingUniStreams:          maxIncomingStreams,
		},
	}, nil
}

// Identity returns the transport's identity.
func (t *Transport) Identity() *Identity { return t.id }

// Listen starts listening for QUIC connections on addr, a UDP "host:port"; "" means
// "127.0.0.1:0" (loopback, a port picked by the system).
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	return t.listen(ctx, addr)
}

// Dial connects to the listener at addr ("host:port") and returns once the listener has
// accepted this endpoint's key (it sends a hello frame when it has). It fails with an error
// wrapping ErrNotAllowed when the listener's key is not allowed here, and with the listener's
// refusal (a TLS alert) when this endpoint's key is not allowed there.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (t *Transport) dial(ctx context.Context, addr string) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("quic: dial %s: %w", addr, err)
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quic: dial %s: %w", addr, err)
	}
	laddr := &net.UDPAddr{}
	if raddr.IP.IsLoopback() {
		laddr.IP = raddr.IP // stay on loopback when the peer is there
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("quic: dial %s: %w", addr, err)
	}
	qtr := &quicgo.Transport{Conn: udp}
	release := func() {
		_ = qtr.Close()
		_ = udp.Close()
	}
	qc, err := qtr.Dial(ctx, raddr, t.clientTLS, t.quicConf)
	if err != nil {
		release()
		return nil, fmt.Errorf("quic: dial %s: %w", addr, dialErr(ctx, err))
	}
	if err := awaitHello(ctx, qc); err != nil {
		_ = qc.CloseWithError(codeClosed, "dial abandoned")
		release()
		return nil, fmt.Errorf("quic: dial %s: %w", addr, dialErr(ctx, err))
	}
	return newConn(qc, "quic dialer to "+addr, release), nil
}

// dialErr says more about a failed handshake.
func dialErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	var te *quicgo.TransportError
	if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() {
		return fmt.Errorf("refused by the peer (is this endpoint's key allowed there?): %w", err)
	}
	return err
}

// awaitHello waits for the hello frame that the accepting side sends on its first stream.
func awaitHello(ctx context.Context, qc *quicgo.Conn) error {
	s, err := qc.AcceptUniStream(ctx)
	if err != nil {
		return fmt.Errorf("waiting for the listener's hello: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var b [headerLen]byte
	if _, err := readFull(s, b[:]); err != nil {
		return fmt.Errorf("reading the listener's hello: %w", err)
	}
	h, err := decodeHeader(b[:])
	if err != nil {
		return fmt.Errorf("reading the listener's hello: %w", err)
	}
	if h.kind != kindHello {
		return fmt.Errorf("the listener's first frame is of kind %d, want hello: %w", h.kind, errBadFrame)
	}
	return nil
}

// sendHello tells the dialer that it was accepted.
func sendHello(qc *quicgo.Conn) error {
	s, err := qc.OpenUniStream()
	if err != nil {
		return fmt.Errorf("quic: hello: %w", err)
	}
	var b [headerLen]byte
	encodeHeader(b[:], hdr{kind: kindHello})
	if _, err := s.Write(b[:]); err != nil {
		return fmt.Errorf("quic: hello: %w", err)
	}
	return s.Close()
}

// Name returns "quic", the transport's name in the topology and in messages.
func (t *Transport) Name() string { return "quic" }
