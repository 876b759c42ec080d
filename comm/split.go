package comm

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/cespare/xxhash/v2"

	"github.com/chorus-cc/chorus/transport"
)

// NoColor, passed to Split as the color, leaves the rank out of every new communicator.
const NoColor = -1

// Split partitions the communicator, as MPI_Comm_split does: the ranks that pass the same color
// form a new communicator, ranked by key and then by their rank here. Every rank must call it (it
// is a collective). A rank that passes NoColor gets a nil *Comm. The new communicator shares the
// connections of this one, works while this one is in use, and must be closed on its own; closing
// this one (when it owns the connections) stops it too.
func (c *Comm) Split(ctx context.Context, color, key int) (*Comm, error) {
	if color < NoColor {
		return nil, fmt.Errorf("%w: split: color %d (use a color >= 0 or NoColor)", ErrInvalid, color)
	}
	mine := []int64{int64(color), int64(key)}
	all := make([]int64, 2*c.size)
	w := c.Start(ctx, AllGatherOp(Of(mine), Of(all)))
	if err := w.Wait(); err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	if color == NoColor {
		return nil, nil
	}
	type member struct{ key, rank int }
	var members []member
	for r := 0; r < c.size; r++ {
		if all[2*r] == int64(color) {
			members = append(members, member{int(all[2*r+1]), r})
		}
	}
	sort.Slice(members, func(i, j int) bool {
		if members[i].key != members[j].key {
			return members[i].key < members[j].key
		}
		return members[i].rank < members[j].rank
	})
	conns := make([]transport.Conn, len(members))
	ranks := make([]int, len(members))
	newRank := -1
	for i, m := range members {
		ranks[i] = m.rank
		if m.rank == c.rank {
			newRank = i
		} else {
			conns[i] = c.conns[m.rank]
		}
	}
	// Every member builds the same sub-system from the same descriptions, so a failure here is
	// the same on every member; it cannot happen for a subset of a valid system.
	sys, names, err := c.subSystem(ranks)
	if err != nil {
		return nil, err
	}
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], c.id)
	binary.LittleEndian.PutUint64(b[8:], uint64(c.epoch))
	binary.LittleEndian.PutUint64(b[16:], w.Seq())
	binary.LittleEndian.PutUint64(b[24:], uint64(color))
	sub := newComm(xxhash.Sum64(b[:]), 0, newRank, conns, c.cfg, nil)
	sub.setSystem(sys, c.force, names)
	sub.crowded = sub.crowded || c.crowded // its ranks share the CPUs with the others still
	return sub, nil
}
