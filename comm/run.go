package comm

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/comm/internal/exec"
	"github.com/chorus-cc/chorus/transport"
)

// maxCachedSchedules bounds the schedule cache of one communicator.
const maxCachedSchedules = 256

// schedule returns the schedule for req, from the cache or freshly built.
func (c *Comm) schedule(req plan.Request) (*plan.Schedule, error) {
	name := c.algoFor(req.Coll)
	key := schedKey{req: req, algo: name}
	if s, ok := c.cache[key]; ok {
		return s, nil
	}
	s, err := algos.Build(req, name, c.cfg.model)
	if err != nil {
		return nil, err
	}
	if len(c.cache) >= maxCachedSchedules {
		clear(c.cache)
	}
	c.cache[key] = s
	return s, nil
}

// opContext bounds one operation by the caller's context, the timeout and the communicator's
// life. The returned stop releases it.
func (c *Comm) opContext(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.timeout, ErrTimeout)
	stop := context.AfterFunc(c.ctx, func() { cancel() })
	return ctx, func() { stop(); cancel() }
}

// runCollective runs the collective op (checked by prepare into req and cl) with sequence
// number seq and returns its error; a failure aborts the communicator. The caller holds the
// running flag.
func (c *Comm) runCollective(ctx context.Context, op Operation, req plan.Request, cl call, seq uint64) error {
	ctx = c.bound.begin(ctx)
	defer c.bound.finish()
	s, err := c.schedule(req)
	if err != nil {
		return err // the same on every rank: nothing was sent, so nothing to abort
	}
	cl.algo = s.Algo
	if err = c.collective(ctx, op, cl, seq, s); err != nil {
		err = c.explain(ctx, cl.String(), seq, err)
		c.abort(err, -1)
	}
	return err
}

func (c *Comm) collective(ctx context.Context, op Operation, cl call, seq uint64, s *plan.Schedule) error {
	h := &c.hello
	h.mine = cl.encode(h.mine[:0]) // encoded once: the description sent, and its fingerprint
	t := exec.Task{
		Prog:  &s.Progs[c.rank],
		In:    op.send.Bytes(),
		Out:   op.recv.Bytes(),
		DType: cl.dtype,
		Op:    cl.op,
		Tag:   transport.Tag{Comm: c.id, Epoch: c.epoch, Seq: seq, Check: fingerprint(h.mine)},
	}
	if c.size > 1 {
		if err := c.sendHello(ctx, &t, cl, seq); err != nil {
			return err
		}
		t.Gate, t.AheadFrom = c.gate, c.hello.prev
	}
	if err := c.eng.Run(ctx, &t); err != nil {
		return err
	}
	if cl.op == Avg && len(t.Out) > 0 {
		reduce.Divide(cl.dtype, t.Out, c.size)
	}
	return nil
}

// The call description: every collective first sends its call to the next rank, and checks
// the previous rank's against it before its first receive (exec.Task.Gate), so a rank whose
// call differs is found before any data is taken. Sending it ahead of the data, and checking it
// only when the program first waits, costs the collective no round trip of its own. Where the
// program starts with a small message to the next rank, that message travels inside the
// description (after a flag byte), which spares small collectives one message in each
// direction: the message is a transport.SmallMessage at most, so that the description still
// never waits for its receiver. The state lives in the Comm (one collective runs at a time), so
// that a call allocates nothing.
type helloState struct {
	call  call   // the collective running
	seq   uint64 // its sequence number
	mine  []byte // its encoded call
	buf   []byte // mine, aheadFlag and the first message
	prev  int    // the rank whose call is checked
	ahead []byte // the previous rank's first message to this one, when it came with its call
	got   bool   // ahead holds it
}

// aheadFlag follows a call description that carries the sender's first message.
const aheadFlag = 1

func (c *Comm) helloTag(seq uint64) transport.Tag {
	return transport.Tag{Comm: c.id, Epoch: c.epoch, Seq: seq, Step: helloStep}
}

// sendHello sends the call (encoded in c.hello.mine) to the next rank, with t's first message
// when that goes to the next rank and is small.
func (c *Comm) sendHello(ctx context.Context, t *exec.Task, cl call, seq uint64) error {
	h := &c.hello
	h.call, h.seq, h.got = cl, seq, false
	next := (c.rank + 1) % c.size
	h.prev = (c.rank + c.size - 1) % c.size
	out := h.mine
	if peer, data, ok := exec.FirstSend(t); ok && peer == next && len(h.mine)+1+len(data) <= transport.SmallMessage {
		h.buf = append(append(append(h.buf[:0], h.mine...), aheadFlag), data...)
		out = h.buf
		t.SentFirst = true
	}
	if err := c.conns[next].Send(ctx, c.helloTag(seq), out); err != nil {
		return &exec.StepError{Peer: next, Step: -1, Op: plan.Send, Err: err}
	}
	return nil
}

