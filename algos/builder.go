// Shared building blocks of the algorithms: pipelining parameters, region shorthands and
// schedWriter, which writes both ends of every message so that the pair's FIFO order holds.

package algos

import (
	"fmt"

	"github.com/chorus-cc/chorus/algos/plan"
)

// Pipelining parameters: pieces of at least pipelineMinBytes, at most pipelineMaxPieces of them.
// 64 KiB is where NCCL's socket transport stops splitting messages; 16 pieces keep the schedule
// short while filling a pipeline of up to ~2 log2 n hops.
const (
	pipelineMinBytes  = 64 << 10
	pipelineMaxPieces = 16
)

// pipelinePieces returns how many pieces to cut elems elements of elemSize bytes into: as many as
// keep each at least pipelineMinBytes, between 1 and pipelineMaxPieces, and never more than
// elems (0 when elems is 0).
func pipelinePieces(elems, elemSize int) int {
	if elems <= 0 {
		return 0
	}
	p := elems * max(elemSize, 1) / pipelineMinBytes
	return max(1, min(p, pipelineMaxPieces, elems))
}

// evenSplit returns the offset and length of part i when count elements are cut into parts
// near-equal parts: the first count%parts parts hold one element more.
func evenSplit(count, parts, i int) (off, n int) {
	q, rem := count/parts, count%parts
	off = i*q + min(i, rem)
	n = q
	if i < rem {
		n++
	}
	return off, n
}

func rIn(off, n int) plan.Region      { return plan.Region{Buf: plan.In, Off: off, Len: n} }
func rOut(off, n int) plan.Region     { return plan.Region{Buf: plan.Out, Off: off, Len: n} }
func rScratch(off, n int) plan.Region { return plan.Region{Buf: plan.Scratch, Off: off, Len: n} }

// schedWriter builds the programs of a schedule, one per rank. Its methods drop steps that move
// nothing: messages, copies and reductions of zero elements (both ends of a message compute the
// same length, so both drop it), and copies between regions that are the same memory in place.
// Zero-length messages, which only a barrier needs, are written by signal.
type schedWriter struct {
	req   plan.Request
	progs []plan.Program
}

func newSchedWriter(req plan.Request) *schedWriter {
	return &schedWriter{req: req, progs: make([]plan.Program, req.Ranks)}
}

func (w *schedWriter) add(r int, s plan.Step) {
	w.progs[r].Steps = append(w.progs[r].Steps, s)
}

// send adds a Send of src from r to peer.
func (w *schedWriter) send(r, peer int, src plan.Region) {
	if src.Len > 0 {
		w.add(r, plan.Step{Op: plan.Send, Peer: peer, Src: src})
	}
}

// recv adds a Recv at r from peer into dst.
func (w *schedWriter) recv(r, peer int, dst plan.Region) {
	if dst.Len > 0 {
		w.add(r, plan.Step{Op: plan.Recv, Peer: peer, Dst: dst})
	}
}

// recvReduce adds a RecvReduce at r from peer into dst.
func (w *schedWriter) recvReduce(r, peer int, dst plan.Region) {
	if dst.Len > 0 {
		w.add(r, plan.Step{Op: plan.RecvReduce, Peer: peer, Dst: dst})
	}
}

// msg adds a Send of src at from and the matching Recv into dst at to.
func (w *schedWriter) msg(from int, src plan.Region, to int, dst plan.Region) {
	if src.Len != dst.Len {
		panic(fmt.Sprintf("algos: message of %d elements received into %d", src.Len, dst.Len))
	}
	w.send(from, to, src)
	w.recv(to, from, dst)
}

// msgReduce adds a Send of src at from and the matching RecvReduce into dst at to.
func (w *schedWriter) msgReduce(from int, src plan.Region, to int, dst plan.Region) {
	if src.Len != dst.Len {
		panic(fmt.Sprintf("algos: message of %d elements reduced into %d", src.Len, dst.Len))
	}
	w.send(from, to, src)
	w.recvReduce(to, from, dst)
}

// signal adds to r's program a zero-length Send to to, then a zero-length Recv from from.
func (w *schedWriter) signal(r, to, from int) {
	empty := rOut(0, 0)
	w.add(r, plan.Step{Op: plan.Send, Peer: to, Src: empty})
	w.add(r, plan.Step{Op: plan.Recv, Peer: from, Dst: empty})
}

// copy adds a Copy of src to dst at r, unless they are empty or the same memory.
func (w *schedWriter) copy(r int, src, dst plan.Region) {
	if src.Len != dst.Len {
		panic(fmt.Sprintf("algos: copy of %d elements into %d", src.Len, dst.Len))
	}
	if src.Len > 0 && !w.sameMemory(r, src, dst) {
		w.add(r, plan.Step{Op: plan.Copy, Src: src, Dst: dst})
	}
}

// reduce adds a ReduceLocal dst = dst op src at r.
func (w *schedWriter) reduce(r int, src, dst plan.Region) {
	if src.Len > 0 {
		w.add(r, plan.Step{Op: plan.ReduceLocal, Src: src, Dst: dst})
	}
}

// scratch makes r's scratch at least elems elements.
func (w *schedWriter) scratch(r, elems int) {
	w.progs[r].Scratch = max(w.progs[r].Scratch, elems)
}

// sameMemory reports whether a and b are the same memory of rank r (see Request.InPlaceOffset).
func (w *schedWriter) sameMemory(r int, a, b plan.Region) bool {
	if a == b {
		return true
	}
	if a.Len != b.Len || !w.req.InPlace || a.Buf == plan.Scratch || b.Buf == plan.Scratch || a.Buf == b.Buf {
		return false
	}
	off, inInOut, ok := w.req.InPlaceOffset(r)
	if !ok {
		return false
	}
	in, out := a, b
	if a.Buf == plan.Out {
		in, out = b, a
	}
	if inInOut {
		return off+in.Off == out.Off
	}
	return off+out.Off == in.Off
}

// schedule returns the schedule written so far.
func (w *schedWriter) schedule(algo string) *plan.Schedule {
	return &plan.Schedule{Algo: algo, Req: w.req, Progs: w.progs}
}
