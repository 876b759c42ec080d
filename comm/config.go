package comm

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

// DefaultTimeout bounds an operation when Config.Timeout and CHORUS_TIMEOUT are unset.
const DefaultTimeout = 5 * time.Minute

// Config tunes a communicator. The zero Config is ready to use; each field documents its zero value.
// Where a field is zero, the environment (CHORUS_*) may set it; an explicit field wins over the
// environment.
type Config struct {
	// Timeout bounds every operation, from the moment it starts running to its end; the context
	// passed to the call may end it sooner. On expiry the call fails with an error wrapping
	// ErrTimeout that names the rank it was waiting for, and the communicator aborts.
	// Zero means CHORUS_TIMEOUT (a Go duration such as "30s") or else DefaultTimeout.
	Timeout time.Duration

	// Algorithms picks algorithms by name instead of the cost model. A key is a collective name
	// ("allreduce", "broadcast", ...) or "*" for every collective that has an algorithm of that
	// name. Zero means CHORUS_ALGO, in the same form written "allreduce=ring,broadcast=chain" or
	// just "ring"; where neither says, the cost model chooses. Every rank must choose alike: a
	// rank that runs another algorithm fails with ErrMismatch.
	Algorithms map[string]string

	// Model holds the cost model's parameters. Zero fields take algos.DefaultModel's values.
	Model algos.Model
}

// resolved is a Config with the environment and defaults applied.
type resolved struct {
	timeout time.Duration
	algo    map[plan.Collective]string
	model   algos.Model
}

func (cfg Config) resolve() (resolved, error) {
	r := resolved{timeout: cfg.Timeout, model: cfg.Model}
	if r.timeout == 0 {
		if v := os.Getenv("CHORUS_TIMEOUT"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return r, fmt.Errorf("%w: CHORUS_TIMEOUT=%q is not a positive duration", ErrInvalid, v)
			}
			r.timeout = d
		} else {
			r.timeout = DefaultTimeout
		}
	}
	if r.timeout < 0 {
		return r, fmt.Errorf("%w: negative timeout %v", ErrInvalid, r.timeout)
	}
	spec := cfg.Algorithms
	if spec == nil {
		var err error
		if spec, err = ParseAlgorithms(os.Getenv("CHORUS_ALGO")); err != nil {
			return r, fmt.Errorf("CHORUS_ALGO: %w", err)
		}
	}
	algo, err := algoChoice(spec)
	if err != nil {
		return r, err
	}
	r.algo = algo
	return r, nil
}

// ParseAlgorithms reads the CHORUS_ALGO form: "ring", or "allreduce=ring,broadcast=chain", or a
// mix where a bare name applies to every collective that has it ("*").
func ParseAlgorithms(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		coll, name, ok := strings.Cut(part, "=")
		if !ok {
			coll, name = "*", part
		}
		coll, name = strings.TrimSpace(coll), strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("%w: empty algorithm name in %q", ErrInvalid, part)
		}
		out[coll] = name
	}
	return out, nil
}

// algoChoice checks the names against the registry and returns the choice per collective.
func algoChoice(spec map[string]string) (map[plan.Collective]string, error) {
	out := map[plan.Collective]string{}
	if name, ok := spec["*"]; ok {
		found := false
		for _, c := range plan.Collectives() {
			if _, err := algos.Lookup(c, name); err == nil {
				out[c] = name
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: no collective has an algorithm %q (see algos.List)", ErrInvalid, name)
		}
	}
	for key, name := range spec {
		if key == "*" {
			continue
		}
		c, err := plan.ParseCollective(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if _, err := algos.Lookup(c, name); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		out[c] = name
	}
	return out, nil
}

// Algorithms returns the names of the algorithms of every collective, keyed by collective name
// ("allreduce", ...) and sorted: the values Config.Algorithms and CHORUS_ALGO accept.
func Algorithms() map[string][]string {
	out := map[string][]string{}
	for _, a := range algos.List(0) {
		out[a.Coll().String()] = append(out[a.Coll().String()], a.Name())
	}
	return out
}
