// Package plan is the schedule IR of Chorus: for every rank of a collective, a straight-line program
// of steps over slices of its buffers. Algorithms (package algos) produce schedules; the simulator
// (algos/simulate) and the engine (comm/internal/exec) run them.
//
// # Buffers and aliasing
//
// A program reads and writes three buffers, measured in elements: In (the caller's send buffer),
// Out (the caller's receive buffer) and Scratch (Program.Scratch elements owned by the engine).
// Their sizes follow from the Request (see Request.Sizes). When Request.InPlace is set, In and Out
// share memory as Request.InPlaceOffset describes, so an algorithm that writes Out may overwrite In.
//
// # Semantics of a program
//
//   - Steps run in order. Recv, RecvReduce, Copy and Reduce complete before the next step starts.
//   - Send is posted and completes in the background; the data is read at some time before it
//     completes. A later step that writes a region overlapping an incomplete send of the same rank
//     waits for that send first, and the program ends only when all its sends have completed.
//   - A send may complete only once the receiver has taken the message (rendezvous); schedules
//     must be free of deadlock under that rule. Messages from rank a to rank b are matched in
//     order: the k-th Send from a to b is the k-th Recv or RecvReduce at b that names a, and both
//     have the same length.
//   - RecvReduce computes Dst = Dst op message, element by element, with the collective's op.
//     Reduce computes Dst = Dst op Src locally.
//   - A Copy whose Src and Dst are the same memory (Copy In to Out in place) does nothing: it
//     writes nothing, so it waits for no send.
package plan

import (
	"fmt"
)

// Collective names a collective operation.
type Collective uint8

// The collectives. The meaning of Request.Count for each is given in Request.Sizes.
const (
	AllReduce Collective = iota + 1
	AllGather
	ReduceScatter
	Broadcast
	Reduce
	AllToAll
	Gather
	Scatter
	Barrier
)

var collNames = [...]string{
	AllReduce:     "allreduce",
	AllGather:     "allgather",
	ReduceScatter: "reducescatter",
	Broadcast:     "broadcast",
	Reduce:        "reduce",
	AllToAll:      "alltoall",
	Gather:        "gather",
	Scatter:       "scatter",
	Barrier:       "barrier",
}

// Collectives lists every collective, in declaration order.
func Collectives() []Collective {
	out := make([]Collective, 0, len(collNames)-1)
	for c := AllReduce; c <= Barrier; c++ {
		out = append(out, c)
	}
	return out
}

// String returns the collective's lower-case name, such as "allreduce".
func (c Collective) String() string {
	if int(c) < len(collNames) && collNames[c] != "" {
		return collNames[c]
	}
	return fmt.Sprintf("collective(%d)", uint8(c))
}

