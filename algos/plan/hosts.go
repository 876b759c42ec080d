package plan

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Hosts says on which host each rank of a request runs: the host index of rank r is Of(r). Host
// indexes are dense, 0 .. Count()-1, in any order. The zero value puts every rank on one host,
// which is what a Request without Hosts means.
//
// Hosts is a comparable value, so that a Request stays usable as a map key: it keeps the indexes
// in an immutable string rather than a slice. Build one with NewHosts.
type Hosts struct {
	enc   string // 4 bytes per rank, little-endian host index; empty for one host
	hosts int    // number of distinct hosts; 0 in the zero value
}

// hostWidth is the bytes per rank in Hosts.enc.
const hostWidth = 4

// NewHosts returns the Hosts in which rank r runs on host hostOf[r]. The indexes must be dense:
// every one of 0 .. max(hostOf) occurs. An empty hostOf gives the zero value (every rank on one
// host). NewHosts copies hostOf.
func NewHosts(hostOf []int) (Hosts, error) {
	if len(hostOf) == 0 {
		return Hosts{}, nil
	}
	if len(hostOf) > math.MaxUint32 {
		return Hosts{}, fmt.Errorf("plan: %d ranks", len(hostOf))
	}
	hi := 0
	for r, h := range hostOf {
		if h < 0 || h >= len(hostOf) {
			return Hosts{}, fmt.Errorf("plan: rank %d on host %d: host indexes must be dense from 0 over %d ranks", r, h, len(hostOf))
		}
		hi = max(hi, h)
	}
	seen := make([]bool, hi+1)
	buf := make([]byte, hostWidth*len(hostOf))
	for r, h := range hostOf {
		seen[h] = true
		binary.LittleEndian.PutUint32(buf[hostWidth*r:], uint32(h))
	}
	for h, ok := range seen {
		if !ok {
			return Hosts{}, fmt.Errorf("plan: no rank on host %d of %d: host indexes must be dense from 0", h, hi+1)
		}
	}
	return Hosts{enc: string(buf), hosts: hi + 1}, nil
}

// IsZero reports whether h is the zero value: every rank on one host, however many ranks.
func (h Hosts) IsZero() bool { return h.enc == "" }

// Len returns the number of ranks h describes; 0 for the zero value.
func (h Hosts) Len() int { return len(h.enc) / hostWidth }

// Count returns the number of hosts: 1 for the zero value.
func (h Hosts) Count() int { return max(h.hosts, 1) }

// Of returns the host index of rank: 0 for every rank in the zero value, -1 for a rank outside
// 0 .. Len()-1 otherwise.
func (h Hosts) Of(rank int) int {
	if h.IsZero() {
		return 0
	}
	if rank < 0 || rank >= h.Len() {
		return -1
	}
	b := h.enc[hostWidth*rank : hostWidth*(rank+1)]
	return int(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

// Slice returns the host index of every rank, a new slice; nil for the zero value.
func (h Hosts) Slice() []int {
	if h.IsZero() {
		return nil
	}
	out := make([]int, h.Len())
	for r := range out {
		out[r] = h.Of(r)
	}
	return out
}

// String returns the host indexes in brackets, such as "[0 0 1 1]", or "[one host]" for the zero
// value.
func (h Hosts) String() string {
	if h.IsZero() {
		return "[one host]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for r := range h.Len() {
		if r > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(h.Of(r)))
	}
	b.WriteByte(']')
	return b.String()
}
