package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// wirePeer is what Decode parses: a Peer whose CPU list stays a string until the whole object
// is read. The outer field hides Peer.CPUs from encoding/json (the shallower field wins), so an
// object that repeats "cpus" a hundred thousand times overwrites a string each time instead of
// expanding a CPU set of up to MaxCPU numbers each time.
type wirePeer struct {
	Peer
	CPUs string `json:"cpus,omitempty"`
}

// MaxEncodedSize bounds an encoded peer description. Decode refuses longer input before parsing.
const MaxEncodedSize = 1 << 20

// Encode returns p as JSON for the rendezvous store. It refuses a description that does not
// pass Validate, so whatever Encode writes, Decode reads back.
func Encode(p Peer) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("topology: encode: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keeps "<" one byte, so the bounds of Validate bound the size
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("topology: encode rank %d: %w", p.Rank, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("topology: encode: %w: rank %d: %d bytes (at most %d)",
			ErrMalformed, p.Rank, len(b), MaxEncodedSize)
	}
	return b, nil
}

// Decode parses a description written by Encode. It refuses, with an error wrapping
// ErrMalformed, input over MaxEncodedSize, anything but exactly one JSON object, fields this
// version does not know, and descriptions that do not pass Validate. A key given twice keeps
// its last value, as encoding/json does.
func Decode(b []byte) (Peer, error) {
	if len(b) > MaxEncodedSize {
		return Peer{}, fmt.Errorf("topology: decode: %w: %d bytes (at most %d)", ErrMalformed, len(b), MaxEncodedSize)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return Peer{}, fmt.Errorf("topology: decode: %w: not a JSON object", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wirePeer
	if err := dec.Decode(&w); err != nil {
		return Peer{}, fmt.Errorf("topology: decode: %w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Peer{}, fmt.Errorf("topology: decode: %w: data after the object", ErrMalformed)
	}
	p := w.Peer
	cpus, err := ParseCPUSet(w.CPUs)
	if err != nil {
		return Peer{}, fmt.Errorf("topology: decode: %w: rank %d: %v", ErrMalformed, p.Rank, err)
	}
	p.CPUs = cpus
	if err := p.Validate(); err != nil {
		return Peer{}, fmt.Errorf("topology: decode: %w", err)
	}
	return p, nil
}
