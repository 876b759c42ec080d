package rendezvous

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// MemStore is an in-memory Store, safe for concurrent use. The TCP server keeps its data in
// one; tests and single-process jobs may use it directly.
type MemStore struct {
	mu      sync.Mutex
	data    map[string][]byte
	changed chan struct{} // closed and replaced on every change, to wake waiters
	closed  bool
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{data: make(map[string][]byte), changed: make(chan struct{})}
}

// notifyLocked wakes every waiter; m.mu must be held.
func (m *MemStore) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Set stores a copy of value under key.
func (m *MemStore) Set(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.data[key] = cloneBytes(value)
	m.notifyLocked()
	return nil
}

// Get returns a copy of the value of key, waiting until it exists or ctx is done.
func (m *MemStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if v, ok := m.data[key]; ok {
			m.mu.Unlock()
			return cloneBytes(v), nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("rendezvous: get %q: %w", key, ctx.Err())
		}
	}
}

// Wait waits until every key exists or ctx is done.
func (m *MemStore) Wait(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		all := true
		for _, k := range keys {
			if _, ok := m.data[k]; !ok {
				all = false
				break
			}
		}
		ch := m.changed
		m.mu.Unlock()
		if all {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("rendezvous: wait for %d keys: %w", len(keys), ctx.Err())
		}
	}
}

// Add adds delta to the counter under key and returns the new value.
func (m *MemStore) Add(ctx context.Context, key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	n, err := addCounter(key, m.data[key], delta)
	if err != nil {
		return 0, err
	}
	m.data[key] = []byte(strconv.FormatInt(n, 10))
	m.notifyLocked()
	return n, nil
}

// CompareAndSet sets key to new if its value equals old (or it is missing and old is empty)
// and returns the value after the call.
func (m *MemStore) CompareAndSet(ctx context.Context, key string, old, new []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkValue(old); err != nil {
		return nil, err
	}
	if err := checkValue(new); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	after, store := compareAndSet(m.data[key], old, new)
	if store {
		m.data[key] = cloneBytes(new)
		m.notifyLocked()
	}
	if after == nil {
		return nil, nil
	}
	return cloneBytes(after), nil
}

// Close empties the store and wakes every waiter with ErrClosed. It is safe to call twice.
func (m *MemStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.data = nil
		m.notifyLocked()
	}
	return nil
}
