package main

/*
#define CHORUS_NO_PROTOTYPES
#include "chorus.h"
*/
import "C"

import (
	"context"
	"time"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// server is a rendezvous server started by chorusRendezvousServe.
type server struct {
	srv  *rendezvous.Server
	url  string
	done <-chan struct{} // closed when Serve has returned
}

var (
	servers = newTable[*server]("rendezvous server")
	stores  = newTable[rendezvous.Store]("store")
)

// defaultStoreTimeout bounds store calls whose timeout is 0.
const defaultStoreTimeout = comm.DefaultInitTimeout

// checkTimeout is how long a store wait with timeout 0 looks for its keys.
const checkTimeout = 100 * time.Millisecond

// storeContext returns a context bounded by timeoutMS, or by def when it is 0.
func storeContext(timeoutMS C.int, def time.Duration) (context.Context, context.CancelFunc, error) {
	if timeoutMS < 0 {
		return nil, nil, invalidf("negative timeout %d ms", timeoutMS)
	}
	d := def
	if timeoutMS > 0 {
		d = time.Duration(timeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	return ctx, cancel, nil
}

// bytesAt returns the n bytes at p (NULL only when n is 0) without copying.
func bytesAt(p unsafe.Pointer, n C.size_t, what string) ([]byte, error) {
	if n == 0 {
		return []byte{}, nil
	}
	if p == nil {
		return nil, invalidf("%s is NULL", what)
	}
	return unsafe.Slice((*byte)(p), int(n)), nil
}

// copyOut stores len(v) in *n and copies what fits of v into the capacity bytes at p.
func copyOut(v []byte, p unsafe.Pointer, capacity C.size_t, n *C.size_t) error {
	if n == nil {
		return invalidf("len is NULL")
	}
	*n = C.size_t(len(v))
	if capacity > 0 {
		dst, err := bytesAt(p, capacity, "value")
		if err != nil {
			return err
		}
		copy(dst, v)
	}
	return nil
}

// keyOf returns the key in p.
func keyOf(p *C.char) (string, error) {
	if p == nil {
		return "", invalidf("key is NULL")
	}
	return C.GoString(p), nil
}

//export chorusRendezvousServe
func chorusRendezvousServe(listen, secret *C.char, out *C.chorusServer_t) C.chorusResult_t {
	return call(func() error {
		if listen == nil || out == nil {
			return invalidf("listen and server must not be NULL")
		}
		srv, url, done, err := serve(C.GoString(listen), secretOf(secret))
		if err != nil {
			return err
		}
		h, err := servers.add(&server{srv: srv, url: url, done: done})
		if err != nil {
			_ = srv.Close()
			<-done
			return err
		}
		*out = C.chorusServer_t(h)
		return nil
	})
}

//export chorusRendezvousURL
func chorusRendezvousURL(h C.chorusServer_t, buf *C.char, n C.size_t) C.chorusResult_t {
	return call(func() error {
		s, err := servers.get(unsafe.Pointer(h))
		if err != nil {
			return err
		}
		if buf == nil || int(n) < len(s.url)+1 {
			return invalidf("buffer of %d bytes for a URL of %d bytes and its NUL", n, len(s.url))
		}
		dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
		dst[copy(dst, s.url)] = 0
		return nil
	})
}

//export chorusRendezvousStop
func chorusRendezvousStop(h C.chorusServer_t) C.chorusResult_t {
	return call(func() error {
		s, err := servers.remove(unsafe.Pointer(h), nil)
		if err != nil {
			return err
		}
		err = s.srv.Close()
		<-s.done
		return err
	})
}

//export chorusStoreOpen
func chorusStoreOpen(url, secret *C.char, timeoutMS C.int, out *C.chorusStore_t) C.chorusResult_t {
	return call(func() error {
		if url == nil || out == nil {
			return invalidf("url and store must not be NULL")
		}
		ctx, cancel, err := storeContext(timeoutMS, defaultStoreTimeout)
		if err != nil {
			return err
		}
		defer cancel()
		st, err := rendezvous.Open(ctx, C.GoString(url), secretOf(secret))
		if err != nil {
			return err
		}
		h, err := stores.add(st)
		if err != nil {
			_ = st.Close()
			return err
		}
		*out = C.chorusStore_t(h)
		return nil
	})
}

//export chorusStoreSet
func chorusStoreSet(h C.chorusStore_t, key *C.char, value unsafe.Pointer, n C.size_t) C.chorusResult_t {
	return call(func() error {
		st, err := stores.get(unsafe.Pointer(h))
		if err != nil {
			return err
		}
		k, err := keyOf(key)
		if err != nil {
			return err
		}
		v, err := bytesAt(value, n, "value")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), defaultStoreTimeout)
		defer cancel()
		return st.Set(ctx, k, v)
	})
}

//export chorusStoreGet
func chorusStoreGet(h C.chorusStore_t, key *C.char, value unsafe.Pointer, capacity C.size_t, n *C.size_t, timeoutMS C.int) C.chorusResult_t {
	return call(func() error {
		st, err := stores.get(unsafe.Pointer(h))
		if err != nil {
			return err
		}
		k, err := keyOf(key)
		if err != nil {
			return err
		}
		ctx, cancel, err := storeContext(timeoutMS, defaultStoreTimeout)
		if err != nil {
			return err
		}
		defer cancel()
		v, err := st.Get(ctx, k)
		if err != nil {
			return err
		}
		return copyOut(v, value, capacity, n)
	})
}

//export chorusStoreAdd
func chorusStoreAdd(h C.chorusStore_t, key *C.char, delta C.int64_t, result *C.int64_t) C.chorusResult_t {
	return call(func() error {
		st, err := stores.get(unsafe.Pointer(h))
		if err != nil {
			return err
		}
		k, err := keyOf(key)
		if err != nil {
			return err
		}
		if result == nil {
			return invalidf("result is NULL")
		}
		ctx, cancel := context.WithTimeout(context.Background(), defaultStoreTimeout)
		defer cancel()
		v, err := st.Add(ctx, k, int64(delta))
		if err != nil {
			return err
		}
		*result = C.int64_t(v)
		return nil
	})
}

//export chorusStoreWait
func chorusStoreWait(h C.chorusStore_t, keys **C.char, nkeys C.int, timeoutMS C.int) C.chorusResult_t {
	return call(func() error {
		st, err := stores.get(unsafe.Pointer(h))
		if err != nil {
			return err
		}
		if nkeys < 0 || nkeys > 0 && keys == nil {
			return invalidf("%d keys at %p", nkeys, keys)
		}
		ks := make([]string, int(nkeys))
		for i, p := range unsafe.Slice(keys, int(nkeys)) {
			if ks[i], err = keyOf(p); err != nil {
				return err
			}
		}
		ctx, cancel, err := storeContext(timeoutMS, checkTimeout)
		if err != nil {
			return err
		}
		defer cancel()
		return st.Wait(ctx, ks...)
	})
}

//export chorusStoreCompareSet
func chorusStoreCompareSet(h C.chorusStore_t, key *C.char, expected unsafe.Pointer, expectedLen C.size_t, desired unsafe.Pointer, desiredLen C.size_t, value unsafe.Pointer, capacity C.size_t, n *C.size_t) C.chorusResult_t {
	return call(func() error {
		st, err := stores.get(unsafe.Pointer(h))
		if err != nil {
			return err
		}
		k, err := keyOf(key)
		if err != nil {
			return err
		}
		old, err := bytesAt(expected, expectedLen, "expected")
		if err != nil {
			return err
		}
		new, err := bytesAt(desired, desiredLen, "desired")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), defaultStoreTimeout)
		defer cancel()
		v, err := st.CompareAndSet(ctx, k, old, new)
		if err != nil {
			return err
		}
		return copyOut(v, value, capacity, n)
	})
}

//export chorusStoreClose
func chorusStoreClose(h C.chorusStore_t) C.chorusResult_t {
	return call(func() error {
		st, err := stores.remove(unsafe.Pointer(h), nil)
		if err != nil {
			return err
		}
		return st.Close()
	})
}
