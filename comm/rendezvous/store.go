package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// MaxKeySize is the longest key, in bytes, that any store accepts (4 KiB).
// The TCP server checks it before it allocates a key read from the wire.
const MaxKeySize = 4 << 10

// MaxValueSize is the longest value, in bytes, that any store accepts (16 MiB).
// The TCP server checks it before it allocates a value read from the wire.
const MaxValueSize = 16 << 20

// Sentinel errors. Compare with errors.Is.
var (
	// ErrAuth is returned when the two sides of a TCP connection do not share the job secret.
	ErrAuth = errors.New("chorus: rendezvous authentication failed")
	// ErrClosed is returned by every call on a store after Close.
	ErrClosed = errors.New("chorus: rendezvous store closed")
	// ErrKeyTooLarge is returned for an empty key or a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("chorus: rendezvous key empty or longer than 4 KiB")
	// ErrValueTooLarge is returned for a value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("chorus: rendezvous value longer than 16 MiB")
	// ErrBusy is returned by a client when the server is at its connection limit.
	ErrBusy = errors.New("chorus: rendezvous server at connection limit")
	// ErrNotCounter is returned by Add when the key holds a value that is not a decimal integer.
	ErrNotCounter = errors.New("chorus: rendezvous value is not a counter")
)

// Store is what ranks use to find each other: a small key-value store shared by a job.
//
// Every blocking call honours its context. Values are copied in and out: callers may reuse
// their slices.
type Store interface {
	// Set stores value under key, replacing any previous value.
	Set(ctx context.Context, key string, value []byte) error
	// Get returns the value of key, waiting until the key exists or ctx is done.
	Get(ctx context.Context, key string) ([]byte, error)
	// Wait waits until all keys exist or ctx is done.
	Wait(ctx context.Context, keys ...string) error
	// Add adds delta to the counter under key (a missing key counts as 0) and returns the new
	// value. Counters are stored as decimal text, so Get on a counter returns e.g. "42".
	Add(ctx context.Context, key string, delta int64) (int64, error)
	// CompareAndSet sets key to new if its current value equals old, or if the key is missing
	// and old is empty, and returns the value after the call (like torch's compare_set). When
	// the key is missing and old is not empty nothing is stored and the result is nil.
	CompareAndSet(ctx context.Context, key string, old, new []byte) ([]byte, error)
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// checkKey reports whether key fits the limits.
func checkKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeySize {
		return fmt.Errorf("rendezvous: key of %d bytes: %w", len(key), ErrKeyTooLarge)
	}
	return nil
}

// checkValue reports whether value fits the limits.
func checkValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("rendezvous: value of %d bytes: %w", len(value), ErrValueTooLarge)
	}
	return nil
}

// addCounter returns the counter text cur plus delta; a nil cur counts as 0.
func addCounter(key string, cur []byte, delta int64) (int64, error) {
	var n int64
	if cur != nil {
		v, err := strconv.ParseInt(string(cur), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("rendezvous: add to %q: %w", key, ErrNotCounter)
		}
		n = v
	}
	return n + delta, nil
}

// compareAndSet applies the compare-and-set rule to the current value cur (nil when the key is
// missing). It returns the value after the call and whether new must be stored.
func compareAndSet(cur, old, new []byte) (after []byte, store bool) {
	if new == nil {
		new = []byte{}
	}
	if cur == nil {
		if len(old) == 0 {
			return new, true
		}
		return nil, false
	}
	if string(cur) == string(old) {
		return new, true
	}
	return cur, false
}

// cloneBytes returns a copy of b that is never nil.
func cloneBytes(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
