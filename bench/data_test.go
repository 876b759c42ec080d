package bench

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
)

var allTypes = []comm.DType{comm.Int8, comm.Uint8, comm.Int32, comm.Uint32, comm.Int64, comm.Uint64,
	comm.Float16, comm.BFloat16, comm.Float32, comm.Float64}

// TestPatternExact checks the promise the check rests on: every input, every partial result
// in rank order and every final result is an integer the type holds exactly, and reduced
// agrees with a reduction done in exact arithmetic.
func TestPatternExact(t *testing.T) {
	for _, dt := range allTypes {
		for _, op := range []comm.Op{comm.Sum, comm.Prod, comm.Min, comm.Max, comm.Avg} {
			for _, n := range []int{1, 2, 3, 4, 7, 16, 33} {
				p := newPattern(AllReduce, dt, op, n)
				for i := range 300 {
					acc := new(big.Int).SetUint64(p.input(0, i))
					require.LessOrEqual(t, p.input(0, i), p.max)
					for r := 1; r < n; r++ {
						v := new(big.Int).SetUint64(p.input(r, i))
						require.LessOrEqual(t, v.Uint64(), p.max, "%s %s n=%d input(%d, %d)", dt, op, n, r, i)
						switch op {
						case comm.Sum, comm.Avg:
							acc.Add(acc, v)
						case comm.Prod:
							acc.Mul(acc, v)
						case comm.Min:
							if v.Cmp(acc) < 0 {
								acc = v
							}
						case comm.Max:
							if v.Cmp(acc) > 0 {
								acc = v
							}
						}
						require.True(t, acc.IsUint64() && acc.Uint64() <= p.max, "%s %s n=%d element %d: partial %v above %d", dt, op, n, i, acc, p.max)
					}
					want := acc.Uint64()
					if op == comm.Avg {
						require.Zero(t, want%uint64(n), "%s avg n=%d element %d: sum %d is not a multiple of n", dt, n, i, want)
						want /= uint64(n)
					}
					require.Equal(t, want, p.reduced(i), "%s %s n=%d element %d", dt, op, n, i)
				}
			}
		}
	}
}

// TestPatternVaries checks that the inputs are not all alike, so that a result taken from the
// wrong rank or the wrong place would be noticed.
func TestPatternVaries(t *testing.T) {
	for _, coll := range []Collective{AllGather, AllReduce} {
		p := newPattern(coll, comm.Float32, comm.Sum, 4)
		distinct := map[uint64]bool{}
		for r := range 4 {
			for i := range 64 {
				distinct[p.input(r, i)] = true
			}
		}
		require.Greater(t, len(distinct), 100, "%s", coll)
	}
	p := newPattern(AllReduce, comm.Float32, comm.Prod, 4)
	products := map[uint64]bool{}
	for i := range 16 {
		products[p.reduced(i)] = true
	}
	require.Greater(t, len(products), 2)
}

// TestFillAndCount writes values of every type and counts differences.
func TestFillAndCount(t *testing.T) {
	for _, dt := range allTypes {
		n := 37
		b := make([]byte, n*dt.Size())
		f := func(i int) uint64 { return uint64(i * 3 % 101) }
		fill(dt, b, f)
		require.Zero(t, countWrong(dt, b, f), "%s", dt)
		b[5*dt.Size()] ^= 1
		b[9*dt.Size()+dt.Size()-1] ^= 0x40
		require.Equal(t, int64(2), countWrong(dt, b, f), "%s", dt)
		poison(b)
		require.Equal(t, int64(n), countWrong(dt, b, f), "%s: a poisoned element must be wrong", dt)
	}
}
