// Command capi is the C ABI of Chorus: built with
//
//	go build -buildmode=c-shared -o libchorus.so ./capi
//
// it is a shared library, libchorus.so, whose functions are declared in capi/chorus.h (the
// header to include; the libchorus.h that go build writes beside the library declares the same
// functions with cgo's types). The API is shaped like NCCL's: chorusCommInitRank,
// chorusAllReduce, chorusCommDestroy and so on, with NCCL's numbering of element types,
// reduction operators and result codes. The PyTorch backend in python/ loads it with ctypes.
//
// Every exported function recovers from Go panics and turns them into chorusInternalError, so
// that no panic unwinds into C. Handles given to C are addresses of small C allocations, never
// Go pointers. See chorus.h for the contract (thread safety, buffer ownership, fork).
//
// Without cgo (CGO_ENABLED=0) the package builds as an empty program, so that the rest of the
// module builds where no C compiler is present.
package main

func main() {}
