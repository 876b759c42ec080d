package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport/quic"
)

// joinOptions are the fields of chorusConfig_t, with zero meaning the default.
type joinOptions struct {
	timeout     time.Duration
	initTimeout time.Duration
	prefix      string
	listen      string
	algorithms  *string // nil: CHORUS_ALGO
}

// config returns the comm.Config the options describe.
func (o joinOptions) config() (comm.Config, error) {
	cfg := comm.Config{Timeout: o.timeout}
	if o.algorithms != nil {
		spec, err := comm.ParseAlgorithms(*o.algorithms)
		if err != nil {
			return cfg, err
		}
		if err := checkAlgorithms(spec); err != nil {
			return cfg, err
		}
		cfg.Algorithms = spec
	}
	return cfg, nil
}

// checkAlgorithms fails on a name that no collective of spec has, before the init waits for
// anyone (comm.Init checks it too, but only after the store is reached).
func checkAlgorithms(spec map[string]string) error {
	all := comm.Algorithms()
	for coll, name := range spec {
		found := false
		for c, names := range all {
			if coll == "*" || coll == c {
				found = found || slices.Contains(names, name)
			}
		}
		if !found {
			return fmt.Errorf("%w: no algorithm %q for %q (see CHORUS_ALGO in comm.Config)", comm.ErrInvalid, name, coll)
		}
	}
	return nil
}

// joined is a communicator with the store it was made through, which lives as long as it.
type joined struct {
	c     *comm.Comm
	store rendezvous.Store // nil when c closes its own
}

// close closes the communicator, then the store.
func (j *joined) close() {
	_ = j.c.Close()
	if j.store != nil {
		_ = j.store.Close()
	}
}

// join joins the group of size ranks as rank through the store at rawURL, over QUIC with
// pinned keys, as comm.InitFromEnv does from the environment.
func join(size, rank int, rawURL string, secret []byte, o joinOptions) (*joined, error) {
	switch {
	case size < 1 || rank < 0 || rank >= size:
		return nil, invalidf("rank %d of %d ranks", rank, size)
	case rawURL == "":
		return nil, invalidf("empty rendezvous URL (want tcp://host:port, file:///dir or env://)")
	}
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	if o.initTimeout <= 0 {
		o.initTimeout = comm.DefaultInitTimeout
	}
	if o.prefix == "" {
		o.prefix = "chorus"
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.initTimeout)
	defer cancel()
	store, err := rendezvous.Open(ctx, rawURL, secret)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: rendezvous %s: %w", rank, rawURL, err)
	}
	tr, err := pinnedQUIC(ctx, store, o.prefix+"/keys/")
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("chorus: init rank %d: %w", rank, err)
	}
	listen := o.listen
	if listen == "" {
		listen = os.Getenv("CHORUS_LISTEN")
	}
	if listen == "" {
		listen = net.JoinHostPort(localIPToward(storeURL(rawURL)), "0")
	}
	c, err := comm.Init(ctx, comm.Member{
		Rank: rank, Size: size, Store: store, Transport: tr, ListenAddr: listen,
		Prefix: o.prefix, InitTimeout: o.initTimeout,
	}, cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &joined{c: c, store: store}, nil
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
		// A peer dials only after reading our address, which it reads after publishing its
		// key, so its key is in the store by now; the wait only covers a slow store.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := store.Get(c, keyOf(peer))
		return err == nil
	}})
}

// storeURL returns the URL of the store that rawURL names: for env://, the one the environment
// names (or rawURL itself when the environment names none).
func storeURL(rawURL string) string {
	if !strings.HasPrefix(rawURL, "env:") {
		return rawURL
	}
	job, err := rendezvous.FromEnv(os.Getenv)
	if err != nil {
		return rawURL
	}
	return job.URL()
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

// serve starts a rendezvous server on listen (host:port) for clients holding secret and
// returns it with its URL. An unspecified host (empty, 0.0.0.0, ::) listens on every interface
// and gives a URL with 127.0.0.1.
func serve(listen string, secret []byte) (*rendezvous.Server, string, <-chan struct{}, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, "", nil, invalidf("listen address %q: %v", listen, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, "", nil, fmt.Errorf("chorus: rendezvous server: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: secret})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // nil after Close; an accept error leaves the clients to time out
	}()
	return srv, "tcp://" + net.JoinHostPort(host, port), done, nil
}
