package comm

import (
	"context"
	"fmt"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Operation is one collective or point-to-point call, built by AllReduceOp, SendOp and the like,
// and run by Comm.Start.
type Operation struct {
	coll plan.Collective // zero for point-to-point
	send Buffer
	recv Buffer
	op   Op
	root int
	peer int
	p2p  p2pKind
}

type p2pKind uint8

const (
	notP2P p2pKind = iota
	p2pSend
	p2pRecv
)

// Name returns the operation's name, such as "allreduce" or "send".
func (o Operation) Name() string {
	switch o.p2p {
	case p2pSend:
		return "send"
	case p2pRecv:
		return "recv"
	}
	return o.coll.String()
}

// AllReduceOp reduces send over all ranks with op and leaves the result in recv on every rank.
// send and recv have the same length; they may be the same buffer (in place).
func AllReduceOp(send, recv Buffer, op Op) Operation {
	return Operation{coll: plan.AllReduce, send: send, recv: recv, op: op}
}

// AllGatherOp concatenates every rank's send into recv, in rank order: recv has Size() times the
// length of send. In place when send is recv's slice for this rank.
func AllGatherOp(send, recv Buffer) Operation {
	return Operation{coll: plan.AllGather, send: send, recv: recv}
}

// ReduceScatterOp reduces send over all ranks with op and leaves rank r's r-th slice of the result
// in recv: send has Size() times the length of recv. In place when recv is send's slice for this
// rank.
func ReduceScatterOp(send, recv Buffer, op Op) Operation {
	return Operation{coll: plan.ReduceScatter, send: send, recv: recv, op: op}
}

// BroadcastOp copies root's send into recv on every rank. send is read on root only (others may
// pass the zero Buffer); root may pass the same buffer twice (in place).
func BroadcastOp(send, recv Buffer, root int) Operation {
	return Operation{coll: plan.Broadcast, send: send, recv: recv, root: root}
}

// ReduceOp reduces send over all ranks with op into root's recv. recv is written on root only
// (others may pass the zero Buffer); root may pass the same buffer twice (in place).
func ReduceOp(send, recv Buffer, op Op, root int) Operation {
	return Operation{coll: plan.Reduce, send: send, recv: recv, op: op, root: root}
}

// AllToAllOp sends the j-th of Size() equal slices of send to rank j, which stores it as the r-th
// slice of its recv (r the sender). send and recv have the same length; they may be the same
// buffer.
func AllToAllOp(send, recv Buffer) Operation {
	return Operation{coll: plan.AllToAll, send: send, recv: recv}
}

// GatherOp concatenates every rank's send into root's recv, in rank order. recv is written on root
// only; in place when root's send is its own slice of recv.
func GatherOp(send, recv Buffer, root int) Operation {
	return Operation{coll: plan.Gather, send: send, recv: recv, root: root}
}

// ScatterOp sends the r-th of Size() equal slices of root's send to rank r's recv. send is read on
// root only; in place when root's recv is its own slice of send.
func ScatterOp(send, recv Buffer, root int) Operation {
	return Operation{coll: plan.Scatter, send: send, recv: recv, root: root}
}

// BarrierOp completes on a rank once every rank has started it.
func BarrierOp() Operation { return Operation{coll: plan.Barrier} }

// SendOp sends buf to rank peer, which must issue a matching RecvOp of the same byte length.
// The k-th send to a peer matches that peer's k-th receive from this rank. A send of more than a
// few KiB completes only when the peer receives it, so two ranks that send to each other must use
// Start for the sends (or the receives) and Wait after.
func SendOp(buf Buffer, peer int) Operation {
	return Operation{send: buf, peer: peer, p2p: p2pSend}
}

// RecvOp receives into buf the matching SendOp of rank peer.
func RecvOp(buf Buffer, peer int) Operation {
	return Operation{recv: buf, peer: peer, p2p: p2pRecv}
}

// Start issues op and returns at once with its Work. ctx bounds the operation (with the
// communicator's timeout) for as long as it runs. Bad arguments fail the Work at once with
// ErrInvalid, without using a sequence number.
func (c *Comm) Start(ctx context.Context, op Operation) *Work {
	w := &Work{ctx: ctx, op: op, done: make(chan struct{})}
	if op.p2p != notP2P {
		c.startP2P(w)
		return w
	}
	req, cl, err := c.prepare(op)
	if err != nil {
		w.finish(err)
		return w
	}
	w.req, w.call = req, cl
	c.enqueue(w)
	return w
}

// AllReduce runs AllReduceOp and waits for it.
func (c *Comm) AllReduce(ctx context.Context, send, recv Buffer, op Op) error {
	return c.Run(ctx, AllReduceOp(send, recv, op))
}

// AllGather runs AllGatherOp and waits for it.
func (c *Comm) AllGather(ctx context.Context, send, recv Buffer) error {
	return c.Run(ctx, AllGatherOp(send, recv))
}

// ReduceScatter runs ReduceScatterOp and waits for it.
func (c *Comm) ReduceScatter(ctx context.Context, send, recv Buffer, op Op) error {
	return c.Run(ctx, ReduceScatterOp(send, recv, op))
}

// Broadcast runs BroadcastOp and waits for it.
func (c *Comm) Broadcast(ctx context.Context, send, recv Buffer, root int) error {
	return c.Run(ctx, BroadcastOp(send, recv, root))
}

// Reduce runs ReduceOp and waits for it.
func (c *Comm) Reduce(ctx context.Context, send, recv Buffer, op Op, root int) error {
	return c.Run(ctx, ReduceOp(send, recv, op, root))
}

// AllToAll runs AllToAllOp and waits for it.
func (c *Comm) AllToAll(ctx context.Context, send, recv Buffer) error {
	return c.Run(ctx, AllToAllOp(send, recv))
}

// Gather runs GatherOp and waits for it.
func (c *Comm) Gather(ctx context.Context, send, recv Buffer, root int) error {
	return c.Run(ctx, GatherOp(send, recv, root))
}

// Scatter runs ScatterOp and waits for it.
func (c *Comm) Scatter(ctx context.Context, send, recv Buffer, root int) error {
	return c.Run(ctx, ScatterOp(send, recv, root))
}

// Barrier runs BarrierOp and waits for it.
func (c *Comm) Barrier(ctx context.Context) error {
	return c.Run(ctx, BarrierOp())
}

// Send runs SendOp and waits for it.
func (c *Comm) Send(ctx context.Context, buf Buffer, peer int) error {
	return c.Run(ctx, SendOp(buf, peer))
}

// Recv runs RecvOp and waits for it.
func (c *Comm) Recv(ctx context.Context, buf Buffer, peer int) error {
	return c.Run(ctx, RecvOp(buf, peer))
}

func invalid(op Operation, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, op.Name(), fmt.Sprintf(format, args...))
}

