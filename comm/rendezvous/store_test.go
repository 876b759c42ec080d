package rendezvous

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStoreSetGet(t *testing.T) {
	keys := []string{"a", "rank/0/addr", "../../etc/passwd", "sp ace\x00nul", strings.Repeat("k", MaxKeySize)}
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			for i, k := range keys {
				v := []byte("value-" + strconv.Itoa(i))
				require.NoError(t, s.Set(ctx, k, v))
				v[0] = 'X' // the store keeps its own copy
				got, err := s.Get(ctx, k)
				require.NoError(t, err)
				require.Equal(t, "value-"+strconv.Itoa(i), string(got), "key %q", k)
			}
			require.NoError(t, s.Set(ctx, "a", []byte("second")))
			got, err := s.Get(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "second", string(got))

			require.NoError(t, s.Set(ctx, "empty", nil))
			got, err = s.Get(ctx, "empty")
			require.NoError(t, err)
			require.NotNil(t, got, "an empty value exists")
			require.Empty(t, got)

			require.NoError(t, s.Wait(ctx, keys...))
			require.NoError(t, s.Wait(ctx))
		})
	}
}

func TestStoreGetWaitsForLaterSet(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			type result struct {
				v   []byte
				err error
			}
			started := make(chan struct{})
			got := make(chan result, 1)
			waited := make(chan error, 1)
			go func() {
				close(started)
				v, err := s.Get(ctx, "late")
				got <- result{v, err}
			}()
			go func() { waited <- s.Wait(ctx, "late", "late2") }()
			<-started
			select {
			case r := <-got:
				t.Fatalf("Get returned before Set: %q, %v", r.v, r.err)
			default:
			}
			require.NoError(t, s.Set(ctx, "late", []byte("now")))
			r := <-got
			require.NoError(t, r.err)
			require.Equal(t, "now", string(r.v))
			select {
			case err := <-waited:
				t.Fatalf("Wait returned before its second key: %v", err)
			default:
			}
			require.NoError(t, s.Set(ctx, "late2", []byte("now")))
			require.NoError(t, <-waited)
		})
	}
}

func TestStoreGetCancelled(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s := kind.new(t)
			ctx, cancel := context.WithCancel(testCtx(t))
			done := make(chan error, 1)
			go func() {
				_, err := s.Get(ctx, "never")
				done <- err
			}()
			waitDone := make(chan error, 1)
			go func() { waitDone <- s.Wait(ctx, "never") }()
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
			require.ErrorIs(t, <-waitDone, context.Canceled)

			// The store still works after an abandoned wait.
			ctx = testCtx(t)
			require.NoError(t, s.Set(ctx, "never", []byte("after all")))
			v, err := s.Get(ctx, "never")
			require.NoError(t, err)
			require.Equal(t, "after all", string(v))
		})
	}
}

func TestStoreAdd(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			n, err := s.Add(ctx, "ctr", 5)
			require.NoError(t, err)
			require.EqualValues(t, 5, n)
			n, err = s.Add(ctx, "ctr", -7)
			require.NoError(t, err)
			require.EqualValues(t, -2, n)
			v, err := s.Get(ctx, "ctr")
			require.NoError(t, err)
			require.Equal(t, "-2", string(v), "counters are decimal text")

			require.NoError(t, s.Set(ctx, "text", []byte("not a number")))
			_, err = s.Add(ctx, "text", 1)
			require.ErrorIs(t, err, ErrNotCounter)
		})
	}
}

func TestStoreConcurrentAdd(t *testing.T) {
	const workers, per = 8, 40
	rng := rand.New(rand.NewPCG(1, 2))
	deltas := make([][]int64, workers)
	var want int64
	for w := range deltas {
		for range per {
			d := rng.Int64N(2001) - 1000
			deltas[w] = append(deltas[w], d)
			want += d
		}
	}
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			var wg sync.WaitGroup
			errs := make(chan error, workers*per)
			for w := range workers {
				wg.Go(func() {
					for _, d := range deltas[w] {
						if _, err := s.Add(ctx, "total", d); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			n, err := s.Add(ctx, "total", 0)
			require.NoError(t, err)
			require.Equal(t, want, n)
		})
	}
}

func TestStoreCompareAndSet(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			// Missing key, non-empty old: nothing stored, nil back.
			v, err := s.CompareAndSet(ctx, "k", []byte("x"), []byte("y"))
			require.NoError(t, err)
			require.Nil(t, v)
			// Missing key, empty old: stored.
			v, err = s.CompareAndSet(ctx, "k", nil, []byte("one"))
			require.NoError(t, err)
			require.Equal(t, "one", string(v))
			// Mismatch: current value back, unchanged.
			v, err = s.CompareAndSet(ctx, "k", []byte("wrong"), []byte("two"))
			require.NoError(t, err)
			require.Equal(t, "one", string(v))
			// Match: swapped.
			v, err = s.CompareAndSet(ctx, "k", []byte("one"), []byte("two"))
			require.NoError(t, err)
			require.Equal(t, "two", string(v))
			got, err := s.Get(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "two", string(got))
			// Swap to empty.
			v, err = s.CompareAndSet(ctx, "k", []byte("two"), nil)
			require.NoError(t, err)
			require.NotNil(t, v)
			require.Empty(t, v)
		})
	}
}

func TestStoreLimits(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			require.ErrorIs(t, s.Set(ctx, "", []byte("v")), ErrKeyTooLarge)
			long := strings.Repeat("k", MaxKeySize+1)
			require.ErrorIs(t, s.Set(ctx, long, []byte("v")), ErrKeyTooLarge)
			_, err := s.Get(ctx, long)
			require.ErrorIs(t, err, ErrKeyTooLarge)
			require.ErrorIs(t, s.Wait(ctx, "ok", long), ErrKeyTooLarge)
			_, err = s.Add(ctx, long, 1)
			require.ErrorIs(t, err, ErrKeyTooLarge)
			big := make([]byte, MaxValueSize+1)
			require.ErrorIs(t, s.Set(ctx, "big", big), ErrValueTooLarge)
			_, err = s.CompareAndSet(ctx, "big", nil, big)
			require.ErrorIs(t, err, ErrValueTooLarge)

			max := big[:MaxValueSize]
			max[0], max[MaxValueSize-1] = 1, 2
			require.NoError(t, s.Set(ctx, "max", max))
			got, err := s.Get(ctx, "max")
			require.NoError(t, err)
			require.Equal(t, max, got)
		})
	}
}

func TestStoreClosed(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s, ctx := kind.new(t), testCtx(t)
			require.NoError(t, s.Close())
			require.ErrorIs(t, s.Set(ctx, "k", nil), ErrClosed)
			_, err := s.Get(ctx, "k")
			require.ErrorIs(t, err, ErrClosed)
			_, err = s.Add(ctx, "k", 1)
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}
