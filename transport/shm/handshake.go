//go:build linux

package shm

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The hello each end sends when a connection starts, with its ring's memfd attached
// (SCM_RIGHTS):
//
//	0 magic u64 | 8 version u32 | 12 ring size u32 | 16 pid u32 | 20 page size u32 | 24 zero
const (
	helloLen   = 32
	helloMagic = 0x6f6c6c65686d6873 // "shmhello", little endian
)

// handshakeTimeout bounds the exchange of hellos on an accepted socket.
const handshakeTimeout = 10 * time.Second

// pastDeadline is a deadline that has passed: setting it wakes a blocked read or write.
var pastDeadline = time.Unix(1, 0)

// handshake makes this end's ring, exchanges hellos and rings with the peer over sock, and
// starts the Conn. On failure it closes sock.
func handshake(ctx context.Context, sock *net.UnixConn, ringSize int, name string) (_ *Conn, err error) {
	defer func() {
		if err != nil {
			_ = sock.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = sock.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = sock.SetDeadline(pastDeadline) })
	out, fd, err := newSegment(ringSize)
	if err != nil {
		stop()
		return nil, err
	}
	in, pid, err := exchange(sock, out, fd, ringSize)
	_ = unix.Close(fd)
	if !stop() {
		// ctx ended: the deadline is (or is about to be) in the past.
		if err == nil {
			in.unmap()
		}
		out.unmap()
		return nil, ctx.Err()
	}
	if err != nil {
		out.unmap()
		return nil, err
	}
	_ = sock.SetDeadline(time.Time{})
	raw, err := sock.SyscallConn()
	if err != nil {
		in.unmap()
		out.unmap()
		return nil, fmt.Errorf("shm: the socket's descriptor: %w", err)
	}
	peer := fmt.Sprintf("pid %d", pid)
	return newConn(sock, raw, in, out, name+" (to "+peer+")", peer), nil
}

// exchange sends this end's hello with fd and reads the peer's, and maps the peer's ring.
func exchange(sock *net.UnixConn, out *segment, fd, ringSize int) (*segment, int, error) {
	var b [helloLen]byte
	binary.LittleEndian.PutUint64(b[0:], helloMagic)
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(ringSize))
	binary.LittleEndian.PutUint32(b[16:], uint32(os.Getpid()))
	binary.LittleEndian.PutUint32(b[20:], uint32(pageSize))
	if _, _, err := sock.WriteMsgUnix(b[:], unix.UnixRights(fd), nil); err != nil {
		return nil, 0, fmt.Errorf("shm: send hello: %w", err)
	}
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := sock.ReadMsgUnix(b[:], oob)
	if err != nil {
		return nil, 0, fmt.Errorf("shm: read the peer's hello: %w", err)
	}
	fds, ferr := receivedFDs(oob[:oobn])
	defer func() {
		for _, f := range fds {
			_ = unix.Close(f)
		}
	}()
	switch {
	case ferr != nil:
		return nil, 0, ferr
	case n != helloLen || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		return nil, 0, fmt.Errorf("shm: peer's hello of %d bytes (flags %#x): %w", n, flags, ErrProtocol)
	case binary.LittleEndian.Uint64(b[0:]) != helloMagic:
		return nil, 0, fmt.Errorf("shm: the peer is not a Chorus shm endpoint: %w", ErrProtocol)
	case binary.LittleEndian.Uint32(b[8:]) != segVersion:
		return nil, 0, fmt.Errorf("shm: peer speaks version %d, want %d: %w", binary.LittleEndian.Uint32(b[8:]), segVersion, ErrProtocol)
	case binary.LittleEndian.Uint32(b[20:]) != uint32(pageSize):
		return nil, 0, fmt.Errorf("shm: peer's page size %d, ours %d: %w", binary.LittleEndian.Uint32(b[20:]), pageSize, ErrProtocol)
	case len(fds) != 1:
		return nil, 0, fmt.Errorf("shm: peer's hello carries %d descriptors, want 1: %w", len(fds), ErrProtocol)
	}
	in, err := openSegment(fds[0], int(binary.LittleEndian.Uint32(b[12:])))
	if err != nil {
		return nil, 0, err
	}
	return in, int(binary.LittleEndian.Uint32(b[16:])), nil
}

// receivedFDs returns the descriptors in a control message; the caller closes them.
func receivedFDs(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("shm: descriptors from the peer: %w: %w", ErrProtocol, err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, fmt.Errorf("shm: descriptors from the peer: %w: %w", ErrProtocol, err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}
