package main

/*
#define CHORUS_NO_PROTOTYPES
#include "chorus.h"
*/
import "C"

import (
	"context"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
)

// builder makes the operation of one call once the communicator is known.
type builder func(c *comm.Comm) (comm.Operation, error)

// issue runs the operation that build makes on communicator h. With req nil it waits for it;
// otherwise it starts it and stores its request in *req. An operation that has failed by the
// time it is started (bad arguments, an aborted communicator) fails the call itself.
func issue(h C.chorusComm_t, async bool, req *C.chorusRequest_t, build builder) error {
	c, err := commOf(h)
	if err != nil {
		return err
	}
	if async && req == nil {
		return invalidf("request is NULL")
	}
	op, err := build(c)
	if err != nil {
		return err
	}
	if !async {
		return c.Run(context.Background(), op)
	}
	w := c.Start(context.Background(), op)
	select {
	case <-w.Done():
		if err := w.Err(); err != nil {
			return err
		}
	default:
	}
	handle, err := requests.add(&request{w: w})
	if err != nil {
		// Nobody could wait for it: wait here, so the buffers are free when the call returns.
		_ = w.Wait()
		return err
	}
	*req = C.chorusRequest_t(handle)
	return nil
}

// typed returns the element type and the element count count*mult.
func typed(count C.size_t, mult int, dt C.chorusDataType_t) (comm.DType, int, error) {
	t, err := dtypeOf(int(dt))
	if err != nil {
		return 0, 0, err
	}
	n, err := elems(uint64(count), mult, t)
	return t, n, err
}

func allReduceOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		o, err := opOf(int(op))
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, n, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, n, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.AllReduceOp(s, r, o), nil
	}
}

func broadcastOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, n, t, c.Rank() != int(root), "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, n, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.BroadcastOp(s, r, int(root)), nil
	}
}

func reduceOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, root C.int) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		o, err := opOf(int(op))
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, n, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, n, t, c.Rank() != int(root), "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.ReduceOp(s, r, o, int(root)), nil
	}
}

func allGatherOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		_, all, err := typed(count, c.Size(), dt)
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, n, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, all, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.AllGatherOp(s, r), nil
	}
}

func reduceScatterOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		_, all, err := typed(count, c.Size(), dt)
		if err != nil {
			return comm.Operation{}, err
		}
		o, err := opOf(int(op))
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, all, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, n, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.ReduceScatterOp(s, r, o), nil
	}
}

func allToAllOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, all, err := typed(count, c.Size(), dt)
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, all, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, all, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.AllToAllOp(s, r), nil
	}
}

func gatherOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		_, all, err := typed(count, c.Size(), dt)
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, n, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, all, t, c.Rank() != int(root), "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.GatherOp(s, r, int(root)), nil
	}
}

func scatterOp(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		_, all, err := typed(count, c.Size(), dt)
		if err != nil {
			return comm.Operation{}, err
		}
		s, err := buffer(send, all, t, c.Rank() != int(root), "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		r, err := buffer(recv, n, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.ScatterOp(s, r, int(root)), nil
	}
}

func sendOp(buf unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, peer C.int) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		b, err := buffer(buf, n, t, false, "sendbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.SendOp(b, int(peer)), nil
	}
}

func recvOp(buf unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, peer C.int) builder {
	return func(c *comm.Comm) (comm.Operation, error) {
		t, n, err := typed(count, 1, dt)
		if err != nil {
			return comm.Operation{}, err
		}
		b, err := buffer(buf, n, t, false, "recvbuff")
		if err != nil {
			return comm.Operation{}, err
		}
		return comm.RecvOp(b, int(peer)), nil
	}
}

func barrierOp(*comm.Comm) (comm.Operation, error) { return comm.BarrierOp(), nil }

//export chorusAllReduce
func chorusAllReduce(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, allReduceOp(send, recv, count, dt, op)) })
}

//export chorusAllReduceAsync
func chorusAllReduceAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, allReduceOp(send, recv, count, dt, op)) })
}

//export chorusBroadcast
func chorusBroadcast(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, broadcastOp(send, recv, count, dt, root)) })
}

//export chorusBroadcastAsync
func chorusBroadcastAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, broadcastOp(send, recv, count, dt, root)) })
}

//export chorusReduce
func chorusReduce(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, root C.int, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, reduceOp(send, recv, count, dt, op, root)) })
}

//export chorusReduceAsync
func chorusReduceAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, root C.int, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, reduceOp(send, recv, count, dt, op, root)) })
}

//export chorusAllGather
func chorusAllGather(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, allGatherOp(send, recv, count, dt)) })
}

//export chorusAllGatherAsync
func chorusAllGatherAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, allGatherOp(send, recv, count, dt)) })
}

//export chorusReduceScatter
func chorusReduceScatter(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, reduceScatterOp(send, recv, count, dt, op)) })
}

//export chorusReduceScatterAsync
func chorusReduceScatterAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, op C.chorusRedOp_t, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, reduceScatterOp(send, recv, count, dt, op)) })
}

//export chorusAllToAll
func chorusAllToAll(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, allToAllOp(send, recv, count, dt)) })
}

//export chorusAllToAllAsync
func chorusAllToAllAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, allToAllOp(send, recv, count, dt)) })
}

//export chorusGather
func chorusGather(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, gatherOp(send, recv, count, dt, root)) })
}

//export chorusGatherAsync
func chorusGatherAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, gatherOp(send, recv, count, dt, root)) })
}

//export chorusScatter
func chorusScatter(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, scatterOp(send, recv, count, dt, root)) })
}

//export chorusScatterAsync
func chorusScatterAsync(send, recv unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, root C.int, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, scatterOp(send, recv, count, dt, root)) })
}

//export chorusSend
func chorusSend(buf unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, peer C.int, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, sendOp(buf, count, dt, peer)) })
}

//export chorusSendAsync
func chorusSendAsync(buf unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, peer C.int, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, sendOp(buf, count, dt, peer)) })
}

//export chorusRecv
func chorusRecv(buf unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, peer C.int, h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, recvOp(buf, count, dt, peer)) })
}

//export chorusRecvAsync
func chorusRecvAsync(buf unsafe.Pointer, count C.size_t, dt C.chorusDataType_t, peer C.int, h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, recvOp(buf, count, dt, peer)) })
}

//export chorusBarrier
func chorusBarrier(h C.chorusComm_t) C.chorusResult_t {
	return call(func() error { return issue(h, false, nil, barrierOp) })
}

//export chorusBarrierAsync
func chorusBarrierAsync(h C.chorusComm_t, req *C.chorusRequest_t) C.chorusResult_t {
	return call(func() error { return issue(h, true, req, barrierOp) })
}
