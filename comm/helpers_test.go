package comm_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/algos/plan"
	"github.com/chorus-cc/chorus/algos/reduce"
	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// group makes an in-process group of n ranks that the test closes at its end.
func group(t testing.TB, n int, cfg comm.Config) []*comm.Comm {
	t.Helper()
	comms, err := comm.NewLocal(context.Background(), n, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, c := range comms {
			require.NoError(t, c.Close())
		}
	})
	return comms
}

// closeAll closes every rank at once, as separate processes would: closing a communicator made
// by Init waits for its peers to close too.
func closeAll(comms []*comm.Comm) {
	var wg sync.WaitGroup
	for _, c := range comms {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
	}
	wg.Wait()
}

// each runs fn on every rank at once and returns the errors by rank.
func each(comms []*comm.Comm, fn func(c *comm.Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for i, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(c)
		}()
	}
	wg.Wait()
	return errs
}

func noErrors(t testing.TB, errs []error) {
	t.Helper()
	for r, err := range errs {
		require.NoError(t, err, "rank %d", r)
	}
}

// values draws small integers for op whose every combination over n ranks is exact in every
// dtype (see reference), so results can be compared bit for bit.
func values(rng *rand.Rand, dt reduce.DType, op reduce.Op, count int) []int64 {
	unsigned := dt == reduce.Uint8 || dt == reduce.Uint32 || dt == reduce.Uint64
	v := make([]int64, count)
	for i := range v {
		switch op {
		case reduce.Prod:
			v[i] = []int64{-1, 1, 1, 2}[rng.IntN(4)]
			if unsigned {
				v[i] = 1 + rng.Int64N(2)
			}
		case reduce.Min, reduce.Max:
			v[i] = rng.Int64N(201) - 100
			if unsigned {
				v[i] += 100
			}
		default:
			v[i] = rng.Int64N(9) - 4
			if unsigned {
				v[i] += 4
			}
		}
	}
	return v
}

// encode stores integer values as elements of dt (integers wrap; floats are exact or overflow to
// infinity, as the reduction would).
func encode(dt reduce.DType, v []float64) []byte {
	sz := dt.Size()
	b := make([]byte, len(v)*sz)
	for i, x := range v {
		p := b[i*sz:]
		switch dt {
		case reduce.Int8, reduce.Uint8:
			p[0] = byte(int64(x))
		case reduce.Int32, reduce.Uint32:
			binary.LittleEndian.PutUint32(p, uint32(int64(x)))
		case reduce.Int64, reduce.Uint64:
			binary.LittleEndian.PutUint64(p, uint64(int64(x)))
		case reduce.Float16:
			binary.LittleEndian.PutUint16(p, uint16(reduce.Float16From(float32(x))))
		case reduce.BFloat16:
			binary.LittleEndian.PutUint16(p, uint16(reduce.BFloat16From(float32(x))))
		case reduce.Float32:
			binary.LittleEndian.PutUint32(p, math.Float32bits(float32(x)))
		case reduce.Float64:
			binary.LittleEndian.PutUint64(p, math.Float64bits(x))
		}
	}
	return b
}

func toFloat(v []int64) []float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return f
}

// combine reduces the i-th values of every rank exactly: integer sums and products wrap in
// int64 and are truncated by encode, which is the same as wrapping in the element type.
func combine(op reduce.Op, dt reduce.DType, xs []int64) float64 {
	isFloat := dt == reduce.Float16 || dt == reduce.BFloat16 || dt == reduce.Float32 || dt == reduce.Float64
	acc := xs[0]
	facc := float64(xs[0])
	for _, x := range xs[1:] {
		switch op {
		case reduce.Sum, reduce.Avg:
			acc += x
			facc += float64(x)
		case reduce.Prod:
			acc *= x
			facc *= float64(x)
		case reduce.Min:
			acc = min(acc, x)
			facc = math.Min(facc, float64(x))
		case reduce.Max:
			acc = max(acc, x)
			facc = math.Max(facc, float64(x))
		}
	}
	if isFloat {
		return facc
	}
	return float64(acc)
}

// reduced returns the reduction of column off..off+count of every rank's input, as dt bytes.
func reduced(op reduce.Op, dt reduce.DType, in [][]int64, off, count int) []byte {
	out := make([]float64, count)
	xs := make([]int64, len(in))
	for i := range out {
		for r := range in {
			xs[r] = in[r][off+i]
		}
		out[i] = combine(op, dt, xs)
	}
	b := encode(dt, out)
	if op == reduce.Avg {
		reduce.Divide(dt, b, len(in))
	}
	return b
}

// reference returns what each rank's Out must hold after the request, given every rank's input
// values (nil for ranks whose In is empty).
func reference(req plan.Request, op reduce.Op, dt reduce.DType, in [][]int64) [][]byte {
	n, c := req.Ranks, req.Count
	out := make([][]byte, n)
	concat := func() []byte {
		var b []byte
		for r := 0; r < n; r++ {
			b = append(b, encode(dt, toFloat(in[r]))...)
		}
		return b
	}
	for r := 0; r < n; r++ {
		switch req.Coll {
		case plan.AllReduce:
			out[r] = reduced(op, dt, in, 0, c)
		case plan.AllGather:
			out[r] = concat()
		case plan.ReduceScatter:
			out[r] = reduced(op, dt, in, r*c, c)
		case plan.Broadcast:
			out[r] = encode(dt, toFloat(in[req.Root]))
		case plan.Reduce:
			if r == req.Root {
				out[r] = reduced(op, dt, in, 0, c)
			}
		case plan.AllToAll:
			var v []int64
			for j := 0; j < n; j++ {
				v = append(v, in[j][r*c:(r+1)*c]...)
			}
			out[r] = encode(dt, toFloat(v))
		case plan.Gather:
			if r == req.Root {
				out[r] = concat()
			}
		case plan.Scatter:
			out[r] = encode(dt, toFloat(in[req.Root][r*c:(r+1)*c]))
		}
	}
	return out
}

// buffers makes rank's send and recv buffers for req holding input, laid out in place when
// inPlace is set and the rank's buffers can share memory.
func buffers(t testing.TB, req plan.Request, rank int, dt reduce.DType, input []byte, inPlace bool) (send, recv comm.Buffer, out []byte) {
	t.Helper()
	inLen, outLen := req.Sizes(rank)
	sz := dt.Size()
	off, inInOut, ok := req.InPlaceOffset(rank)
	mk := func(b []byte) comm.Buffer {
		buf, err := comm.OfBytes(b, dt)
		require.NoError(t, err)
		return buf
	}
	switch {
	case inPlace && ok && inInOut:
		out = make([]byte, outLen*sz)
		copy(out[off*sz:], input)
		return mk(out[off*sz : (off+inLen)*sz]), mk(out), out
	case inPlace && ok:
		in := make([]byte, inLen*sz)
		copy(in, input)
		out = in[off*sz : (off+outLen)*sz]
		return mk(in), mk(out), out
	}
	in := make([]byte, inLen*sz)
	copy(in, input)
	out = make([]byte, outLen*sz)
	for i := range out {
		out[i] = 0xA5 // garbage the collective must overwrite
	}
	return mk(in), mk(out), out
}

// publishedAddr returns the address that rank published in the store under the default prefix.
func publishedAddr(t *testing.T, store rendezvous.Store, rank int) string {
	t.Helper()
	rec, err := store.Get(t.Context(), fmt.Sprintf("chorus/addr/%d", rank))
	require.NoError(t, err)
	var published struct{ Addr string }
	require.NoError(t, json.Unmarshal(rec, &published))
	return published.Addr
}
