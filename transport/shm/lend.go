//go:build linux

package shm

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chorus-cc/chorus/transport"
)

// Lending: a message that lies in memory from Alloc is not copied into the ring. The sender
// writes a small notice instead (a kindLent frame: which allocation, where in it), and the
// receiver's fn reads the message where it lies in the sender's memory, which the receiver has
// mapped (read only). See the package documentation, Lending.

// region is one allocation of Alloc: a sealed memfd, mapped read-write.
type region struct {
	id   uint64  // unique in the process; the receiver's key
	mem  []byte  // the whole mapping, a multiple of the page size
	base uintptr // mem's address

	mu sync.Mutex
	fd int // -1 once freed
	// conns are the connections on which the region was offered to the peer, and whether the
	// peer has said that it mapped it.
	conns map[*Conn]bool
}

// allocs are the live allocations, by address, copied on write: Lend looks an address up
// without a lock, in a binary search.
var allocs struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*region]
	next uint64
}

// Alloc returns n bytes (n > 0) of memory that connections of this package can lend: a large
// message sent from it (by the engine, or with Conn.Lend) is read by the receiver where it lies,
// with no copy through the ring. The memory is shared memory (a sealed memfd, mapped), zeroed,
// and is not Go's heap: the garbage collector does not free it. Free gives it back. Each
// allocation holds a file descriptor until then (to hand the memory to new peers), so allocate
// a few large buffers rather than many small ones: messages below 256 KiB are not lent anyway.
func Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("shm: alloc of %d bytes", n)
	}
	size := (n + pageSize - 1) &^ (pageSize - 1)
	fd, err := sealedMemfd("chorus-buffer", size)
	if err != nil {
		return nil, fmt.Errorf("shm: alloc of %d bytes: %w", n, err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("shm: alloc of %d bytes: mmap: %w", n, err)
	}
	allocs.mu.Lock()
	defer allocs.mu.Unlock()
	allocs.next++
	r := &region{id: allocs.next, mem: mem, base: uintptr(unsafe.Pointer(unsafe.SliceData(mem))), fd: fd, conns: make(map[*Conn]bool)}
	var list []*region
	if l := allocs.list.Load(); l != nil {
		list = *l
	}
	i, _ := slices.BinarySearchFunc(list, r.base, byBase)
	list = slices.Insert(slices.Clone(list), i, r)
	allocs.list.Store(&list)
	return mem[:n:n], nil
}

