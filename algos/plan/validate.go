package plan

import (
	"fmt"
)

// Validate checks a whole schedule against s.Req: the request is valid and there is one program
// per rank; every region lies inside its buffer (In and Out sized by Req.Sizes, Scratch by
// Program.Scratch); no step writes In; Copy and ReduceLocal have Src and Dst of equal length and
// not partly overlapping within one buffer; peers are other ranks; and the messages of every
// ordered pair of ranks match: the k-th Send from a to b has the length of the k-th Recv or
// RecvReduce at b that names a, and both sides count the same number of messages.
//
// Validate does not look at the aliasing of In and Out in place (see Request.InPlaceOffset): an
// algorithm that overwrites its input before reading it is caught by running it (algos/simulate),
// not here. Nor does it look for deadlocks. Errors start with "plan: " and name the rank and step.
func Validate(s *Schedule) error {
	if s == nil {
		return fmt.Errorf("plan: nil schedule")
	}
	req := s.Req
	if err := req.Validate(); err != nil {
		return err
	}
	n := req.Ranks
	if len(s.Progs) != n {
		return fmt.Errorf("plan: %d programs for %d ranks", len(s.Progs), n)
	}
	for r := range n {
		if err := validateProgram(req, r, s.Progs[r]); err != nil {
			return err
		}
	}
	return validateMessages(s)
}

// validateProgram checks one rank's program on its own.
func validateProgram(req Request, rank int, p Program) error {
	if p.Scratch < 0 {
		return fmt.Errorf("plan: rank %d: negative scratch %d", rank, p.Scratch)
	}
	inLen, outLen := req.Sizes(rank)
	size := func(b Buf) int {
		switch b {
		case In:
			return inLen
		case Out:
			return outLen
		default:
			return p.Scratch
		}
	}
	check := func(i int, st Step, what string, reg Region) error {
		if reg.Buf > Scratch {
			return fmt.Errorf("plan: rank %d step %d (%v): %s names unknown buffer %d", rank, i, st, what, uint8(reg.Buf))
		}
		if reg.Off < 0 || reg.Len < 0 || reg.Off > size(reg.Buf)-reg.Len {
			return fmt.Errorf("plan: rank %d step %d (%v): %s %v out of bounds of %s (%d elements)",
				rank, i, st, what, reg, reg.Buf, size(reg.Buf))
		}
		return nil
	}
	for i, st := range p.Steps {
		usesSrc, usesDst, usesPeer := false, false, false
		switch st.Op {
		case Send:
			usesSrc, usesPeer = true, true
		case Recv, RecvReduce:
			usesDst, usesPeer = true, true
		case Copy, ReduceLocal:
			usesSrc, usesDst = true, true
		default:
			return fmt.Errorf("plan: rank %d step %d: unknown op %d", rank, i, uint8(st.Op))
		}
		if usesPeer && (st.Peer < 0 || st.Peer >= req.Ranks || st.Peer == rank) {
			return fmt.Errorf("plan: rank %d step %d (%v): bad peer %d of %d ranks", rank, i, st, st.Peer, req.Ranks)
		}
		if usesSrc {
			if err := check(i, st, "src", st.Src); err != nil {
				return err
			}
		}
		if usesDst {
			if err := check(i, st, "dst", st.Dst); err != nil {
				return err
			}
			if st.Dst.Buf == In {
				return fmt.Errorf("plan: rank %d step %d (%v): writes the read-only in buffer", rank, i, st)
			}
		}
		if usesSrc && usesDst {
			if st.Src.Len != st.Dst.Len {
				return fmt.Errorf("plan: rank %d step %d (%v): src has %d elements, dst %d", rank, i, st, st.Src.Len, st.Dst.Len)
			}
			if st.Src.Buf == st.Dst.Buf && st.Src != st.Dst &&
				st.Src.Off < st.Dst.End() && st.Dst.Off < st.Src.End() {
				return fmt.Errorf("plan: rank %d step %d (%v): src and dst partly overlap", rank, i, st)
			}
		}
	}
	return nil
}

// validateMessages matches the sends and receives of every ordered pair of ranks.
func validateMessages(s *Schedule) error {
	n := s.Req.Ranks
	type end struct{ step, len int }
	// sends[a*n+b] and recvs[a*n+b] list the messages from a to b, in program order.
	sends := make(map[int][]end)
	recvs := make(map[int][]end)
	for r, p := range s.Progs {
		for i, st := range p.Steps {
			switch st.Op {
			case Send:
				sends[r*n+st.Peer] = append(sends[r*n+st.Peer], end{i, st.Src.Len})
			case Recv, RecvReduce:
				recvs[st.Peer*n+r] = append(recvs[st.Peer*n+r], end{i, st.Dst.Len})
			}
		}
	}
	for a := range n {
		for b := range n {
			ss, rs := sends[a*n+b], recvs[a*n+b]
			for k := range min(len(ss), len(rs)) {
				if ss[k].len != rs[k].len {
					return fmt.Errorf("plan: message %d from rank %d to rank %d: rank %d step %d sends %d elements, rank %d step %d receives %d",
						k, a, b, a, ss[k].step, ss[k].len, b, rs[k].step, rs[k].len)
				}
			}
			switch {
			case len(ss) > len(rs):
				return fmt.Errorf("plan: rank %d sends %d messages to rank %d, which receives %d; rank %d step %d is unmatched",
					a, len(ss), b, len(rs), a, ss[len(rs)].step)
			case len(rs) > len(ss):
				return fmt.Errorf("plan: rank %d receives %d messages from rank %d, which sends %d; rank %d step %d is unmatched",
					b, len(rs), a, len(ss), b, rs[len(ss)].step)
			}
		}
	}
	return nil
}
