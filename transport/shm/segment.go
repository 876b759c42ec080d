//go:build linux

package shm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Segment header values.
const (
	segMagic   = 0x316d6873726f6863 // "chorshm1", little endian
	segVersion = 4
	memfdName  = "chorus-shm"
)

// control is the first page of a segment. Fields that different sides write live on cache
// lines of their own (two lines apart, so that adjacent-line prefetch does not pair them).
type control struct {
	magic    uint64 // segMagic, written by the creator before the segment is sent
	version  uint32 // segVersion
	ringSize uint32 // data size, a power of two
	dataOff  uint32 // offset of the data in the memfd: the creator's page size
	id       uint64 // random, drawn by the creator: the end with the larger out id moves (unshare)
	_        [128 - 32]byte

	head atomic.Uint64 // bytes ever published by the producer
	_    [120]byte
	tail atomic.Uint64 // bytes ever released by the consumer
	_    [120]byte

	consSleeping atomic.Uint32 // 1: a consumer went (or is going) to sleep: wake it when publishing
	_            [124]byte
	prodSleeping atomic.Uint32 // 1: a producer went (or is going) to sleep: wake it when releasing
	_            [124]byte
	// waitCPU is 1 + the CPU on which a waiter of the creator's end polls, or 0 when none does
	// (see Conn.unshare).
	waitCPU atomic.Uint32
	_       [124]byte
	// settleWant, when not 0, is the lowest consumer position that a producer's Settle asleep
	// waits for: the consumer wakes the producer's settlers once its tail reaches it (and clears
	// it).
	settleWant atomic.Uint64
	_          [120]byte
}

// segment is one direction's ring, mapped.
type segment struct {
	mem  []byte   // the whole mapping: control page, data, data again
	ctrl *control // at mem[0]
	data []byte   // 2*size bytes: the data twice, so that any frame is contiguous
	size uint64   // data size, a power of two
	mask uint64   // size-1
}

var pageSize = os.Getpagesize()

// newSegment creates a sealed memfd for a ring of size bytes, maps it, and writes its header.
// The caller sends fd to the peer and closes it.
func newSegment(size int) (seg *segment, fd int, err error) {
	if unsafe.Sizeof(control{}) > uintptr(pageSize) {
		panic("shm: control block larger than a page")
	}
	fd, err = sealedMemfd(memfdName, pageSize+size)
	if err != nil {
		return nil, -1, fmt.Errorf("shm: new segment: %w", err)
	}
	seg, err = mapSegment(fd, size)
	if err != nil {
		_ = unix.Close(fd)
		return nil, -1, fmt.Errorf("shm: new segment: map: %w", err)
	}
	seg.ctrl.version = segVersion
	seg.ctrl.ringSize = uint32(size)
	seg.ctrl.dataOff = uint32(pageSize)
	seg.ctrl.id = rand.Uint64()
	atomic.StoreUint64(&seg.ctrl.magic, segMagic)
	return seg, fd, nil
}

// openSegment maps a segment received from the peer, which announced a ring of size bytes,
// after checking that the memfd is what a peer's newSegment makes: sealed against shrinking
// (a shrunk file would fault this process), of the right size, with the right header.
func openSegment(fd int, size int) (*segment, error) {
	if size < MinRingSize || size > MaxRingSize || size&(size-1) != 0 {
		return nil, fmt.Errorf("shm: peer's ring size %d: %w", size, ErrProtocol)
	}
	if err := checkSealed(fd, pageSize+size); err != nil {
		return nil, fmt.Errorf("shm: peer's segment: %w", err)
	}
	seg, err := mapSegment(fd, size)
	if err != nil {
		return nil, fmt.Errorf("shm: map peer's segment: %w", err)
	}
	c := seg.ctrl
	magic, version, ring, off := atomic.LoadUint64(&c.magic), c.version, c.ringSize, c.dataOff
	if magic != segMagic || version != segVersion || ring != uint32(size) || off != uint32(pageSize) {
		seg.unmap()
		return nil, fmt.Errorf("shm: peer's segment header (magic %#x version %d ring %d data at %d) does not match: %w",
			magic, version, ring, off, ErrProtocol)
	}
	return seg, nil
}

// sealed are the seals of every memfd the package shares: a peer's mapping of a memfd that
// cannot shrink never faults.
const sealed = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// sealedMemfd creates a memfd of size bytes (close-on-exec) and seals it.
func sealedMemfd(name string, size int) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("ftruncate: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, sealed); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("seal: %w", err)
	}
	return fd, nil
}

// checkSealed checks that fd, from the peer, is what sealedMemfd makes, of size bytes: a memfd
// that cannot shrink (which would fault this process) nor grow. Its errors wrap ErrProtocol.
func checkSealed(fd, size int) error {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return fmt.Errorf("not a memfd: %w: %w", ErrProtocol, err)
	}
	if seals&sealed != sealed {
		return fmt.Errorf("seals %#x, want %#x: %w", seals, sealed, ErrProtocol)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if st.Size != int64(size) {
		return fmt.Errorf("%d bytes, want %d: %w", st.Size, size, ErrProtocol)
	}
	return nil
}

// mapSegment maps fd as [control page | data | data again]: it reserves the address range
// first, then maps the file over it twice with MAP_FIXED.
func mapSegment(fd int, size int) (*segment, error) {
	total := uintptr(pageSize + 2*size)
	base, err := unix.MmapPtr(-1, 0, nil, total, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("reserve %d bytes: %w", total, err)
	}
	const prot = unix.PROT_READ | unix.PROT_WRITE
	const flags = unix.MAP_SHARED | unix.MAP_FIXED | unix.MAP_POPULATE
	if _, err := unix.MmapPtr(fd, 0, base, uintptr(pageSize+size), prot, flags); err != nil {
		_ = unix.MunmapPtr(base, total)
		return nil, fmt.Errorf("map: %w", err)
	}
	if _, err := unix.MmapPtr(fd, int64(pageSize), unsafe.Add(base, pageSize+size), uintptr(size), prot, flags); err != nil {
		_ = unix.MunmapPtr(base, total)
		return nil, fmt.Errorf("map the second view: %w", err)
	}
	mem := unsafe.Slice((*byte)(base), total)
	return &segment{
		mem:  mem,
		ctrl: (*control)(base),
		data: mem[pageSize:],
		size: uint64(size),
		mask: uint64(size - 1),
	}, nil
}

// unmap releases the mapping. Nothing may touch the segment afterwards.
func (s *segment) unmap() {
	if s.mem != nil {
		_ = unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(s.mem)), uintptr(len(s.mem)))
		s.mem, s.data, s.ctrl = nil, nil, nil
	}
}

// contains reports whether p lies in the segment's mapping (for tests and Stats checks).
func (s *segment) contains(p []byte) bool {
	if len(p) == 0 || len(s.mem) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(s.mem)))
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return a >= lo && a+uintptr(len(p)) <= lo+uintptr(len(s.mem))
}
