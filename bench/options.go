package bench

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/comm"
)

// ErrOptions is the error every invalid option wraps.
var ErrOptions = errors.New("chorus: bench: invalid options")

// Aggregate says how the ranks' times are combined into the row's time (nccl-tests' -a).
type Aggregate uint8

// The ways to combine the ranks' times. The zero Aggregate is AggRank0.
const (
	AggRank0 Aggregate = iota // rank 0's time
	AggAvg                    // the average over the ranks
	AggMin                    // the shortest
	AggMax                    // the longest
)

var aggNames = [...]string{AggRank0: "rank0", AggAvg: "avg", AggMin: "min", AggMax: "max"}

// String returns the aggregate's name: rank0, avg, min or max.
func (a Aggregate) String() string {
	if int(a) < len(aggNames) {
		return aggNames[a]
	}
	return fmt.Sprintf("aggregate(%d)", uint8(a))
}

// ParseAggregate reads an aggregate by its nccl-tests number (0 rank 0, 1 avg, 2 min, 3 max) or
// its name (rank0, avg, min, max).
func ParseAggregate(s string) (Aggregate, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for i, name := range aggNames {
		if k == name || k == strconv.Itoa(i) {
			return Aggregate(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown aggregate %q (0 or rank0, 1 or avg, 2 or min, 3 or max)", ErrOptions, s)
}

// MaxBufferBytes is the largest size a sweep may reach: a guard against a typing mistake
// that would allocate more memory than any machine has.
const MaxBufferBytes = 64 << 30

// maxSizes is the most sizes one sweep may have.
const maxSizes = 10000

// Options is what to benchmark and how. Every rank passes the same Options to Run.
type Options struct {
	// Collectives to run, in order. At least one.
	Collectives []Collective
	// MinBytes and MaxBytes bound the sizes of the sweep (the size column: the larger of a
	// rank's send and receive buffers).
	MinBytes, MaxBytes int64
	// StepFactor multiplies the size from one row to the next, when StepBytes is zero. At least
	// 2 when MinBytes < MaxBytes.
	StepFactor int64
	// StepBytes, when positive, is added to the size from one row to the next instead.
	StepBytes int64
	// Iters is the number of timed iterations of each row and place (at least 1); Warmup the
	// untimed ones before them (at least 0). With Warmup above 0, the first row's warm-up also
	// lasts at least SettleTime.
	Iters, Warmup int
	// Check runs each row and place once more with inputs whose exact result is known and
	// counts the wrong values. Without it #wrong is not measured (N/A).
	Check bool
	// Types are the element types, each a sweep of its own. Empty means float32.
	Types []comm.DType
	// Ops are the reduction ops for allreduce, reducescatter and reduce, each a sweep of its
	// own. Empty means sum.
	Ops []comm.Op
	// Root is the root rank of broadcast, reduce, gather and scatter.
	Root int
	// Aggregate combines the ranks' times.
	Aggregate Aggregate
	// PerIter adds each row's per-iteration median, 99th percentile and spread to the table
	// (they are measured and in the rows either way).
	PerIter bool
	// Algorithms is the communicator's algorithm choice (comm.Config.Algorithms), used only to
	// name the algorithm in each row. Nil means CHORUS_ALGO, as in comm.
	Algorithms map[string]string
	// Transport names the transport in each row. Empty means "unknown".
	Transport string
	// Shared allocates the send and receive buffers with comm.Alloc (shared memory), which
	// ranks of one host lend instead of copying through the ring: the receiver reads the
	// sender's buffer. Without it they are ordinary Go memory, as a framework's tensors are.
	Shared bool
	// Progress, when not nil, is called on this rank after each row with the rows done and the
	// rows in all.
	Progress func(done, total int)
}

// DefaultOptions returns the options `chorus bench` starts from: sizes 1 KiB to 4 MiB by
// factors of 4, 10 timed iterations after 3 untimed, results checked, float32, sum, root 0,
// times averaged over the ranks.
func DefaultOptions() Options {
	return Options{
		Collectives: []Collective{AllReduce},
		MinBytes:    1 << 10,
		MaxBytes:    4 << 20,
		StepFactor:  4,
		Iters:       10,
		Warmup:      3,
		Check:       true,
		Types:       []comm.DType{comm.Float32},
		Ops:         []comm.Op{comm.Sum},
		Aggregate:   AggAvg,
	}
}

// Validate reports whether the options describe a sweep; errors wrap ErrOptions. The root is
// checked against the number of ranks by Run.
func (o Options) Validate() error {
	switch {
	case len(o.Collectives) == 0:
		return fmt.Errorf("%w: no collective", ErrOptions)
	case o.MinBytes < 0:
		return fmt.Errorf("%w: minimum size %d is negative", ErrOptions, o.MinBytes)
	case o.MaxBytes < o.MinBytes:
		return fmt.Errorf("%w: maximum size %d is below the minimum %d", ErrOptions, o.MaxBytes, o.MinBytes)
	case o.MaxBytes > MaxBufferBytes:
		return fmt.Errorf("%w: maximum size %s is above the limit of %s", ErrOptions, FormatSize(o.MaxBytes), FormatSize(MaxBufferBytes))
	case o.StepBytes < 0:
		return fmt.Errorf("%w: step %d is negative", ErrOptions, o.StepBytes)
	case o.StepBytes == 0 && o.MaxBytes > o.MinBytes && o.StepFactor < 2:
		return fmt.Errorf("%w: step factor %d: it must be at least 2 (or give a step in bytes)", ErrOptions, o.StepFactor)
	case o.StepBytes == 0 && o.MaxBytes > o.MinBytes && o.MinBytes == 0:
		return fmt.Errorf("%w: a sweep by a factor cannot start at 0 bytes", ErrOptions)
	case o.Iters < 1:
		return fmt.Errorf("%w: %d iterations: at least 1", ErrOptions, o.Iters)
	case o.Warmup < 0:
		return fmt.Errorf("%w: %d warm-up iterations is negative", ErrOptions, o.Warmup)
	case o.Root < 0:
		return fmt.Errorf("%w: root %d is negative", ErrOptions, o.Root)
	case o.Aggregate > AggMax:
		return fmt.Errorf("%w: unknown aggregate %d", ErrOptions, o.Aggregate)
	}
	for _, c := range o.Collectives {
		if c < AllReduce || c > SendRecv {
			return fmt.Errorf("%w: unknown collective %d", ErrOptions, c)
		}
	}
	for _, dt := range o.Types {
		if !dt.Valid() {
			return fmt.Errorf("%w: invalid element type %d", ErrOptions, dt)
		}
	}
	for _, op := range o.Ops {
		if !op.Valid() {
			return fmt.Errorf("%w: invalid reduction op %d", ErrOptions, op)
		}
	}
	if n := o.countSizes(); n > maxSizes {
		return fmt.Errorf("%w: the sweep has more than %d sizes", ErrOptions, maxSizes)
	}
	return nil
}

// countSizes counts the sizes of the sweep, stopping past maxSizes.
func (o Options) countSizes() int {
	n := 0
	o.eachSize(func(int64) bool { n++; return n <= maxSizes })
	return n
}

// eachSize calls f with each size of the sweep until f returns false.
func (o Options) eachSize(f func(int64) bool) {
	for s := o.MinBytes; s <= o.MaxBytes; {
		if !f(s) {
			return
		}
		var next int64
		switch {
		case o.StepBytes > 0:
			next = s + o.StepBytes
		case o.StepFactor >= 2 && s > 0:
			if s > math.MaxInt64/o.StepFactor {
				return
			}
			next = s * o.StepFactor
		default:
			return
		}
		s = next
	}
}

// Sizes returns the requested sizes of the sweep in bytes, from MinBytes up to MaxBytes.
func (o Options) Sizes() []int64 {
	var out []int64
	o.eachSize(func(s int64) bool {
		out = append(out, s)
		return len(out) <= maxSizes
	})
	return out
}

func (o Options) types() []comm.DType {
	if len(o.Types) == 0 {
		return []comm.DType{comm.Float32}
	}
	return o.Types
}

// opsFor returns the reduction ops that c runs with: none (a single zero Op) for operations
// that do not reduce.
func (o Options) opsFor(c Collective) []comm.Op {
	if !c.Reduces() {
		return []comm.Op{0}
	}
	if len(o.Ops) == 0 {
		return []comm.Op{comm.Sum}
	}
	return o.Ops
}

// ParseSize reads a size in bytes: a whole number with an optional suffix K, M or G (powers of
// 1024, as in nccl-tests), optionally followed by B or iB: 8, 4K, 64M, 1G, 512KB, 2MiB.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	t = strings.TrimSuffix(t, "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult || (t != "" && (t[0] == '+' || t[0] == '-')) {
		return 0, fmt.Errorf("%w: size %q: want a whole number of bytes with an optional K, M or G suffix (such as 8, 4K, 64M, 1G)", ErrOptions, s)
	}
	return n * mult, nil
}

// FormatSize writes n bytes in the shortest exact form ParseSize reads: 1G, 64M, 4K, 100.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// typeNames are the names nccl-tests prints for each element type.
var typeNames = map[comm.DType]string{
	comm.Int8: "int8", comm.Uint8: "uint8", comm.Int32: "int32", comm.Uint32: "uint32",
	comm.Int64: "int64", comm.Uint64: "uint64", comm.Float16: "half", comm.BFloat16: "bfloat16",
	comm.Float32: "float", comm.Float64: "double",
}

// TypeName returns the name nccl-tests gives the element type: int8, uint8, int32, uint32,
// int64, uint64, half, bfloat16, float, double.
func TypeName(dt comm.DType) string {
	if s, ok := typeNames[dt]; ok {
		return s
	}
	return dt.String()
}

// ParseTypes reads a comma-separated list of element types, or "all" for every one. Names are
// those of TypeName and of comm (float32, float16, ...) and their usual aliases.
func ParseTypes(s string) ([]comm.DType, error) {
	var out []comm.DType
	seen := map[comm.DType]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.EqualFold(part, "all") {
			return []comm.DType{comm.Int8, comm.Uint8, comm.Int32, comm.Uint32, comm.Int64, comm.Uint64,
				comm.Float16, comm.Float32, comm.Float64, comm.BFloat16}, nil
		}
		dt, err := parseType(part)
		if err != nil {
			return nil, err
		}
		if !seen[dt] {
			seen[dt] = true
			out = append(out, dt)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no element type named", ErrOptions)
	}
	return out, nil
}

func parseType(s string) (comm.DType, error) {
	for dt, name := range typeNames {
		if strings.EqualFold(s, name) {
			return dt, nil
		}
	}
	dt, err := reduce.ParseDType(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	return dt, nil
}

// OpName returns the reduction op's name, or "none" for the zero Op (operations that do not
// reduce), as nccl-tests prints it.
func OpName(op comm.Op) string {
	if op == 0 {
		return "none"
	}
	return op.String()
}

// ParseOps reads a comma-separated list of reduction ops (sum, prod, min, max, avg), or "all"
// for every one.
func ParseOps(s string) ([]comm.Op, error) {
	var out []comm.Op
	seen := map[comm.Op]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.EqualFold(part, "all") {
			return []comm.Op{comm.Sum, comm.Prod, comm.Max, comm.Min, comm.Avg}, nil
		}
		op, err := reduce.ParseOp(part)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
		if !seen[op] {
			seen[op] = true
			out = append(out, op)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no reduction op named", ErrOptions)
	}
	return out, nil
}
