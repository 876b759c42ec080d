package algos_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
)

// wire returns, per rank, the messages its program exchanges: kind, peer and length, in order.
func wire(s *plan.Schedule) [][]string {
	out := make([][]string, len(s.Progs))
	for r, p := range s.Progs {
		for _, st := range p.Steps {
			switch st.Op {
			case plan.Send:
				out[r] = append(out[r], fmt.Sprintf("send %d %d", st.Peer, st.Src.Len))
			case plan.Recv, plan.RecvReduce:
				out[r] = append(out[r], fmt.Sprintf("recv %d %d", st.Peer, st.Dst.Len))
			}
		}
	}
	return out
}

// Ranks may mix in-place and out-of-place calls of one collective (as NCCL allows), so an
// algorithm's messages must not depend on Request.InPlace: only its local copies may.
func TestMessagesIndependentOfInPlace(t *testing.T) {
	for _, a := range algos.List(0) {
		for _, n := range []int{1, 2, 3, 5, 8} {
			for _, count := range []int{0, 1, n + 1, 1009, 70000} {
				if a.Coll() == plan.Barrier {
					count = 0
				}
				req := plan.Request{Coll: a.Coll(), Ranks: n, Count: count, ElemSize: 4, Root: n / 2 * btoi(a.Coll().Rooted())}
				out, err := a.Build(req)
				require.NoError(t, err)
				req.InPlace = true
				in, err := a.Build(req)
				require.NoError(t, err)
				require.Equal(t, wire(out), wire(in), "%s %s n=%d count=%d", a.Coll(), a.Name(), n, count)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The same holds with ranks spread over hosts, which reorder the rings and chains and cut the
// hierarchical all-reduce's segments.
func TestMessagesIndependentOfInPlaceWithHosts(t *testing.T) {
	for _, a := range algos.List(0) {
		for _, n := range []int{2, 3, 5, 8} {
			for _, layout := range hostLayouts(t, n) {
				for _, count := range []int{0, 1, n + 1, 1009, 70000} {
					if a.Coll() == plan.Barrier {
						count = 0
					}
					req := plan.Request{Coll: a.Coll(), Ranks: n, Count: count, ElemSize: 4, Root: n / 2 * btoi(a.Coll().Rooted()), Hosts: layout.hosts}
					out, err := a.Build(req)
					require.NoError(t, err)
					req.InPlace = true
					in, err := a.Build(req)
					require.NoError(t, err)
					require.Equal(t, wire(out), wire(in), "%s %s n=%d %s count=%d", a.Coll(), a.Name(), n, layout.name, count)
				}
			}
		}
	}
}
