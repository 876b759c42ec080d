package quic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/chorus-cc/chorus/transport"
)

// Frame format. Every frame is a fixed 48-byte header followed by the payload; all integers are
// little-endian:
//
//	offset size field
//	     0    3 magic "chr"
//	     3    1 version (1)
//	     4    1 kind (0 data, 1 hello)
//	     5    3 reserved, zero
//	     8    8 Tag.Comm
//	    16    8 Tag.Seq
//	    24    8 Tag.Check
//	    32    4 Tag.Epoch
//	    36    4 Tag.Step
//	    40    4 Tag.Chunk
//	    44    4 payload length (at most MaxFrame)
const (
	headerLen = 48
	version   = 1
)

// MaxFrame is the largest payload one message may carry. A received header announcing more is
// refused before anything is allocated, and the connection is closed. The engine sends chunks of
// at most 256 KiB; the limit leaves room for other users while bounding what one header can make
// a receiver allocate.
const MaxFrame = 16 << 20

var magic = [3]byte{'c', 'h', 'r'}

// frame kinds.
const (
	kindData  = 0
	kindHello = 1 // sent once by the accepting side on its first stream: "you are accepted"
)

// errBadFrame: a header that is not a Chorus frame header.
var errBadFrame = errors.New("chorus: quic: malformed frame header")

// hdr is a decoded frame header.
type hdr struct {
	kind   uint8
	tag    transport.Tag
	length uint32
}

// encodeHeader writes h into b, which has at least headerLen bytes.
func encodeHeader(b []byte, h hdr) {
	_ = b[headerLen-1]
	copy(b[0:3], magic[:])
	b[3] = version
	b[4] = h.kind
	b[5], b[6], b[7] = 0, 0, 0
	binary.LittleEndian.PutUint64(b[8:], h.tag.Comm)
	binary.LittleEndian.PutUint64(b[16:], h.tag.Seq)
	binary.LittleEndian.PutUint64(b[24:], h.tag.Check)
	binary.LittleEndian.PutUint32(b[32:], h.tag.Epoch)
	binary.LittleEndian.PutUint32(b[36:], h.tag.Step)
	binary.LittleEndian.PutUint32(b[40:], h.tag.Chunk)
	binary.LittleEndian.PutUint32(b[44:], h.length)
}

// decodeHeader parses a frame header from the first headerLen bytes of b. It fails on a short
// buffer, a wrong magic, version, kind or reserved byte (errBadFrame), a hello that carries a
// payload (errBadFrame), and a length above MaxFrame (transport.ErrTooLarge). It never
// allocates a payload: the caller does, after this check.
func decodeHeader(b []byte) (hdr, error) {
	if len(b) < headerLen {
		return hdr{}, fmt.Errorf("quic: frame header of %d bytes, want %d: %w", len(b), headerLen, errBadFrame)
	}
	if b[0] != magic[0] || b[1] != magic[1] || b[2] != magic[2] {
		return hdr{}, fmt.Errorf("quic: frame magic %q: %w", b[0:3], errBadFrame)
	}
	if b[3] != version {
		return hdr{}, fmt.Errorf("quic: frame version %d, want %d: %w", b[3], version, errBadFrame)
	}
	if b[5]|b[6]|b[7] != 0 {
		return hdr{}, fmt.Errorf("quic: frame reserved bytes %x set: %w", b[5:8], errBadFrame)
	}
	h := hdr{
		kind: b[4],
		tag: transport.Tag{
			Comm:  binary.LittleEndian.Uint64(b[8:]),
			Seq:   binary.LittleEndian.Uint64(b[16:]),
			Check: binary.LittleEndian.Uint64(b[24:]),
			Epoch: binary.LittleEndian.Uint32(b[32:]),
			Step:  binary.LittleEndian.Uint32(b[36:]),
			Chunk: binary.LittleEndian.Uint32(b[40:]),
		},
		length: binary.LittleEndian.Uint32(b[44:]),
	}
	switch h.kind {
	case kindData:
		if h.length > MaxFrame {
			return hdr{}, fmt.Errorf("quic: frame of %d bytes for %v, limit %d: %w", h.length, h.tag, MaxFrame, transport.ErrTooLarge)
		}
	case kindHello:
		if h.length != 0 {
			return hdr{}, fmt.Errorf("quic: hello frame with %d payload bytes: %w", h.length, errBadFrame)
		}
	default:
		return hdr{}, fmt.Errorf("quic: frame kind %d: %w", h.kind, errBadFrame)
	}
	return h, nil
}

// payloadPools[c] holds *[]byte of capacity 1<<c for received payloads.
var payloadPools [bits.UintSize]sync.Pool

const minPayloadClass = 6 // 64 bytes

func payloadClass(n int) int { return max(bits.Len(uint(n-1)), minPayloadClass) }

// getPayload returns a buffer of length n (n > 0) from the pools.
func getPayload(n int) []byte {
	c := payloadClass(n)
	if v := payloadPools[c].Get(); v != nil {
		return (*v.(*[]byte))[:n]
	}
	return make([]byte, n, 1<<c)
}

// putPayload gives a buffer from getPayload back to the pools. It is the release function
// handed to transport.Mailbox.DeliverOwned.
func putPayload(p []byte) {
	if cap(p) == 0 {
		return
	}
	c := payloadClass(cap(p))
	if cap(p) != 1<<c {
		return // not one of ours
	}
	b := p[:cap(p)]
	payloadPools[c].Put(&b)
}
