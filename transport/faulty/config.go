package faulty

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSpec is the error Parse wraps when a fault spec is malformed.
var ErrSpec = errors.New("chorus: faulty: bad fault spec")

// Config says which faults to inject. The zero Config injects none: a connection wrapped with
// it behaves exactly as the one it wraps. Every random choice is drawn from a PCG generator
// seeded with Seed and the message's tag (without the communicator id, which is random per
// run), so the same Seed makes the same faults in the same messages whatever the timing.
type Config struct {
	// Seed seeds every random choice. Zero is a seed like any other.
	Seed uint64

	// Corrupt is the probability, 0 to 1, that a received message has bits of its payload
	// flipped before the receiver sees it. The sender's buffer is never changed, and tags are
	// never touched, so a corrupted message still reaches its receiver. Zero corrupts nothing.
	Corrupt float64
	// MinSize is the smallest message, in bytes, that Corrupt applies to; smaller messages are
	// never corrupted (so that small control messages, such as a collective's call description,
	// stay intact). Zero means every non-empty message.
	MinSize int
	// Bits is the number of distinct bits flipped in a corrupted message (at most its length in
	// bits). Zero means 1.
	Bits int

	// KillAfter closes the connection, as if its process had been killed, once this end has
	// started KillAfter calls of Send and Recv together: the next call closes both ends, and
	// that call, every pending call and every later call fail with transport.ErrClosed. Zero
	// means never.
	KillAfter int

	// Delay holds every Send for this long before the message is handed to the wrapped
	// connection (the Send honours its context while it waits). Zero means no delay.
	Delay time.Duration
	// Jitter adds a random delay, uniform in [0, Jitter), to Delay. Zero means none.
	Jitter time.Duration
}

// Enabled reports whether cfg injects any fault.
func (cfg Config) Enabled() bool {
	return cfg.Corrupt > 0 || cfg.KillAfter > 0 || cfg.Delay > 0 || cfg.Jitter > 0
}

// Validate reports whether every field is in range.
func (cfg Config) Validate() error {
	switch {
	case math.IsNaN(cfg.Corrupt) || cfg.Corrupt < 0 || cfg.Corrupt > 1:
		return fmt.Errorf("%w: corrupt=%v is not a probability in [0, 1]", ErrSpec, cfg.Corrupt)
	case cfg.MinSize < 0:
		return fmt.Errorf("%w: minsize=%d is negative", ErrSpec, cfg.MinSize)
	case cfg.Bits < 0:
		return fmt.Errorf("%w: bits=%d is negative", ErrSpec, cfg.Bits)
	case cfg.KillAfter < 0:
		return fmt.Errorf("%w: killafter=%d is negative", ErrSpec, cfg.KillAfter)
	case cfg.Delay < 0:
		return fmt.Errorf("%w: delay=%v is negative", ErrSpec, cfg.Delay)
	case cfg.Jitter < 0:
		return fmt.Errorf("%w: jitter=%v is negative", ErrSpec, cfg.Jitter)
	}
	return nil
}

// String returns cfg in the form Parse reads, listing only the fields that are not zero
// (seed always), such as "seed=7,corrupt=0.01,minsize=65536".
func (cfg Config) String() string {
	parts := []string{"seed=" + strconv.FormatUint(cfg.Seed, 10)}
	if cfg.Corrupt != 0 {
		parts = append(parts, "corrupt="+strconv.FormatFloat(cfg.Corrupt, 'g', -1, 64))
	}
	if cfg.MinSize != 0 {
		parts = append(parts, "minsize="+strconv.Itoa(cfg.MinSize))
	}
	if cfg.Bits != 0 {
		parts = append(parts, "bits="+strconv.Itoa(cfg.Bits))
	}
	if cfg.KillAfter != 0 {
		parts = append(parts, "killafter="+strconv.Itoa(cfg.KillAfter))
	}
	if cfg.Delay != 0 {
		parts = append(parts, "delay="+cfg.Delay.String())
	}
	if cfg.Jitter != 0 {
		parts = append(parts, "jitter="+cfg.Jitter.String())
	}
	return strings.Join(parts, ",")
}

// specKeys are the keys Parse accepts, with how each sets its field.
var specKeys = map[string]func(cfg *Config, v string) error{
	"seed": func(cfg *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return errors.New("not an unsigned integer")
		}
		cfg.Seed = n
		return nil
	},
	"corrupt": func(cfg *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errors.New("not a number")
		}
		cfg.Corrupt = f
		return nil
	},
	"minsize": func(cfg *Config, v string) (err error) {
		cfg.MinSize, err = parseSize(v)
		return err
	},
	"bits": func(cfg *Config, v string) (err error) {
		cfg.Bits, err = parseCount(v)
		return err
	},
	"killafter": func(cfg *Config, v string) (err error) {
		cfg.KillAfter, err = parseCount(v)
		return err
	},
	"delay": func(cfg *Config, v string) (err error) {
		cfg.Delay, err = parseDuration(v)
		return err
	},
	"jitter": func(cfg *Config, v string) (err error) {
		cfg.Jitter, err = parseDuration(v)
		return err
	},
}

// Parse reads a fault spec: comma-separated key=value pairs, such as
// "corrupt=0.01,seed=7,delay=1ms,killafter=100". The keys are the Config fields in lower case:
//
//	seed=N         Seed (unsigned integer)
//	corrupt=P      Corrupt (probability, 0 to 1)
//	minsize=SIZE   MinSize (bytes; suffixes K, M, G for KiB, MiB, GiB)
//	bits=N         Bits
//	killafter=N    KillAfter
//	delay=D        Delay (a Go duration: 500us, 1ms, 2s)
//	jitter=D       Jitter
//
// Keys are case-insensitive, spaces around parts are ignored, and the empty spec is the zero
// Config. An unknown or repeated key, a part without '=', a malformed or out-of-range value all
// fail with an error wrapping ErrSpec that names the part.
func Parse(spec string) (Config, error) {
	var cfg Config
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if !ok {
			return Config{}, fmt.Errorf("%w: %q is not key=value (keys: %s)", ErrSpec, part, keyList())
		}
		set, known := specKeys[key]
		if !known {
			return Config{}, fmt.Errorf("%w: unknown key %q in %q (keys: %s)", ErrSpec, key, part, keyList())
		}
		if seen[key] {
			return Config{}, fmt.Errorf("%w: key %q given twice", ErrSpec, key)
		}
		seen[key] = true
		if err := set(&cfg, val); err != nil {
			return Config{}, fmt.Errorf("%w: %q: %v", ErrSpec, part, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func keyList() string {
	keys := make([]string, 0, len(specKeys))
	for k := range specKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("not a non-negative integer")
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("not a non-negative duration (such as 500us, 1ms, 2s)")
	}
	return d, nil
}

// parseSize reads a byte count with an optional K, M or G suffix (powers of 1024; a trailing
// B or iB is allowed: 64K, 64KB, 64KiB).
func parseSize(v string) (int, error) {
	s := strings.ToUpper(v)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > math.MaxInt/mult {
		return 0, errors.New("not a size in bytes (such as 4096, 64K, 1M)")
	}
	return n * mult, nil
}
