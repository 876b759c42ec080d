package comm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport/quic"
	"github.com/chorus-cc/chorus/transport/shm"
)

// InitFromEnv joins the job that the environment describes, as `chorus run`, torchrun, Slurm or
// Open MPI set it up: rank, size and the store's address come from rendezvous.FromEnv (CHORUS_*
// first; see comm/rendezvous for the precedence), the job secret from CHORUS_SECRET. Ranks on one
// host talk through shared memory (transport/shm, its sockets in CHORUS_SHM_DIR or the temporary
// directory), ranks on different hosts over QUIC; CHORUS_TRANSPORT=quic or shm forces one for
// every pair. Over QUIC, each rank makes its own key, publishes the key's fingerprint through the
// (authenticated) store, and accepts connections only from keys published there.
//
// Under torchrun, Slurm or Open MPI without CHORUS_RDZV, the store is at MASTER_ADDR and
// MASTER_PORT+1, and rank 0 serves it itself for the life of its communicator (MASTER_PORT is
// torchrun's own store). Set CHORUS_SECRET in the job's environment to authenticate it.
//
// The rank listens on CHORUS_LISTEN (host:port) when set, otherwise on the local address of the
// interface that reaches the store, port chosen by the system.
func InitFromEnv(ctx context.Context, cfg Config) (*Comm, error) {
	job, err := rendezvous.FromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("chorus: init from environment: %w", err)
	}
	return Join(ctx, "env://", job.Secret, Member{Rank: job.Rank, Size: job.Size}, cfg)
}

// serveStore serves the job's store from this process at job.Addr (see listenStore), for
// clients holding secret (none: anyone who reaches the port), and returns the function that
// stops it.
func serveStore(job rendezvous.Job, secret []byte) (func(), error) {
	ln, err := listenStore(job.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve the store (MASTER_PORT+1): %w", err)
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: secret})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // nil after Close; an accept error leaves the others to time out
	}()
	return func() { _ = srv.Close(); <-done }, nil
}

// listenStore listens for the store's clients at addr (MASTER_ADDR:MASTER_PORT+1): on the
// address MASTER_ADDR names where it is one of this host's (127.0.0.1 keeps the store on the
// loopback, an interface's address on that interface), and on every interface only where it
// is not (a name or address that reaches this host through NAT or a proxy), since the other
// ranks must reach it.
func listenStore(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("store address %q: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, _ := net.DefaultResolver.LookupIPAddr(ctx, host) // unresolvable: every interface
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, err // the port is taken, say: every interface would fail alike
		}
	}
	return net.Listen("tcp", net.JoinHostPort("", port))
}

// Join joins a job as InitFromEnv does, with the rank, size, store URL (tcp://, file:// or env://,
// see rendezvous.Open) and secret given by the caller (the C ABI's init takes them so). From m it
// uses Rank and Size; ListenAddr ("": CHORUS_LISTEN, else the interface toward the store);
// Prefix ("chorus"), under which the keys are published too; InitTimeout
// (DefaultInitTimeout), which bounds reaching the store as well; Force ("": CHORUS_TRANSPORT) and
// HostID. It makes the Store, the QUIC Transport and the shared-memory Local itself. The store is
// closed with the communicator. With env:// (secret nil: CHORUS_SECRET), rank 0 serves the store
// where the environment names no launcher's (MASTER_ADDR:MASTER_PORT+1, see rendezvous.Job.Serve).
func Join(ctx context.Context, storeURL string, secret []byte, m Member, cfg Config) (*Comm, error) {
	if m.Size < 1 || m.Rank < 0 || m.Rank >= m.Size {
		return nil, fmt.Errorf("%w: init: rank %d of size %d", ErrInvalid, m.Rank, m.Size)
	}
	if _, err := cfg.resolve(); err != nil { // before waiting for anyone
		return nil, err
	}
	if m.Prefix == "" {
		m.Prefix = "chorus"
	}
	if m.InitTimeout <= 0 {
		m.InitTimeout = DefaultInitTimeout
	}
	if m.Force == "" {
		m.Force = os.Getenv("CHORUS_TRANSPORT")
	}
	switch m.Force {
	case "", "quic", "shm":
	default:
		return nil, fmt.Errorf("%w: CHORUS_TRANSPORT=%q: want quic or shm (or unset: shm inside a host, quic between)", ErrInvalid, m.Force)
	}
	octx, cancel := context.WithTimeout(ctx, m.InitTimeout)
	defer cancel()
	var stop func() // stops the store this rank serves, if any
	if u, err := url.Parse(storeURL); err == nil && u.Scheme == "env" {
		// The store of the environment; rank 0 serves it where no launcher does (Job.Serve).
		job, err := rendezvous.FromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
		}
		if secret == nil {
			secret = job.Secret
		}
		storeURL = job.URL()
		if job.Serve && m.Rank == 0 {
			if stop, err = serveStore(job, secret); err != nil {
				return nil, fmt.Errorf("chorus: init rank 0: %w", err)
			}
		}
	}
	c, err := join(octx, storeURL, secret, m, cfg)
	if stop != nil {
		if err != nil {
			stop()
			return nil, err
		}
		release := c.release
		c.release = func() { release(); stop() }
	}
	return c, err
}

// join is Join once the store URL is resolved; octx bounds the whole init.
func join(octx context.Context, storeURL string, secret []byte, m Member, cfg Config) (*Comm, error) {
	store, err := rendezvous.Open(octx, storeURL, secret)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: rendezvous %s: %w", m.Rank, storeURL, err)
	}
	m.Store = store
	if m.Transport, err = pinnedQUIC(octx, store, m.Prefix+"/keys/"); err != nil {
		store.Close()
		return nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
	}
	if m.ListenAddr == "" {
		m.ListenAddr = os.Getenv("CHORUS_LISTEN")
	}
	if m.ListenAddr == "" {
		m.ListenAddr = net.JoinHostPort(localIPToward(storeURL), "0")
	}
	if m.Force != "quic" {
		if m.Local, err = shm.New(shm.Config{}); err != nil {
			store.Close()
			return nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
		}
	}
	c, err := Init(octx, m, cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	release := c.release
	c.release = func() {
		release()
		store.Close()
	}
	return c, nil
}

// pinnedQUIC returns a QUIC transport with a fresh key whose fingerprint it publishes in store
// under prefix, and which accepts only peers whose keys are published there.
func pinnedQUIC(ctx context.Context, store rendezvous.Store, prefix string) (*quic.Transport, error) {
	id, err := quic.NewIdentity()
	if err != nil {
		return nil, err
	}
	keyOf := func(fp [32]byte) string { return prefix + hex.EncodeToString(fp[:]) }
	if err := store.Set(ctx, keyOf(id.Fingerprint()), []byte{1}); err != nil {
		return nil, fmt.Errorf("publish key: %w", err)
	}
	return quic.New(quic.Config{Identity: id, Allowed: func(peer [32]byte) bool {
		// A peer dials only after reading our address, which it reads after publishing its key,
		// so its key is in the store by now; the wait only covers a slow store.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := store.Get(c, keyOf(peer))
		return err == nil
	}})
}

// localIPToward returns this host's address on the interface that routes to the host of the
// store URL (found by connecting a UDP socket, which sends nothing), or 127.0.0.1.
func localIPToward(storeURL string) string {
	u, err := url.Parse(storeURL)
	if err != nil || u.Scheme != "tcp" || u.Hostname() == "" {
		return "127.0.0.1"
	}
	conn, err := net.Dial("udp", net.JoinHostPort(u.Hostname(), "9"))
	if err != nil {
		return "127.0.0.1"
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String()
}
