package comm

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Errors returned by a Comm wrap one of them where it applies; test with
// errors.Is.
var (
	// ErrAborted: the communicator was aborted, here or on another rank. The error wraps the cause.
	ErrAborted = errors.New("chorus: communicator aborted")
	// ErrClosed: the communicator was closed.
	ErrClosed = errors.New("chorus: communicator closed")
	// ErrMismatch: ranks issued different operations at the same sequence number.
	ErrMismatch = errors.New("chorus: collective mismatch")
	// ErrTimeout: an operation did not finish within the communicator's timeout.
	ErrTimeout = errors.New("chorus: timed out")
	// ErrInvalid: the arguments of a call are wrong (lengths, types, root, op).
	ErrInvalid = errors.New("chorus: invalid argument")
)

// PeerError says which rank an operation was waiting for or talking to when it failed.
type PeerError struct {
	Rank int    // the peer's rank in the communicator
	Op   string // the operation, such as "allreduce"
	Seq  uint64 // the operation's sequence number
	Err  error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("chorus: %s seq %d: rank %d: %v", e.Op, e.Seq, e.Rank, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

// MismatchError reports that two ranks issued different operations at one sequence number.
type MismatchError struct {
	Seq        uint64
	Rank       int    // the rank that noticed
	Call       string // its call
	Peer       int    // the rank it compared with
	PeerCall   string // the peer's call
	commString string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("chorus: collective mismatch at seq %d%s: rank %d called %s, rank %d called %s",
		e.Seq, e.commString, e.Rank, e.Call, e.Peer, e.PeerCall)
}

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// abortError is what every call returns once the communicator is aborted.
type abortError struct{ cause error }

func (e *abortError) Error() string        { return ErrAborted.Error() + ": " + e.cause.Error() }
func (e *abortError) Unwrap() []error      { return []error{ErrAborted, e.cause} }
func (e *abortError) Is(target error) bool { return target == ErrAborted }

// RemoteError is a cause received from another rank: the rank that aborted and what it said.
// It wraps the sentinel that matches the remote cause (ErrMismatch, ErrTimeout, ...), if any.
type RemoteError struct {
	Rank int
	Msg  string
	kind error
}

func (e *RemoteError) Error() string { return "rank " + strconv.Itoa(e.Rank) + ": " + e.Msg }

func (e *RemoteError) Unwrap() error { return e.kind }

// Abort causes travel as one byte of kind and the message.
const (
	kindOther byte = iota
	kindMismatch
	kindTimeout
	kindClosed
)

func kindOf(err error) byte {
	switch {
	case errors.Is(err, ErrMismatch):
		return kindMismatch
	case errors.Is(err, ErrTimeout):
		return kindTimeout
	case errors.Is(err, ErrClosed):
		return kindClosed
	}
	return kindOther
}

func kindErr(k byte) error {
	switch k {
	case kindMismatch:
		return ErrMismatch
	case kindTimeout:
		return ErrTimeout
	case kindClosed:
		return ErrClosed
	}
	return nil
}

// maxCause bounds the abort message sent to peers.
const maxCause = 2048

func encodeCause(err error) []byte {
	msg := err.Error()
	if len(msg) > maxCause {
		msg = msg[:maxCause]
	}
	return append([]byte{kindOf(err)}, msg...)
}

func decodeCause(rank int, p []byte) error {
	if len(p) == 0 {
		return &RemoteError{Rank: rank, Msg: "aborted without a cause"}
	}
	msg := string(p[1:])
	if len(msg) > maxCause {
		msg = msg[:maxCause]
	}
	return &RemoteError{Rank: rank, Msg: msg, kind: kindErr(p[0])}
}
