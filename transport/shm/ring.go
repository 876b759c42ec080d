//go:build linux

package shm

import (
	"encoding/binary"
	"fmt"

	"github.com/chorus-cc/chorus/transport"
)

// frameKind says what a frame carries.
type frameKind uint32

const (
	kindWhole  frameKind = 1 + iota // a whole message
	kindFirst                       // the first piece of a streamed message; total is its length
	kindMore                        // a further piece of the streamed message in progress
	kindCancel                      // the streamed message in progress is abandoned (its Send was cancelled)
	kindLent                        // a lent message: the payload says where it lies in the sender's memory (Lend)
)

// frameAlign is the alignment of frames in the ring: one cache line.
const frameAlign = 64

// frame is a decoded frame header. Layout, little endian:
//
//	0 kind u32 | 4 n u32 | 8 total u64 | 16 comm u64 | 24 seq u64 | 32 check u64 |
//	40 epoch u32 | 44 step u32 | 48 chunk u32 | 52 unused
type frame struct {
	kind  frameKind
	n     int // payload bytes in this frame
	total int // the message's length: n for kindWhole, the whole length for kindFirst and kindLent
	tag   transport.Tag
}

// frameLen is the ring space a frame with n payload bytes takes.
func frameLen(n int) uint64 {
	return uint64(frameHeader + (n+frameAlign-1)&^(frameAlign-1))
}

func putFrame(b []byte, f *frame) {
	_ = b[frameHeader-1]
	binary.LittleEndian.PutUint32(b[0:], uint32(f.kind))
	binary.LittleEndian.PutUint32(b[4:], uint32(f.n))
	binary.LittleEndian.PutUint64(b[8:], uint64(f.total))
	binary.LittleEndian.PutUint64(b[16:], f.tag.Comm)
	binary.LittleEndian.PutUint64(b[24:], f.tag.Seq)
	binary.LittleEndian.PutUint64(b[32:], f.tag.Check)
	binary.LittleEndian.PutUint32(b[40:], f.tag.Epoch)
	binary.LittleEndian.PutUint32(b[44:], f.tag.Step)
	binary.LittleEndian.PutUint32(b[48:], f.tag.Chunk)
}

// getFrame decodes a header. The peer may change the bytes while they are read; every field is
// read once, and checkFrame judges the copy.
func getFrame(b []byte) frame {
	_ = b[frameHeader-1]
	// Lengths above MaxMessage become MaxMessage+1, which every int holds and checkFrame
	// refuses.
	n, total := uint64(binary.LittleEndian.Uint32(b[4:])), binary.LittleEndian.Uint64(b[8:])
	n, total = min(n, MaxMessage+1), min(total, MaxMessage+1)
	return frame{
		kind:  frameKind(binary.LittleEndian.Uint32(b[0:])),
		n:     int(n),
		total: int(total),
		tag: transport.Tag{
			Comm:  binary.LittleEndian.Uint64(b[16:]),
			Seq:   binary.LittleEndian.Uint64(b[24:]),
			Check: binary.LittleEndian.Uint64(b[32:]),
			Epoch: binary.LittleEndian.Uint32(b[40:]),
			Step:  binary.LittleEndian.Uint32(b[44:]),
			Chunk: binary.LittleEndian.Uint32(b[48:]),
		},
	}
}

// checkFrame says what is wrong with f, found with room bytes published from its start in a ring
// of size bytes, or nil.
func checkFrame(f *frame, room, size uint64) error {
	if room < frameHeader {
		return fmt.Errorf("a frame header cut short (%d bytes published): %w", room, ErrProtocol)
	}
	if l := frameLen(f.n); l > room || l > size {
		return fmt.Errorf("frame of %d payload bytes, %d published: %w", f.n, room, ErrProtocol)
	}
	switch f.kind {
	case kindWhole:
		if f.total != f.n {
			return fmt.Errorf("whole frame of %d bytes announces %d: %w", f.n, f.total, ErrProtocol)
		}
	case kindFirst:
		if f.total > MaxMessage || f.total == 0 || f.n > f.total {
			return fmt.Errorf("streamed message of %d bytes (first piece %d, limit %d): %w", f.total, f.n, MaxMessage, ErrProtocol)
		}
	case kindMore:
	case kindLent:
		if f.n != lentNotice || f.total > MaxMessage {
			return fmt.Errorf("lent message of %d bytes with a notice of %d: %w", f.total, f.n, ErrProtocol)
		}
	case kindCancel:
		if f.n != 0 {
			return fmt.Errorf("cancel frame with %d payload bytes: %w", f.n, ErrProtocol)
		}
	default:
		return fmt.Errorf("frame of unknown kind %d: %w", f.kind, ErrProtocol)
	}
	return nil
}

