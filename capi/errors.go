package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// Result codes, as chorusResult_t in chorus.h numbers them.
const (
	resSuccess         = 0
	resSystemError     = 2
	resInternalError   = 3
	resInvalidArgument = 4
	resInvalidUsage    = 5
	resRemoteError     = 6
	resInProgress      = 7
	resTimeout         = 8
	resMismatch        = 9
	resAborted         = 10
	resClosed          = 11
)

// Errors of the C ABI itself, beside those of comm.
var (
	// errInvalid is a bad argument caught by the C ABI (a NULL pointer, an unknown handle).
	errInvalid = errors.New("chorus: invalid argument")
	// errUsage is a call at the wrong time, such as freeing a request that still runs.
	errUsage = errors.New("chorus: invalid usage")
	// errInProgress says that an operation has not finished yet.
	errInProgress = errors.New("chorus: operation in progress")
)

// invalidf returns an error wrapping errInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// invalidUsage returns an error wrapping errUsage.
func invalidUsage(msg string) error { return fmt.Errorf("%w: %s", errUsage, msg) }

// resultOf returns the result code that describes err (nil: resSuccess).
func resultOf(err error) int {
	var peer *comm.PeerError
	var remote *comm.RemoteError
	switch {
	case err == nil:
		return resSuccess
	case errors.Is(err, errInProgress):
		return resInProgress
	case errors.Is(err, errUsage), errors.Is(err, rendezvous.ErrAuth):
		return resInvalidUsage
	case errors.Is(err, comm.ErrAborted):
		return resAborted
	case errors.Is(err, comm.ErrMismatch):
		return resMismatch
	case errors.Is(err, comm.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return resTimeout
	case errors.Is(err, comm.ErrClosed):
		return resClosed
	case errors.Is(err, errInvalid), errors.Is(err, comm.ErrInvalid),
		errors.Is(err, rendezvous.ErrKeyTooLarge), errors.Is(err, rendezvous.ErrValueTooLarge),
		errors.Is(err, rendezvous.ErrNotCounter):
		return resInvalidArgument
	case errors.As(err, &peer), errors.As(err, &remote):
		return resRemoteError
	}
	return resSystemError
}

// guard runs fn and returns the result code and message of its error; a panic in fn becomes
// resInternalError with the panic's value and stack, so that it never unwinds into C.
func guard(fn func() error) (code int, msg string) {
	defer func() {
		if r := recover(); r != nil {
			code = resInternalError
			msg = fmt.Sprintf("chorus: internal error (a Go panic, recovered): %v\n%s", r, debug.Stack())
		}
	}()
	if err := fn(); err != nil {
		return resultOf(err), err.Error()
	}
	return resSuccess, ""
}
