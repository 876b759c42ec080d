package algos_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos"
	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/simulate"
)

// pow2Below returns the largest power of two not above n, and its log2.
func pow2Below(n int) (p, log int) {
	p = 1
	for 2*p <= n {
		p *= 2
		log++
	}
	return p, log
}

// rdSent is the byte formula of the recursive-doubling all-reduce.
func rdSent(req plan.Request) []int64 {
	n, c := req.Ranks, int64(req.Count)
	p, log := pow2Below(n)
	e := n - p
	sent := make([]int64, n)
	for r := range n {
		switch {
		case r >= p:
			sent[r] = c
		case r < e:
			sent[r] = c * int64(log+1)
		default:
			sent[r] = c * int64(log)
		}
	}
	return sent
}

func TestRecursiveDoublingAllReduce(t *testing.T) {
	forEachTrimmedCase(t, plan.AllReduce, func(t *testing.T, req plan.Request) {
		res := checkAlgo(t, req, "recursive-doubling")
		require.Equal(t, rdSent(req), res.Sent, "elements sent")
		_, log := pow2Below(req.Ranks)
		switch {
		case req.Count == 0 || req.Ranks == 1:
			require.Zero(t, res.Rounds)
		case req.Ranks&(req.Ranks-1) == 0:
			require.Equal(t, log, res.Rounds)
		default: // the fold adds one or two, depending on which ranks have extras
			require.GreaterOrEqual(t, res.Rounds, log+1)
			require.LessOrEqual(t, res.Rounds, log+2)
		}
	})
}

// addFloat64 computes dst += src over little-endian float64 elements: commutative, not
// associative.
func addFloat64(dst, src []byte) {
	for i := 0; i+8 <= len(dst); i += 8 {
		a := math.Float64frombits(binary.LittleEndian.Uint64(dst[i:]))
		b := math.Float64frombits(binary.LittleEndian.Uint64(src[i:]))
		binary.LittleEndian.PutUint64(dst[i:], math.Float64bits(a+b))
	}
}

// floatInputs returns In buffers of float64 values spread over many magnitudes, so that sums in
// different orders round differently.
func floatInputs(req plan.Request, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, uint64(req.Ranks)))
	in := make([][]byte, req.Ranks)
	for r := range in {
		l, _ := req.Sizes(r)
		in[r] = make([]byte, 8*l)
		for i := range l {
			x := (rng.Float64() - 0.5) * math.Ldexp(1, rng.IntN(60)-30)
			binary.LittleEndian.PutUint64(in[r][8*i:], math.Float64bits(x))
		}
	}
	return in
}

// requireSameOut requires every rank's Out to be the same bytes as rank 0's.
func requireSameOut(t *testing.T, res *simulate.Result) {
	t.Helper()
	for r := range res.Out {
		require.True(t, bytes.Equal(res.Out[0], res.Out[r]), "rank %d differs from rank 0", r)
	}
}

// TestRecursiveDoublingBitwise sums float64 values over many magnitudes (a commutative but not
// associative op) and requires the same bits on every rank, as the package doc argues.
func TestRecursiveDoublingBitwise(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5, 7, 8, 12, 16, 33} {
		for _, inPlace := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d/inplace=%v", n, inPlace), func(t *testing.T) {
				req := testReq(plan.AllReduce, n, 257, 0, inPlace)
				s, err := algos.Build(req, "recursive-doubling", algos.Model{})
				require.NoError(t, err)
				in := floatInputs(req, 11)
				res, err := simulate.Run(s, in, addFloat64)
				require.NoError(t, err)
				requireSameOut(t, res)
				// The sum differs from the rank-order sum somewhere: the test can fail.
				want, err := simulate.Reference(req, in, addFloat64)
				require.NoError(t, err)
				if n > 4 {
					require.False(t, bytes.Equal(want[0], res.Out[0]), "expected rounding differences")
				}
			})
		}
	}
}