// Free gives back memory from Alloc; b must be the slice Alloc returned (or start where it
// does). Nothing may use the memory afterwards, and no message lent from it may be unsettled.
// Peers that mapped it are told to unmap it.
func Free(b []byte) error {
	if len(b) == 0 {
		return errors.New("shm: free of an empty slice")
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	allocs.mu.Lock()
	var r *region
	if l := allocs.list.Load(); l != nil {
		if i, found := slices.BinarySearchFunc(*l, p, byBase); found {
			r = (*l)[i]
			list := slices.Delete(slices.Clone(*l), i, i+1)
			allocs.list.Store(&list)
		}
	}
	allocs.mu.Unlock()
	if r == nil {
		return errors.New("shm: free of memory that Alloc did not return (or freed already)")
	}
	r.mu.Lock()
	_ = unix.Close(r.fd)
	r.fd = -1
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	var msg [9]byte
	msg[0] = msgForget
	binary.LittleEndian.PutUint64(msg[1:], r.id)
	for c := range conns {
		if c.acquire() {
			c.tellMsg(msg[:])
			c.release()
		}
	}
	return unix.Munmap(r.mem)
}

// lendable returns the allocation p lies in, and p's offset in it, or nil.
func lendable(p []byte) (*region, uint64) {
	l := allocs.list.Load()
	if l == nil || len(p) == 0 {
		return nil, 0
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	list := *l
	i, found := slices.BinarySearchFunc(list, a, byBase)
	if !found {
		i-- // the last allocation that starts below a
	}
	if i < 0 {
		return nil, 0
	}
	if r := list[i]; a+uintptr(len(p)) <= r.base+uintptr(len(r.mem)) {
		return r, uint64(a - r.base)
	}
	return nil, 0
}

// byBase orders allocations by address, for binary searches of allocs.list.
func byBase(r *region, a uintptr) int { return cmp.Compare(r.base, a) }

// regionByID returns the live allocation with the id, or nil.
func regionByID(id uint64) *region {
	if l := allocs.list.Load(); l != nil {
		for _, r := range *l {
			if r.id == id {
				return r
			}
		}
	}
	return nil
}

// lentNotice is the payload of a kindLent frame: 0 region id u64 | 8 offset u64. The frame's
// total is the message's length.
const lentNotice = 16

// errFreed says that the memory of a Lend was freed while it was being offered to the peer.
var errFreed = errors.New("shm: memory freed while it was lent")

// Lend sends p without copying it when it lies in memory from Alloc (transport.Lender): the
// ring carries a notice, and the receiver's fn reads p where it lies. The first Lend from an
// allocation on a connection sends the allocation's memfd to the peer and waits for the peer to
// map it. p must not be written until Settle returns for the mark (the ring position after the
// notice) or a later one. Lend reports false, having sent nothing, when p is not in such memory
// (or is empty, or above MaxMessage): send it with Send then.
func (c *Conn) Lend(ctx context.Context, tag transport.Tag, p []byte) (mark uint64, ok bool, err error) {
	if len(p) > MaxMessage {
		return 0, false, nil
	}
	r, off := lendable(p)
	if r == nil {
		return 0, false, nil
	}
	if !c.acquire() {
		return 0, false, c.failed("send", tag)
	}
	defer c.release()
	if err := c.offer(ctx, r); err != nil {
		if errors.Is(err, errFreed) {
			return 0, false, fmt.Errorf("shm: send %v to %s: %w", tag, c.peer, err)
		}
		return 0, false, c.sendErr(ctx, tag, err)
	}
	var notice [lentNotice]byte
	binary.LittleEndian.PutUint64(notice[0:], r.id)
	binary.LittleEndian.PutUint64(notice[8:], off)
	mark, err = c.sendFrame(ctx, frame{kind: kindLent, n: lentNotice, total: len(p), tag: tag}, notice[:])
	return mark, err == nil, err
}

// offer makes sure that the peer has mapped r: the first time, it sends r's memfd over the
// socket and waits for the peer's answer. Offers on a connection go one at a time.
func (c *Conn) offer(ctx context.Context, r *region) error {
	r.mu.Lock()
	mapped, offered := r.conns[c]
	r.mu.Unlock()
	if mapped {
		return nil
	}
	if !offered {
		if err := c.sendOffer(r); err != nil {
			return err
		}
	}
	for {
		bell := c.mapBell.current()
		r.mu.Lock()
		mapped, freed := r.conns[c], r.fd < 0
		r.mu.Unlock()
		switch {
		case mapped:
			return nil
		case freed:
			return errFreed
		}
		select {
		case <-bell:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return errDead
		}
	}
}

// sendOffer sends r's memfd to the peer, unless that was done already.
func (c *Conn) sendOffer(r *region) error {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	r.mu.Lock() // held while the descriptor is sent: Free cannot close it meanwhile
	defer r.mu.Unlock()
	if r.fd < 0 {
		return errFreed
	}
	if _, ok := r.conns[c]; ok {
		return nil
	}
	var msg [17]byte
	msg[0] = msgShare
	binary.LittleEndian.PutUint64(msg[1:], r.id)
	binary.LittleEndian.PutUint64(msg[9:], uint64(len(r.mem)))
	if err := c.tellFD(msg[:], r.fd); err != nil {
		return fmt.Errorf("shm: offer memory to %s: %w", c.peer, err)
	}
	r.conns[c] = false
	c.offered = append(c.offered, r)
	return nil
}

// onMapped records the peer's answer to an offer of region id.
func (c *Conn) onMapped(id uint64) {
	if r := regionByID(id); r != nil {
		r.mu.Lock()
		if _, ok := r.conns[c]; ok {
			r.conns[c] = true
		}
		r.mu.Unlock()
	}
	c.mapBell.ring()
}

// withdraw removes the connection from the allocations it offered (it is closing).
func (c *Conn) withdraw() {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	for _, r := range c.offered {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
	}
	c.offered = nil
}

// Settle waits until the peer has read the messages lent up to mark (transport.Lender): until
// it released their notices (the ring's tail reached mark), which it does once their fn has
// returned, or once it copied them aside. A Settle that sees no progress for settleDrain asks the
// peer to move aside what nobody receives, as a Send waiting for room does, so that it never
// depends on the peer's Recv. It polls first, as a Send waiting for room does (see the package
// documentation, Waiting), then sleeps until the receiver wakes it.
func (c *Conn) Settle(ctx context.Context, mark uint64) error {
	if !c.acquire() {
		return fmt.Errorf("shm: settle lent messages to %s: %w", c.peer, c.closedErr())
	}
	defer c.release()
	ctrl := c.out.ctrl
	settled := func() bool { return ctrl.tail.Load() >= mark }
	if settled() {
		return nil
	}
	start := time.Since(epoch)
	if c.spin(start, ctx.Done(), func() bool { return settled() || c.dead.Load() }) && settled() {
		return nil
	}
	last, since := ctrl.tail.Load(), start
	var timer *time.Timer
	for {
		bell := c.txBell.current()
		// Ask to be woken at mark, or sooner for another settler that waits for less: the
		// receiver wakes everyone at the lowest mark asked for, and who is not done asks again.
		for w := ctrl.settleWant.Load(); (w == 0 || w > mark) && !ctrl.settleWant.CompareAndSwap(w, mark); w = ctrl.settleWant.Load() {
		}
		t := ctrl.tail.Load()
		switch {
		case t >= mark:
			return nil
		case c.dead.Load():
			return fmt.Errorf("shm: settle lent messages to %s: %w", c.peer, c.closedErr())
		case ctx.Err() != nil:
			return fmt.Errorf("shm: settle lent messages to %s: %w", c.peer, ctx.Err())
		}
		now := time.Since(epoch)
		if t != last {
			last, since = t, now
		} else if now-since >= c.settleDrain {
			c.requestDrain()
			since = now
		}
		d := c.settleDrain - (now - since)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		c.stats.sendSleeps.Add(1)
		select {
		case <-bell:
		case <-timer.C:
		case <-ctx.Done():
		case <-c.done:
		}
	}
}

// peerRegion is an allocation of the peer's that this end mapped, read only.
type peerRegion struct {
	mem   []byte
	users int  // fns and copies reading it now
	gone  bool // the peer freed it: unmap once users is zero
}

// peerRegions are the peer's allocations that this end mapped, by id.
type peerRegions struct {
	mu sync.Mutex
	m  map[uint64]*peerRegion
}

// onShare maps an allocation the peer offers (msgShare with its memfd) and answers.
func (c *Conn) onShare(b []byte, fds []int) error {
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	if len(b) != 17 || len(fds) != 1 {
		return fmt.Errorf("offer of memory: %d bytes with %d descriptors: %w", len(b), len(fds), ErrProtocol)
	}
	id, size := binary.LittleEndian.Uint64(b[1:]), binary.LittleEndian.Uint64(b[9:])
	if size == 0 || size%uint64(pageSize) != 0 || size > 1<<46 {
		return fmt.Errorf("offer of memory: size %d: %w", size, ErrProtocol)
	}
	if err := checkSealed(fds[0], int(size)); err != nil {
		return fmt.Errorf("offer of memory: %w", err)
	}
	prs := &c.peerMem
	prs.mu.Lock()
	if prs.m[id] == nil {
		mem, err := unix.Mmap(fds[0], 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			prs.mu.Unlock()
			return fmt.Errorf("map %d bytes of %s's memory: %w", size, c.peer, err)
		}
		if prs.m == nil {
			prs.m = make(map[uint64]*peerRegion)
		}
		prs.m[id] = &peerRegion{mem: mem}
	}
	prs.mu.Unlock()
	var msg [9]byte
	msg[0] = msgMapped
	binary.LittleEndian.PutUint64(msg[1:], id)
	c.tellMsg(msg[:])
	return nil
}

// onForget unmaps an allocation the peer freed, once nothing reads it.
func (c *Conn) onForget(b []byte) error {
	if len(b) != 9 {
		return fmt.Errorf("forget of %d bytes: %w", len(b), ErrProtocol)
	}
	id := binary.LittleEndian.Uint64(b[1:])
	prs := &c.peerMem
	prs.mu.Lock()
	defer prs.mu.Unlock()
	if pr := prs.m[id]; pr != nil {
		delete(prs.m, id)
		pr.gone = true
		if pr.users == 0 {
			_ = unix.Munmap(pr.mem)
		}
	}
	return nil
}

// borrow returns the message a kindLent frame announces (its notice, and total bytes), where it
// lies in the peer's memory; unborrow must follow once it is read.
func (c *Conn) borrow(notice []byte, total int) (*peerRegion, []byte, error) {
	id, off := binary.LittleEndian.Uint64(notice[0:]), binary.LittleEndian.Uint64(notice[8:])
	prs := &c.peerMem
	prs.mu.Lock()
	defer prs.mu.Unlock()
	pr := prs.m[id]
	if pr == nil {
		return nil, nil, fmt.Errorf("lent message in memory %d, which the peer did not offer: %w", id, ErrProtocol)
	}
	if off > uint64(len(pr.mem)) || uint64(total) > uint64(len(pr.mem))-off {
		return nil, nil, fmt.Errorf("lent message of %d bytes at %d in memory %d of %d bytes: %w", total, off, id, len(pr.mem), ErrProtocol)
	}
	pr.users++
	return pr, pr.mem[off : off+uint64(total) : off+uint64(total)], nil
}

// unborrow ends a borrow; nil does nothing.
func (c *Conn) unborrow(pr *peerRegion) {
	if pr == nil {
		return
	}
	prs := &c.peerMem
	prs.mu.Lock()
	defer prs.mu.Unlock()
	pr.users--
	if pr.gone && pr.users == 0 {
		_ = unix.Munmap(pr.mem)
	}
}

// unmapPeerMem unmaps every allocation of the peer's (the Conn is closed and nobody reads).
func (c *Conn) unmapPeerMem() {
	prs := &c.peerMem
	prs.mu.Lock()
	defer prs.mu.Unlock()
	for id, pr := range prs.m {
		_ = unix.Munmap(pr.mem)
		delete(prs.m, id)
	}
}
