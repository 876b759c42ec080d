package rendezvous

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// File store polling: files offer nothing to wait on portably (inotify does not see writes
// made on other NFS clients), so Get, Wait and the lock poll, starting at filePollMin and
// doubling up to filePollMax, always bounded by the caller's context.
const (
	filePollMin = time.Millisecond
	filePollMax = 100 * time.Millisecond
)

// lockFileName is the file in the store directory that Add and CompareAndSet flock.
const lockFileName = ".lock"

// FileStore is a Store kept in a directory shared by every rank (a local or network file
// system): one file per key, written atomically (temp file then rename). Add and
// CompareAndSet hold an flock on a lock file in the directory. Get and Wait poll with backoff.
type FileStore struct {
	dir    string
	mu     sync.Mutex
	closed bool
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store in dir, creating the directory if needed.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("rendezvous: file store: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rendezvous: file store: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

// keyPath returns the file of key: "k" and base64url of the key, or, for keys whose name
// would pass 200 bytes (file systems cap names at 255), "h" and the hex SHA-256 of the key.
func (f *FileStore) keyPath(key string) string {
	name := "k" + base64.RawURLEncoding.EncodeToString([]byte(key))
	if len(name) > 200 {
		sum := sha256.Sum256([]byte(key))
		name = "h" + hex.EncodeToString(sum[:])
	}
	return filepath.Join(f.dir, name)
}

// check returns ErrClosed after Close, or the context's error.
func (f *FileStore) check(ctx context.Context) error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return ctx.Err()
}

// write stores value in the file of key atomically.
func (f *FileStore) write(key string, value []byte) error {
	tmp, err := os.CreateTemp(f.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("rendezvous: file store set %q: %w", key, err)
	}
	_, err = tmp.Write(value)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.keyPath(key))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("rendezvous: file store set %q: %w", key, err)
	}
	return nil
}

// read returns the value of key, or nil and no error when the key is missing.
func (f *FileStore) read(key string) ([]byte, error) {
	b, err := os.ReadFile(f.keyPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rendezvous: file store get %q: %w", key, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// poll calls try until it reports done, sleeping with backoff, until ctx is done.
func (f *FileStore) poll(ctx context.Context, try func() (bool, error)) error {
	wait := filePollMin
	for {
		if err := f.check(ctx); err != nil {
			return err
		}
		done, err := try()
		if err != nil || done {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, filePollMax)
	}
}

// locked runs fn holding the directory's flock.
func (f *FileStore) locked(ctx context.Context, fn func() error) error {
	lf, err := os.OpenFile(filepath.Join(f.dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("rendezvous: file store lock: %w", err)
	}
	defer lf.Close()
	err = f.poll(ctx, func() (bool, error) {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			return false, nil
		}
		return false, fmt.Errorf("rendezvous: file store lock: %w", err)
	})
	if err != nil {
		return fmt.Errorf("rendezvous: file store lock: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) }()
	return fn()
}

// Set stores value under key.
func (f *FileStore) Set(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	if err := f.check(ctx); err != nil {
		return err
	}
	return f.write(key, value)
}

// Get returns the value of key, polling until it exists or ctx is done.
func (f *FileStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var v []byte
	err := f.poll(ctx, func() (bool, error) {
		var err error
		v, err = f.read(key)
		return v != nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("rendezvous: file store get %q: %w", key, err)
	}
	return v, nil
}

// Wait polls until every key exists or ctx is done.
func (f *FileStore) Wait(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	i := 0
	err := f.poll(ctx, func() (bool, error) {
		for ; i < len(keys); i++ {
			_, err := os.Stat(f.keyPath(keys[i]))
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("rendezvous: file store wait %q: %w", keys[i], err)
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("rendezvous: file store wait for %d keys: %w", len(keys), err)
	}
	return nil
}

// Add adds delta to the counter under key, under the directory lock, and returns the new value.
func (f *FileStore) Add(ctx context.Context, key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	var n int64
	err := f.locked(ctx, func() error {
		cur, err := f.read(key)
		if err != nil {
			return err
		}
		if n, err = addCounter(key, cur, delta); err != nil {
			return err
		}
		return f.write(key, []byte(strconv.FormatInt(n, 10)))
	})
	return n, err
}

// CompareAndSet sets key to new if its value equals old (or it is missing and old is empty),
// under the directory lock, and returns the value after the call.
func (f *FileStore) CompareAndSet(ctx context.Context, key string, old, new []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkValue(old); err != nil {
		return nil, err
	}
	if err := checkValue(new); err != nil {
		return nil, err
	}
	var after []byte
	err := f.locked(ctx, func() error {
		cur, err := f.read(key)
		if err != nil {
			return err
		}
		var store bool
		after, store = compareAndSet(cur, old, new)
		if store {
			return f.write(key, new)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if after == nil {
		return nil, nil
	}
	return cloneBytes(after), nil
}

// Close marks the store closed; the directory and its files stay.
func (f *FileStore) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
