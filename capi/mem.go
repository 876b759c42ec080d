package main

/*
#define CHORUS_NO_PROTOTYPES
#include "chorus.h"
*/
import "C"

import (
	"math"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
)

//export chorusMemAlloc
func chorusMemAlloc(ptr *unsafe.Pointer, size C.size_t) C.chorusResult_t {
	return call(func() error {
		if ptr == nil {
			return invalidf("ptr is NULL")
		}
		if size == 0 || uint64(size) > math.MaxInt {
			return invalidf("size %d", uint64(size))
		}
		b, err := comm.Alloc[byte](int(size))
		if err != nil {
			return err
		}
		*ptr = unsafe.Pointer(unsafe.SliceData(b)) // not Go's heap: shared memory, mapped
		return nil
	})
}

//export chorusMemFree
func chorusMemFree(ptr unsafe.Pointer) C.chorusResult_t {
	return call(func() error {
		if ptr == nil {
			return invalidf("ptr is NULL")
		}
		if err := comm.Free(unsafe.Slice((*byte)(ptr), 1)); err != nil {
			return invalidf("%v", err)
		}
		return nil
	})
}
