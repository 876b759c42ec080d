package main

/*
#define CHORUS_NO_PROTOTYPES
#include "chorus.h"
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
)

// request is an operation started by an Async call.
type request struct{ w *comm.Work }

// requests holds the requests not freed yet.
var requests = newTable[*request]("request")

//export chorusWait
func chorusWait(r C.chorusRequest_t) C.chorusResult_t {
	return call(func() error {
		q, err := requests.get(unsafe.Pointer(r))
		if err != nil {
			return err
		}
		return q.w.Wait()
	})
}

//export chorusWaitTimeout
func chorusWaitTimeout(r C.chorusRequest_t, timeoutMS C.int) C.chorusResult_t {
	return call(func() error {
		q, err := requests.get(unsafe.Pointer(r))
		if err != nil {
			return err
		}
		if timeoutMS < 0 {
			return invalidf("negative timeout %d ms", timeoutMS)
		}
		if timeoutMS > 0 {
			t := time.NewTimer(time.Duration(timeoutMS) * time.Millisecond)
			defer t.Stop()
			select {
			case <-q.w.Done():
			case <-t.C:
			}
		}
		select {
		case <-q.w.Done():
			return q.w.Err()
		default:
			return errInProgress
		}
	})
}

//export chorusTest
func chorusTest(r C.chorusRequest_t, done *C.int) C.chorusResult_t {
	return call(func() error {
		q, err := requests.get(unsafe.Pointer(r))
		if err != nil {
			return err
		}
		if done == nil {
			return invalidf("done is NULL")
		}
		select {
		case <-q.w.Done():
			*done = 1
			return q.w.Err()
		default:
			*done = 0
			return nil
		}
	})
}

//export chorusRequestFree
func chorusRequestFree(r C.chorusRequest_t) C.chorusResult_t {
	return call(func() error {
		_, err := requests.remove(unsafe.Pointer(r), func(q *request) error {
			select {
			case <-q.w.Done():
				return nil
			default:
				return errUsageRunning
			}
		})
		return err
	})
}

// errUsageRunning is the error of freeing a request whose operation still runs.
var errUsageRunning = invalidUsage("the request's operation is still running: wait for it before freeing it")