// ParseCollective returns the collective whose String is name.
func ParseCollective(name string) (Collective, error) {
	for c := AllReduce; c <= Barrier; c++ {
		if collNames[c] == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("plan: unknown collective %q", name)
}

// Reduces reports whether the collective combines values with a reduction op.
func (c Collective) Reduces() bool {
	return c == AllReduce || c == ReduceScatter || c == Reduce
}

// Rooted reports whether the collective has a root rank.
func (c Collective) Rooted() bool {
	return c == Broadcast || c == Reduce || c == Gather || c == Scatter
}

// Request describes one collective call as the algorithms see it.
type Request struct {
	Coll     Collective
	Ranks    int  // number of ranks, at least 1
	Count    int  // elements; see Sizes for the meaning per collective
	ElemSize int  // bytes per element, at least 1 (used by cost models only)
	Root     int  // root rank for rooted collectives, else 0
	InPlace  bool // In and Out share memory, as InPlaceOffset describes
	// Hosts says which host each rank runs on, so that algorithms can keep traffic inside hosts
	// and cost models can tell fast links from slow ones. The zero value puts every rank on one
	// host; otherwise Hosts.Len() equals Ranks.
	Hosts Hosts
}

// Validate reports whether the request is well formed.
func (r Request) Validate() error {
	switch {
	case r.Coll < AllReduce || r.Coll > Barrier:
		return fmt.Errorf("plan: unknown collective %d", r.Coll)
	case r.Ranks < 1:
		return fmt.Errorf("plan: %d ranks", r.Ranks)
	case r.Count < 0:
		return fmt.Errorf("plan: negative count %d", r.Count)
	case r.ElemSize < 1:
		return fmt.Errorf("plan: element size %d", r.ElemSize)
	case r.Root < 0 || r.Root >= r.Ranks || (!r.Coll.Rooted() && r.Root != 0):
		return fmt.Errorf("plan: root %d for %s over %d ranks", r.Root, r.Coll, r.Ranks)
	case r.Coll == Barrier && r.Count != 0:
		return fmt.Errorf("plan: barrier with count %d", r.Count)
	case !r.Hosts.IsZero() && r.Hosts.Len() != r.Ranks:
		return fmt.Errorf("plan: hosts describe %d ranks of %d", r.Hosts.Len(), r.Ranks)
	}
	return nil
}

// Sizes returns the lengths, in elements, of rank's In and Out buffers:
//
//	allreduce      In = Count,          Out = Count
//	allgather      In = Count,          Out = Count*Ranks      (Count per rank)
//	reducescatter  In = Count*Ranks,    Out = Count            (Count per rank)
//	broadcast      In = Count at root,  Out = Count            (In is 0 elsewhere)
//	reduce         In = Count,          Out = Count at root    (Out is 0 elsewhere)
//	alltoall       In = Count*Ranks,    Out = Count*Ranks      (Count per pair)
//	gather         In = Count,          Out = Count*Ranks at root (0 elsewhere)
//	scatter        In = Count*Ranks at root (0 elsewhere), Out = Count
//	barrier        In = 0,              Out = 0
func (r Request) Sizes(rank int) (in, out int) {
	n, c := r.Ranks, r.Count
	root := rank == r.Root
	switch r.Coll {
	case AllReduce:
		return c, c
	case AllGather:
		return c, c * n
	case ReduceScatter:
		return c * n, c
	case Broadcast:
		if root {
			return c, c
		}
		return 0, c
	case Reduce:
		if root {
			return c, c
		}
		return c, 0
	case AllToAll:
		return c * n, c * n
	case Gather:
		if root {
			return c, c * n
		}
		return c, 0
	case Scatter:
		if root {
			return c * n, c
		}
		return 0, c
	}
	return 0, 0
}

// InPlaceOffset says how In and Out overlap on rank when the request is in place. It returns ok
// false when the rank's buffers do not share memory even in place (such as a non-root rank of a
// gather). Otherwise, when inInOut is true, In is Out[off : off+len(In)]; when false, Out is
// In[off : off+len(Out)].
//
//	allreduce, alltoall         In is Out
//	allgather                   In is Out[rank*Count:]
//	reducescatter               Out is In[rank*Count:]
//	broadcast, reduce (root)    In is Out
//	gather (root)               In is Out[root*Count:]
//	scatter (root)              Out is In[root*Count:]
func (r Request) InPlaceOffset(rank int) (off int, inInOut, ok bool) {
	root := rank == r.Root
	switch r.Coll {
	case AllReduce, AllToAll:
		return 0, true, true
	case AllGather:
		return rank * r.Count, true, true
	case ReduceScatter:
		return rank * r.Count, false, true
	case Broadcast, Reduce:
		return 0, true, root
	case Gather:
		return rank * r.Count, true, root
	case Scatter:
		return rank * r.Count, false, root
	}
	return 0, false, false
}

// Buf names one of a program's buffers.
type Buf uint8

// The buffers of a program.
const (
	In      Buf = iota // the caller's send buffer; read only
	Out                // the caller's receive buffer
	Scratch            // Program.Scratch elements owned by the engine
)

func (b Buf) String() string {
	switch b {
	case In:
		return "in"
	case Out:
		return "out"
	case Scratch:
		return "scratch"
	}
	return fmt.Sprintf("buf(%d)", uint8(b))
}

// Region is a run of Len elements starting at element Off of buffer Buf.
type Region struct {
	Buf Buf
	Off int
	Len int
}

// End returns Off+Len.
func (r Region) End() int { return r.Off + r.Len }

func (r Region) String() string { return fmt.Sprintf("%s[%d:%d]", r.Buf, r.Off, r.Off+r.Len) }

// Op is the kind of a step.
type Op uint8

// The step kinds.
const (
	Send        Op = iota + 1 // send Src to Peer
	Recv                      // receive from Peer into Dst
	RecvReduce                // receive from Peer and reduce into Dst
	Copy                      // copy Src to Dst (same length)
	ReduceLocal               // Dst = Dst op Src (same length)
)

func (o Op) String() string {
	switch o {
	case Send:
		return "send"
	case Recv:
		return "recv"
	case RecvReduce:
		return "recvreduce"
	case Copy:
		return "copy"
	case ReduceLocal:
		return "reduce"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Step is one instruction of a program. Peer is used by Send, Recv and RecvReduce; Src by Send,
// Copy and ReduceLocal; Dst by Recv, RecvReduce, Copy and ReduceLocal.
type Step struct {
	Op   Op
	Peer int
	Src  Region
	Dst  Region
}

func (s Step) String() string {
	switch s.Op {
	case Send:
		return fmt.Sprintf("send %v -> rank %d", s.Src, s.Peer)
	case Recv, RecvReduce:
		return fmt.Sprintf("%s %v <- rank %d", s.Op, s.Dst, s.Peer)
	default:
		return fmt.Sprintf("%s %v -> %v", s.Op, s.Src, s.Dst)
	}
}

// Program is one rank's part of a schedule.
type Program struct {
	Scratch int // elements of scratch space the program needs
	Steps   []Step
}

// Schedule is an algorithm's plan for one request: a program per rank.
type Schedule struct {
	Algo  string    // name of the algorithm that built it
	Req   Request   // the request it was built for
	Progs []Program // indexed by rank
}
