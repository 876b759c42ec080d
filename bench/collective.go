// Package bench is the benchmark logic behind `chorus bench`: it sweeps collectives over sizes,
// element types and reduction ops on a communicator, times them, checks their results, and
// reports the rows of the nccl-tests table (time, algorithm bandwidth, bus bandwidth, wrong
// values), as text, as JSON, as a plot, or as the ratios between two runs.
//
// Run is called by every rank of a communicator, however it was made (comm.InitFromEnv in
// separate processes, comm.Init over any transport, comm.NewLocal in one process); the ranks
// agree on the results through the communicator itself, so every rank reports the same rows.
//
// The bus bandwidth follows nccl-tests (doc/PERFORMANCE.md there): the algorithm bandwidth
// S / t, where S is the larger of a rank's send and receive buffers, multiplied by a factor
// that makes the number comparable with the hardware's peak whatever the collective (see
// BusFactor).
package bench

import (
	"fmt"
	"strings"
)

// Collective names a benchmarked operation: the collectives of package comm, and a paired
// send/receive around a ring (sendrecv).
type Collective uint8

// The benchmarked operations.
const (
	AllReduce Collective = iota + 1
	AllGather
	ReduceScatter
	Broadcast
	Reduce
	AllToAll
	Gather
	Scatter
	SendRecv
)

// Collectives returns every benchmarked operation, in the order `all` runs them.
func Collectives() []Collective {
	out := make([]Collective, 0, int(SendRecv))
	for c := AllReduce; c <= SendRecv; c++ {
		out = append(out, c)
	}
	return out
}

// String returns the operation's name, such as "allreduce".
func (c Collective) String() string {
	switch {
	case c == SendRecv:
		return "sendrecv"
	case c >= AllReduce && c < SendRecv:
		return planColl(c).String() // the collectives share package plan's names
	}
	return fmt.Sprintf("collective(%d)", uint8(c))
}

// MarshalText implements encoding.TextMarshaler: the name.
func (c Collective) MarshalText() ([]byte, error) {
	if c < AllReduce || c > SendRecv {
		return nil, fmt.Errorf("bench: invalid collective %d", uint8(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: it reads a name as ParseCollective does.
func (c *Collective) UnmarshalText(b []byte) error {
	v, err := ParseCollective(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// collAliases are the other accepted spellings: nccl-tests' binary names and underscores.
var collAliases = map[string]Collective{
	"all_reduce": AllReduce, "all_gather": AllGather, "reduce_scatter": ReduceScatter,
	"all_to_all": AllToAll, "send_recv": SendRecv,
}

// ParseCollective returns the operation named s (any case; nccl-tests' spellings such as
// all_reduce are accepted too).
func ParseCollective(s string) (Collective, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for _, c := range Collectives() {
		if k == c.String() {
			return c, nil
		}
	}
	if c, ok := collAliases[k]; ok {
		return c, nil
	}
	var names []string
	for _, c := range Collectives() {
		names = append(names, c.String())
	}
	return 0, fmt.Errorf("%w: unknown collective %q (valid: %s, all)", ErrOptions, s, strings.Join(names, ", "))
}

// ParseCollectives reads a comma-separated list of operations, or "all" for every one. Repeats
// are dropped.
func ParseCollectives(s string) ([]Collective, error) {
	var out []Collective
	seen := map[Collective]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.EqualFold(part, "all") {
			return Collectives(), nil
		}
		c, err := ParseCollective(part)
		if err != nil {
			return nil, err
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no collective named", ErrOptions)
	}
	return out, nil
}

// Reduces reports whether the operation combines values with a reduction op.
func (c Collective) Reduces() bool { return c == AllReduce || c == ReduceScatter || c == Reduce }

// Rooted reports whether the operation has a root rank.
func (c Collective) Rooted() bool {
	return c == Broadcast || c == Reduce || c == Gather || c == Scatter
}

// partitioned reports whether the per-rank count is the total size divided among the ranks
// (so that the size column is count × ranks × element size).
func (c Collective) partitioned() bool {
	return c == AllGather || c == ReduceScatter || c == AllToAll || c == Gather || c == Scatter
}

// BusFactor returns the factor nccl-tests multiplies the algorithm bandwidth by to get the bus
// bandwidth of operation c over n ranks:
//
//	allreduce                                          2(n-1)/n
//	allgather, reducescatter, alltoall, gather, scatter (n-1)/n
//	broadcast, reduce, sendrecv                        1
//
// With one rank the factors of the first two lines are 0: nothing crosses a bus.
func BusFactor(c Collective, n int) float64 {
	if n < 1 {
		return 0
	}
	f := float64(n-1) / float64(n)
	switch c {
	case AllReduce:
		return 2 * f
	case AllGather, ReduceScatter, AllToAll, Gather, Scatter:
		return f
	}
	return 1
}

// Shape returns the count and size columns of the row for a requested size of bytes elements
// of elemSize bytes over n ranks, as nccl-tests computes them. count is the count the
// operation takes (per rank for allgather, reducescatter, gather and scatter, per pair of ranks
// for alltoall; the whole buffer for the others) and size is the larger of a rank's send and
// receive buffers in bytes (count × n × elemSize for the partitioned operations, count ×
// elemSize for the others), which is at most bytes.
func Shape(c Collective, bytes int64, elemSize, n int) (count int, size int64) {
	if elemSize < 1 || n < 1 || bytes < 0 {
		return 0, 0
	}
	elems := bytes / int64(elemSize)
	if c.partitioned() {
		per := elems / int64(n)
		return int(per), per * int64(n) * int64(elemSize)
	}
	return int(elems), elems * int64(elemSize)
}

// Bandwidths returns the algorithm and bus bandwidths in GB/s (10^9 bytes per second) of
// moving size bytes (the size column) in seconds with operation c over n ranks; zeros when
// seconds is not positive.
func Bandwidths(c Collective, size int64, seconds float64, n int) (algBW, busBW float64) {
	if seconds <= 0 {
		return 0, 0
	}
	algBW = float64(size) / seconds / 1e9
	return algBW, algBW * BusFactor(c, n)
}
