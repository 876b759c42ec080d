package main

/*
#define CHORUS_NO_PROTOTYPES
#include "chorus.h"
void chorus_set_last_error(const char* msg, size_t n);
void* chorus_handle_new(void);
void chorus_handle_free(void* h);
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// table maps the handles given to C to the Go values behind them. A handle is the address of
// a one-byte C allocation, freed when the handle is removed.
type table[T any] struct {
	what string // "communicator", "request", ...
	mu   sync.Mutex
	m    map[unsafe.Pointer]T
}

func newTable[T any](what string) *table[T] {
	return &table[T]{what: what, m: make(map[unsafe.Pointer]T)}
}

// add returns a new handle for v.
func (t *table[T]) add(v T) (unsafe.Pointer, error) {
	h := C.chorus_handle_new()
	if h == nil {
		return nil, errors.New("chorus: out of memory for a handle")
	}
	t.mu.Lock()
	t.m[h] = v
	t.mu.Unlock()
	return h, nil
}

// get returns the value of handle h.
func (t *table[T]) get(h unsafe.Pointer) (T, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[h]
	if !ok {
		return v, t.unknown(h)
	}
	return v, nil
}

// remove frees handle h and returns its value, when ok(value) returns nil.
func (t *table[T]) remove(h unsafe.Pointer, ok func(T) error) (T, error) {
	t.mu.Lock()
	v, found := t.m[h]
	if !found {
		t.mu.Unlock()
		return v, t.unknown(h)
	}
	if ok != nil {
		if err := ok(v); err != nil {
			t.mu.Unlock()
			return v, err
		}
	}
	delete(t.m, h)
	t.mu.Unlock()
	C.chorus_handle_free(h)
	return v, nil
}

func (t *table[T]) unknown(h unsafe.Pointer) error {
	if h == nil {
		return invalidf("%s handle is NULL", t.what)
	}
	return invalidf("unknown %s handle %p (freed already, or never made)", t.what, h)
}

// call runs fn, records its error as the calling thread's last error, and returns its result
// code. A Go panic in fn is recovered and becomes chorusInternalError.
func call(fn func() error) C.chorusResult_t {
	code, msg := guard(fn)
	if code != resSuccess {
		setLastError(msg)
	}
	return C.chorusResult_t(code)
}

// setLastError makes msg the calling thread's last error. The export that calls it runs on
// the C caller's thread, and so does this C call.
func setLastError(msg string) {
	if msg == "" {
		msg = "chorus: unknown error"
	}
	C.chorus_set_last_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// goString returns the C string p as a Go string; NULL is "".
func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// secretOf returns the secret in p: nil for NULL (the environment's, where a URL says so).
func secretOf(p *C.char) []byte {
	if p == nil {
		return nil
	}
	return []byte(C.GoString(p))
}
