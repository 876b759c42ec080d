package comm

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/chorus-cc/chorus/algos/plan"
)

// call is what every rank must agree on for one collective: the fingerprint is its hash.
type call struct {
	coll  plan.Collective
	dtype DType
	op    Op // zero for collectives that do not reduce
	root  int
	count int
	hosts uint64 // hash of the ranks' hosts, which shape the schedule; 0 for one host
	algo  string
}

const callFixed = 1 + 1 + 1 + 4 + 8 + 8 + 1

// encode appends the call's wire form: coll, dtype, op, root (u32), count (u64), hosts (u64),
// len(algo), algo.
func (c call) encode(b []byte) []byte {
	b = append(b, byte(c.coll), byte(c.dtype), byte(c.op))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.root))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.count))
	b = binary.LittleEndian.AppendUint64(b, c.hosts)
	b = append(b, byte(len(c.algo)))
	return append(b, c.algo...)
}

func decodeCall(p []byte) (call, error) {
	if len(p) < callFixed || len(p) != callFixed+int(p[callFixed-1]) {
		return call{}, fmt.Errorf("malformed call description (%d bytes)", len(p))
	}
	return call{
		coll:  plan.Collective(p[0]),
		dtype: DType(p[1]),
		op:    Op(p[2]),
		root:  int(binary.LittleEndian.Uint32(p[3:])),
		count: int(binary.LittleEndian.Uint64(p[7:])),
		hosts: binary.LittleEndian.Uint64(p[15:]),
		algo:  string(p[callFixed:]),
	}, nil
}

// callPrefix returns the call description at the start of p, which may go on with other bytes
// (see helloState), or p whole when it is too short to say.
func callPrefix(p []byte) []byte {
	if len(p) < callFixed {
		return p
	}
	if n := callFixed + int(p[callFixed-1]); n <= len(p) {
		return p[:n]
	}
	return p
}

// fingerprint is the hash of an encoded call that every data frame carries (Tag.Check).
func fingerprint(encoded []byte) uint64 { return xxhash.Sum64(encoded) }

func (c call) String() string {
	s := fmt.Sprintf("%s(%s, count %d", c.coll, c.dtype, c.count)
	if c.coll.Reduces() {
		s += ", " + c.op.String()
	}
	if c.coll.Rooted() {
		s += fmt.Sprintf(", root %d", c.root)
	}
	if c.hosts != 0 {
		s += fmt.Sprintf(", hosts %016x", c.hosts)
	}
	return s + ") [" + c.algo + "]"
}
