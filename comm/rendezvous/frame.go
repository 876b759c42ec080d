package rendezvous

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The wire protocol, after the handshake of auth.go, is a sequence of request and response
// frames on one TCP connection; a client sends one request and reads its response before the
// next. Every frame is
//
//	+----+---------+---------+---------+-----+-------+-----+
//	| op | keyLen  | valLen  | auxLen  | key | value | aux |
//	| u8 | u32 BE  | u64 BE  | u64 BE  |     |       |     |
//	+----+---------+---------+---------+-----+-------+-----+
//
// The reader checks op and the three lengths (key <= MaxKeySize, value and aux <= MaxValueSize)
// before it allocates anything, so a hostile length costs the server nothing but the
// connection. Requests:
//
//	opSet  key, value             -> opOK
//	opGet  key                    -> opOK value (sent once the key exists)
//	opWait key                    -> opOK       (sent once the key exists)
//	opAdd  key, value=delta i64BE -> opOK value=new i64BE
//	opCAS  key, value=old, aux=new -> opOK value=after, aux=[1] if after is nil
//
// Any request may instead get opErr with value = a message.
const (
	opSet  byte = 1
	opGet  byte = 2
	opWait byte = 3
	opAdd  byte = 4
	opCAS  byte = 5
	opOK   byte = 0x80
	opErr  byte = 0x81
)

// frameHeaderSize is the size of the fixed frame header.
const frameHeaderSize = 1 + 4 + 8 + 8

// frame is one decoded request or response.
type frame struct {
	op    byte
	key   string
	value []byte
	aux   []byte
}

// validOp reports whether op is one the protocol knows.
func validOp(op byte) bool {
	switch op {
	case opSet, opGet, opWait, opAdd, opCAS, opOK, opErr:
		return true
	}
	return false
}

// appendFrame appends the encoding of f to b.
func appendFrame(b []byte, f frame) []byte {
	b = append(b, f.op)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.key)))
	b = binary.BigEndian.AppendUint64(b, uint64(len(f.value)))
	b = binary.BigEndian.AppendUint64(b, uint64(len(f.aux)))
	b = append(b, f.key...)
	b = append(b, f.value...)
	return append(b, f.aux...)
}

// writeFrame writes f to w in one call.
func writeFrame(w io.Writer, f frame) error {
	_, err := w.Write(appendFrame(make([]byte, 0, frameHeaderSize+len(f.key)+len(f.value)+len(f.aux)), f))
	return err
}

// readFrame reads one frame from r, checking the header before allocating.
func readFrame(r io.Reader) (frame, error) {
	var h [frameHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	op := h[0]
	keyLen := binary.BigEndian.Uint32(h[1:5])
	valLen := binary.BigEndian.Uint64(h[5:13])
	auxLen := binary.BigEndian.Uint64(h[13:21])
	if !validOp(op) {
		return frame{}, fmt.Errorf("rendezvous: bad frame: unknown op %#x", op)
	}
	if keyLen > MaxKeySize {
		return frame{}, fmt.Errorf("rendezvous: bad frame: key length %d over %d: %w", keyLen, MaxKeySize, ErrKeyTooLarge)
	}
	if valLen > MaxValueSize {
		return frame{}, fmt.Errorf("rendezvous: bad frame: value length %d over %d: %w", valLen, MaxValueSize, ErrValueTooLarge)
	}
	if auxLen > MaxValueSize {
		return frame{}, fmt.Errorf("rendezvous: bad frame: aux length %d over %d: %w", auxLen, MaxValueSize, ErrValueTooLarge)
	}
	body := make([]byte, int(keyLen)+int(valLen)+int(auxLen))
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, fmt.Errorf("rendezvous: bad frame: short body: %w", err)
	}
	f := frame{op: op, key: string(body[:keyLen])}
	f.value = body[keyLen : uint64(keyLen)+valLen : uint64(keyLen)+valLen]
	f.aux = body[uint64(keyLen)+valLen:]
	return f, nil
}
