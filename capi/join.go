package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
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

// joined is a communicator made through the C ABI.
type joined struct {
	c *comm.Comm
}

// close closes the communicator (and with it the store it was made through).
func (j *joined) close() {
	_ = j.c.Close()
}

// join joins the group of size ranks as rank through the store at rawURL, as comm.InitFromEnv
// does from the environment: shared memory inside a host, QUIC with pinned keys between hosts.
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
	c, err := comm.Join(context.Background(), rawURL, secret, comm.Member{
		Rank: rank, Size: size, ListenAddr: o.listen, Prefix: o.prefix, InitTimeout: o.initTimeout,
	}, cfg)
	if err != nil {
		return nil, err
	}
	return &joined{c: c}, nil // c closes its store
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
