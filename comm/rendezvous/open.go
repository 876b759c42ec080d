package rendezvous

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Open returns the store named by rawURL:
//
//	tcp://host:port    a Client of the Server at host:port (Dial, with retry until ctx is done)
//	file:///path/dir   a FileStore in /path/dir (a directory every rank can see)
//	env://             the store the environment names (FromEnv's Addr: CHORUS_RDZV, or
//	                   MASTER_ADDR and MASTER_PORT), with CHORUS_SECRET when secret is nil
//
// secret is the job secret for tcp; the file store ignores it (file permissions guard it).
func Open(ctx context.Context, rawURL string, secret []byte) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: open %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "env":
		job, err := FromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("rendezvous: open %q: %w", rawURL, err)
		}
		if strings.HasPrefix(job.URL(), "env:") {
			return nil, fmt.Errorf("rendezvous: open %q: the environment names env:// itself", rawURL)
		}
		if secret == nil {
			secret = job.Secret
		}
		return Open(ctx, job.URL(), secret)
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("rendezvous: open %q: want tcp://host:port", rawURL)
		}
		return Dial(ctx, u.Host, secret, ClientConfig{})
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("rendezvous: open %q: want file:///path (three slashes)", rawURL)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("rendezvous: open %q: empty path", rawURL)
		}
		return NewFileStore(u.Path)
	default:
		return nil, fmt.Errorf("rendezvous: open %q: unknown scheme %q (want tcp, file or env)", rawURL, u.Scheme)
	}
}
