package comm

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
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
// The rank listens on CHORUS_LISTEN (host:port) when set, otherwise on the local address of the
// interface that reaches the store, port chosen by the system.
func InitFromEnv(ctx context.Context, cfg Config) (*Comm, error) {
	job, err := rendezvous.FromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("chorus: init from environment: %w", err)
	}
	store, err := rendezvous.Open(ctx, job.URL(), job.Secret)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: rendezvous %s: %w", job.Rank, job.Addr, err)
	}
	c, err := initQUIC(ctx, job, store, cfg)
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

func initQUIC(ctx context.Context, job rendezvous.Job, store rendezvous.Store, cfg Config) (*Comm, error) {
	tr, err := pinnedQUIC(ctx, store, "chorus/keys/")
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: %w", job.Rank, err)
	}
	listen := os.Getenv("CHORUS_LISTEN")
	if listen == "" {
		listen = net.JoinHostPort(localIPToward(job.URL()), "0")
	}
	m := Member{Rank: job.Rank, Size: job.Size, Store: store, Transport: tr, ListenAddr: listen}
	switch force := os.Getenv("CHORUS_TRANSPORT"); force {
	case "", "quic", "shm":
		m.Force = force
	default:
		return nil, fmt.Errorf("%w: CHORUS_TRANSPORT=%q: want quic or shm (or unset: shm inside a host, quic between)", ErrInvalid, force)
	}
	if m.Force != "quic" {
		if m.Local, err = shm.New(shm.Config{}); err != nil {
			return nil, fmt.Errorf("chorus: init rank %d: %w", job.Rank, err)
		}
	}
	return Init(ctx, m, cfg)
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