// checkHello receives the previous rank's call and compares it with this rank's; it is the
// engine's Gate (c.gate), and hands the engine the previous rank's first message when it came
// with the call.
func (c *Comm) checkHello(ctx context.Context) ([]byte, error) {
	h := &c.hello
	if err := c.conns[h.prev].Recv(ctx, c.helloTag(h.seq), c.compareFn); err != nil {
		return nil, &exec.StepError{Peer: h.prev, Step: -1, Op: plan.Recv, Err: err}
	}
	if h.got {
		return h.ahead, nil
	}
	return nil, nil
}

func (c *Comm) compareHello(p []byte) error {
	h := &c.hello
	n := len(h.mine)
	if len(p) >= n && bytes.Equal(p[:n], h.mine) && (len(p) == n || p[n] == aheadFlag) {
		if len(p) > n {
			if h.ahead == nil {
				h.ahead = make([]byte, 0, len(p)) // not nil even for an empty message
			}
			h.ahead = append(h.ahead[:0], p[n+1:]...)
			h.got = true
		}
		return nil
	}
	theirs, err := decodeCall(callPrefix(p))
	if err != nil {
		return err
	}
	return &MismatchError{Seq: h.seq, Rank: c.rank, Call: h.call.String(), Peer: h.prev, PeerCall: theirs.String()}
}

// explain turns an engine error of the operation called name into the error the caller sees:
// who was waited for, and why the wait ended.
func (c *Comm) explain(ctx context.Context, name string, seq uint64, err error) error {
	var me *MismatchError
	if errors.As(err, &me) {
		return me
	}
	var se *exec.StepError
	if !errors.As(err, &se) || se.Peer < 0 {
		return fmt.Errorf("chorus: %s seq %d: %w", name, seq, err)
	}
	cause := se.Err
	if ctx.Err() != nil {
		switch why := context.Cause(ctx); {
		case errors.Is(why, ErrTimeout):
			cause = fmt.Errorf("%w after %v waiting for rank %d (%s)", ErrTimeout, c.cfg.timeout, se.Peer, stepName(se))
		case c.Err() != nil:
			return c.Err()
		default:
			cause = fmt.Errorf("%w while waiting for rank %d (%s)", why, se.Peer, stepName(se))
		}
	}
	return &PeerError{Rank: se.Peer, Op: name, Seq: seq, Err: cause}
}

func stepName(se *exec.StepError) string {
	if se.Step < 0 {
		return "the call description, " + se.Op.String()
	}
	return fmt.Sprintf("step %d, %s", se.Step, se.Op)
}

// startP2P checks a point-to-point operation and runs it on its own goroutine: sends and receives
// do not wait for the collectives queued before them.
func (c *Comm) startP2P(w *Work) {
	op := w.op
	buf := op.send
	if op.p2p == p2pRecv {
		buf = op.recv
	}
	if op.peer < 0 || op.peer >= c.size || op.peer == c.rank {
		w.finish(invalid(op, "peer %d out of range (size %d, self %d)", op.peer, c.size, c.rank))
		return
	}
	c.mu.Lock()
	if err := c.errLocked(); err != nil {
		c.mu.Unlock()
		w.finish(err)
		return
	}
	if op.p2p == p2pSend {
		w.seq = c.p2pSend[op.peer]
		c.p2pSend[op.peer]++
	} else {
		w.seq = c.p2pRecv[op.peer]
		c.p2pRecv[op.peer]++
	}
	c.bg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.bg.Done()
		ctx, stop := c.opContext(w.ctx)
		defer stop()
		tag := transport.Tag{Comm: c.id, Epoch: c.epoch, Seq: p2pSeqBit | w.seq}
		conn := c.conns[op.peer]
		var err error
		if op.p2p == p2pSend {
			err = exec.SendMessage(ctx, conn, tag, buf.Bytes())
		} else {
			err = exec.RecvMessage(ctx, conn, tag, buf.Bytes())
		}
		if err != nil {
			kind := plan.Send
			if op.p2p == p2pRecv {
				kind = plan.Recv
			}
			err = c.explain(ctx, op.Name(), w.seq, &exec.StepError{Peer: op.peer, Step: 0, Op: kind, Err: err})
			c.abort(err, -1)
		}
		w.finish(err)
	}()
}

// Algorithm returns the name of the algorithm this communicator runs op with: the one
// Config.Algorithms or CHORUS_ALGO names for its collective, else the one the cost model picks for
// its size and for the hosts of the System, except that an all-reduce of processes on a host
// with more ranks than CPUs (topology.System.Oversubscribed) takes the ring. Sends and receives
// have none: "p2p". It fails with ErrInvalid where Start would.
func (c *Comm) Algorithm(op Operation) (string, error) {
	if op.p2p != notP2P {
		return "p2p", nil
	}
	req, _, err := c.prepare(op)
	if err != nil {
		return "", err
	}
	if name := c.algoFor(req.Coll); name != "" {
		return name, nil
	}
	a, err := algos.Select(req, c.cfg.model)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrInvalid, op.Name(), err)
	}
	return a.Name(), nil
}
