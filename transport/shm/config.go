package shm

import (
	"errors"
	"fmt"
	"os"
)

// Sizes and limits; see the package documentation.
const (
	// MaxMessage is the largest message a Conn carries, in bytes.
	MaxMessage = 256 << 20
	// DefaultRingSize is the data size of each direction's ring when Config.RingSize is zero.
	DefaultRingSize = 4 << 20
	// MinRingSize and MaxRingSize bound Config.RingSize.
	MinRingSize = 64 << 10
	MaxRingSize = 1 << 30
)

// EnvDir names the environment variable that says where Listen("") creates sockets.
const EnvDir = "CHORUS_SHM_DIR"

// ErrProtocol: the peer broke the protocol (a bad frame, counter or segment); the connection
// is closed.
var ErrProtocol = errors.New("chorus: shm: protocol violation")

// frameHeader is the size of a frame's header in the ring.
const frameHeader = 64

// InlineMax returns the largest message that travels as one frame (and is read in place) in a
// ring of ringSize bytes: half the ring less a frame header. Larger messages are streamed in
// pieces and assembled by the receiver.
func InlineMax(ringSize int) int {
	return ringSize/2 - frameHeader
}

// Config configures a Transport.
type Config struct {
	// Dir is the directory where Listen("") creates its socket. Empty: $CHORUS_SHM_DIR when set,
	// otherwise os.TempDir(). It is created (mode 0700) when missing.
	Dir string
	// RingSize is the data size of the ring this end writes into, in bytes: a power of two
	// between MinRingSize and MaxRingSize. The peer's ring may differ. Zero: DefaultRingSize.
	RingSize int
}

// ringSize returns the ring size cfg asks for, checked.
func (cfg Config) ringSize() (int, error) {
	n := cfg.RingSize
	if n == 0 {
		return DefaultRingSize, nil
	}
	if n < MinRingSize || n > MaxRingSize || n&(n-1) != 0 {
		return 0, fmt.Errorf("shm: ring size %d: want a power of two between %d and %d", n, MinRingSize, MaxRingSize)
	}
	return n, nil
}

// dir returns the directory for fresh socket paths.
func (cfg Config) dir() string {
	if cfg.Dir != "" {
		return cfg.Dir
	}
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return os.TempDir()
}