// producer is the writing end of a ring. One Send at a time uses it (under the Conn's tx lock).
type producer struct {
	seg  *segment
	head uint64 // next write position; this end is the only writer of ctrl.head
	tail uint64 // the consumer's position as last read
	// inlineMax is the largest message sent as one frame; fragMax the payload of a piece of a
	// streamed message.
	inlineMax, fragMax int
	// bell wakes the peer's consumer (see wake).
	bell func()
}

func newProducer(seg *segment) producer {
	return producer{
		seg:       seg,
		inlineMax: InlineMax(int(seg.size)),
		fragMax:   int(seg.size/4) - frameHeader,
	}
}

// room reports whether need bytes are free, reading the consumer's position only when the last
// one read does not leave enough.
func (p *producer) room(need uint64) (bool, error) {
	if p.seg.size-(p.head-p.tail) >= need {
		return true, nil
	}
	t := p.seg.ctrl.tail.Load()
	if t > p.head || p.head-t > p.seg.size || t < p.tail {
		return false, fmt.Errorf("consumer position %d with producer at %d (was %d): %w", t, p.head, p.tail, ErrProtocol)
	}
	p.tail = t
	return p.seg.size-(p.head-t) >= need, nil
}

// write writes a frame at head without publishing it; there must be room for it.
func (p *producer) write(f *frame, payload []byte) uint64 {
	l := frameLen(f.n)
	off := p.head & p.seg.mask
	b := p.seg.data[off : off+l]
	putFrame(b, f)
	copy(b[frameHeader:], payload)
	return l
}

// publish makes the frames written so far (l more bytes) visible, and wakes the consumer when
// it sleeps.
func (p *producer) publish(l uint64) {
	p.head += l
	c := p.seg.ctrl
	c.head.Store(p.head)
	wake(&c.consSleeping, p.bell)
}

// consumer is the reading end of a ring. Only the goroutine that owns the receiving side
// touches it.
type consumer struct {
	seg  *segment
	tail uint64 // next frame; this end is the only writer of ctrl.tail
	head uint64 // the producer's position as last read
	bell func() // wakes the peer's producer (see wake)
}

// refresh reads the producer's position and returns how many bytes are published past tail.
func (c *consumer) refresh() (uint64, error) {
	h := c.seg.ctrl.head.Load()
	if h < c.head || h-c.tail > c.seg.size {
		return 0, fmt.Errorf("producer position %d with consumer at %d (was %d): %w", h, c.tail, c.head, ErrProtocol)
	}
	c.head = h
	return h - c.tail, nil
}

// frameAt decodes and checks the frame at pos (tail <= pos < head) and returns it, its
// payload where it lies in the ring, and the ring space it takes.
func (c *consumer) frameAt(pos uint64) (frame, []byte, uint64, error) {
	off := pos & c.seg.mask
	room := c.head - pos
	if room < frameHeader {
		return frame{}, nil, 0, fmt.Errorf("at %d: a frame header cut short: %w", pos, ErrProtocol)
	}
	f := getFrame(c.seg.data[off : off+frameHeader])
	if err := checkFrame(&f, room, c.seg.size); err != nil {
		return frame{}, nil, 0, fmt.Errorf("at %d: %w", pos, err)
	}
	p := c.seg.data[off+frameHeader : off+frameHeader+uint64(f.n) : off+frameHeader+uint64(f.n)]
	return f, p, frameLen(f.n), nil
}

// release gives l bytes at tail back to the producer and wakes it when it sleeps.
func (c *consumer) release(l uint64) {
	c.tail += l
	ctrl := c.seg.ctrl
	ctrl.tail.Store(c.tail)
	wake(&ctrl.prodSleeping, c.bell)
	if w := ctrl.settleWant.Load(); w != 0 && c.tail >= w && ctrl.settleWant.CompareAndSwap(w, 0) {
		c.bell()
	}
}