// prepare checks op's buffers and turns them into the algorithms' request and the call every rank
// must agree on.
func (c *Comm) prepare(op Operation) (plan.Request, call, error) {
	n := c.size
	req := plan.Request{Coll: op.coll, Ranks: n, Root: op.root, Hosts: c.hosts}
	if op.coll.Rooted() && (op.root < 0 || op.root >= n) {
		return req, call{}, invalid(op, "root %d out of range for %d ranks", op.root, n)
	}
	isRoot := c.rank == op.root
	switch op.coll {
	case plan.AllReduce, plan.AllGather, plan.Reduce, plan.Gather:
		req.Count = op.send.Len()
	case plan.ReduceScatter, plan.Broadcast, plan.Scatter:
		req.Count = op.recv.Len()
	case plan.AllToAll:
		if op.send.Len()%n != 0 {
			return req, call{}, invalid(op, "send length %d is not a multiple of %d ranks", op.send.Len(), n)
		}
		req.Count = op.send.Len() / n
	case plan.Barrier:
	default:
		return req, call{}, invalid(op, "unknown collective")
	}
	inLen, outLen := req.Sizes(c.rank)
	send, recv := op.send, op.recv
	if inLen == 0 && (op.coll == plan.Broadcast || op.coll == plan.Scatter) && !isRoot {
		send = Buffer{} // not read off the root
	}
	if outLen == 0 && (op.coll == plan.Reduce || op.coll == plan.Gather) && !isRoot {
		recv = Buffer{} // not written off the root
	}
	if send.Len() != inLen {
		return req, call{}, invalid(op, "send buffer has %d elements, want %d", send.Len(), inLen)
	}
	if recv.Len() != outLen {
		return req, call{}, invalid(op, "recv buffer has %d elements, want %d", recv.Len(), outLen)
	}
	dt := send.DType()
	if dt == 0 {
		dt = recv.DType()
	}
	if op.coll == plan.Barrier {
		dt = Uint8
	}
	if !dt.Valid() {
		return req, call{}, invalid(op, "buffers have no element type (use Of or OfBytes)")
	}
	if send.DType() != 0 && recv.DType() != 0 && send.DType() != recv.DType() {
		return req, call{}, invalid(op, "send is %s but recv is %s", send.DType(), recv.DType())
	}
	cl := call{coll: op.coll, dtype: dt, root: op.root, count: req.Count, hosts: c.hostsHash}
	if op.coll.Reduces() {
		if !op.op.Valid() {
			return req, call{}, invalid(op, "invalid reduction op %d", op.op)
		}
		cl.op = op.op
	}
	req.ElemSize = dt.Size()
	inPlace, err := inPlaceLayout(req, c.rank, send, recv)
	if err != nil {
		return req, call{}, invalid(op, "%v", err)
	}
	req.InPlace = inPlace
	return req, cl, nil
}

// inPlaceLayout reports whether send and recv overlap exactly as the collective's in-place form
// says, and fails when they overlap any other way.
func inPlaceLayout(req plan.Request, rank int, send, recv Buffer) (bool, error) {
	slo, shi := send.span()
	rlo, rhi := recv.span()
	if slo == shi || rlo == rhi || shi <= rlo || rhi <= slo {
		return false, nil
	}
	off, inInOut, ok := req.InPlaceOffset(rank)
	if ok {
		sz := uintptr(req.ElemSize) * uintptr(off)
		if inInOut && slo == rlo+sz || !inInOut && rlo == slo+sz {
			return true, nil
		}
	}
	return false, fmt.Errorf("send and recv overlap, but not as the in-place form of %s", req.Coll)
}
