package main

/*
#define CHORUS_NO_PROTOTYPES
#include "chorus.h"
*/
import "C"

import (
	"context"
	"errors"
	"time"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
)

// comms holds the live communicators.
var comms = newTable[*joined]("communicator")

// commOf returns the communicator of handle h.
func commOf(h C.chorusComm_t) (*comm.Comm, error) {
	j, err := comms.get(unsafe.Pointer(h))
	if err != nil {
		return nil, err
	}
	return j.c, nil
}

//export chorusGetVersion
func chorusGetVersion(version *C.int) C.chorusResult_t {
	return call(func() error {
		if version == nil {
			return invalidf("version is NULL")
		}
		*version = C.CHORUS_VERSION_CODE
		return nil
	})
}

//export chorusCommInitRank
func chorusCommInitRank(out *C.chorusComm_t, nranks, rank C.int, url, secret *C.char) C.chorusResult_t {
	return chorusCommInitRankConfig(out, nranks, rank, url, secret, nil)
}

//export chorusCommInitRankConfig
func chorusCommInitRankConfig(out *C.chorusComm_t, nranks, rank C.int, url, secret *C.char, cfg *C.chorusConfig_t) C.chorusResult_t {
	return call(func() error {
		if out == nil {
			return invalidf("comm is NULL")
		}
		if url == nil {
			return invalidf("url is NULL")
		}
		o, err := optionsOf(cfg)
		if err != nil {
			return err
		}
		j, err := join(int(nranks), int(rank), C.GoString(url), secretOf(secret), o)
		if err != nil {
			return err
		}
		return publish(out, j)
	})
}

//export chorusCommInitFromEnv
func chorusCommInitFromEnv(out *C.chorusComm_t) C.chorusResult_t {
	return call(func() error {
		if out == nil {
			return invalidf("comm is NULL")
		}
		// InitFromEnv bounds the joining by the init timeout, but not the dialling of a store
		// that is not up: bound both.
		ctx, cancel := context.WithTimeout(context.Background(), comm.DefaultInitTimeout)
		defer cancel()
		c, err := comm.InitFromEnv(ctx, comm.Config{})
		if err != nil {
			return err
		}
		return publish(out, &joined{c: c})
	})
}

// publish gives j a handle and stores it in *out; without one, it closes j.
func publish(out *C.chorusComm_t, j *joined) error {
	h, err := comms.add(j)
	if err != nil {
		j.close()
		return err
	}
	*out = C.chorusComm_t(h)
	return nil
}

// optionsOf reads a chorusConfig_t (NULL: the defaults).
func optionsOf(cfg *C.chorusConfig_t) (joinOptions, error) {
	var o joinOptions
	if cfg == nil {
		return o, nil
	}
	if cfg.size < C.sizeof_chorusConfig_t {
		return o, invalidf("config size %d, want at least %d (start from CHORUS_CONFIG_INITIALIZER)",
			cfg.size, C.sizeof_chorusConfig_t)
	}
	if cfg.timeout_ms < 0 || cfg.init_timeout_ms < 0 {
		return o, invalidf("negative timeout in config (%d ms, init %d ms)", cfg.timeout_ms, cfg.init_timeout_ms)
	}
	o.timeout = time.Duration(cfg.timeout_ms) * time.Millisecond
	o.initTimeout = time.Duration(cfg.init_timeout_ms) * time.Millisecond
	o.prefix = goString(cfg.prefix)
	o.listen = goString(cfg.listen)
	if cfg.algorithms != nil {
		s := C.GoString(cfg.algorithms)
		o.algorithms = &s
	}
	return o, nil
}

//export chorusCommDestroy
func chorusCommDestroy(h C.chorusComm_t) C.chorusResult_t {
	return call(func() error {
		j, err := comms.remove(unsafe.Pointer(h), nil)
		if err != nil {
			return err
		}
		j.close()
		return nil
	})
}

//export chorusCommAbort
func chorusCommAbort(h C.chorusComm_t) C.chorusResult_t {
	return chorusCommAbortWithReason(h, nil)
}

//export chorusCommAbortWithReason
func chorusCommAbortWithReason(h C.chorusComm_t, reason *C.char) C.chorusResult_t {
	return call(func() error {
		j, err := comms.remove(unsafe.Pointer(h), nil)
		if err != nil {
			return err
		}
		var cause error
		if reason != nil {
			cause = errors.New(C.GoString(reason))
		}
		j.c.Abort(cause)
		go j.close() // the farewell may wait for peers; an abort returns at once
		return nil
	})
}

//export chorusCommGetAsyncError
func chorusCommGetAsyncError(h C.chorusComm_t, out *C.chorusResult_t) C.chorusResult_t {
	return call(func() error {
		c, err := commOf(h)
		if err != nil {
			return err
		}
		if out == nil {
			return invalidf("asyncError is NULL")
		}
		err = c.Err()
		*out = C.chorusResult_t(resultOf(err))
		if err != nil {
			setLastError(err.Error())
		}
		return nil
	})
}

//export chorusCommCount
func chorusCommCount(h C.chorusComm_t, count *C.int) C.chorusResult_t {
	return call(func() error {
		c, err := commOf(h)
		if err != nil {
			return err
		}
		if count == nil {
			return invalidf("count is NULL")
		}
		*count = C.int(c.Size())
		return nil
	})
}

//export chorusCommUserRank
func chorusCommUserRank(h C.chorusComm_t, rank *C.int) C.chorusResult_t {
	return call(func() error {
		c, err := commOf(h)
		if err != nil {
			return err
		}
		if rank == nil {
			return invalidf("rank is NULL")
		}
		*rank = C.int(c.Rank())
		return nil
	})
}
