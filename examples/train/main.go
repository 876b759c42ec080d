// Command train is a data-parallel training loop in plain Go: every rank holds the same small
// neural network (8 inputs, a hidden layer of 32 tanh units, one output), trains it on its own
// shard of a synthetic regression data set, and averages its gradients with the other ranks'
// through one AllReduce per step, so that every rank takes the same step and the models never
// diverge. Each step prints the loss over the whole global batch (itself all-reduced), which is
// the same on every rank.
//
//	go run ./examples/train -n 4                    # 4 ranks inside this process
//	go build -o /tmp/train ./examples/train && go run ./cmd/chorus run -n 4 -- /tmp/train
//
// Under `chorus run` (or torchrun, or Slurm) each process is one rank and the ranks talk over
// QUIC; every rank prints its losses, prefixed by the launcher with its rank.
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"unsafe"

	"github.com/chorus-cc/chorus/comm"
)

// Settings of a training run.
type Settings struct {
	Steps int     // optimisation steps
	Batch int     // samples per step on each rank; the global batch is Batch x ranks
	LR    float32 // learning rate of plain SGD
	Seed  uint64  // seeds the data and the initial weights, identically on every rank
}

func main() {
	n := flag.Int("n", 4, "number of ranks to run inside this process (ignored under a launcher)")
	s := Settings{}
	flag.IntVar(&s.Steps, "steps", 30, "optimisation steps")
	flag.IntVar(&s.Batch, "batch", 64, "samples per step on each rank")
	lr := flag.Float64("lr", 0.1, "learning rate")
	flag.Uint64Var(&s.Seed, "seed", 1, "seed of the data and the initial weights")
	flag.Parse()
	s.LR = float32(*lr)
	log.SetFlags(0)
	ctx := context.Background()
	if os.Getenv("CHORUS_RANK") != "" || os.Getenv("RANK") != "" { // one rank of a launched job
		c, err := comm.InitFromEnv(ctx, comm.Config{})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		m, err := Train(ctx, c, s, os.Stdout)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("weights checksum %08x\n", m.Checksum())
		return
	}
	models, err := TrainLocal(ctx, *n, s, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d ranks hold identical weights: checksum %08x\n", len(models), models[0].Checksum())
}

// TrainLocal trains with n ranks as goroutines of this process; rank 0 prints the losses. It
// returns each rank's final model.
func TrainLocal(ctx context.Context, n int, s Settings, out io.Writer) ([]*Model, error) {
	comms, err := comm.NewLocal(ctx, n, comm.Config{})
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	models := make([]*Model, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		w := io.Discard
		if r == 0 {
			w = out
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			models[r], errs[r] = Train(ctx, c, s, w)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("rank %d: %w", r, err)
		}
	}
	for r, m := range models {
		if m.Checksum() != models[0].Checksum() {
			return nil, fmt.Errorf("rank %d's weights differ from rank 0's", r)
		}
	}
	return models, nil
}

// Train runs the training loop as rank c.Rank() of c and prints "step i loss x" for every step
// to out. It returns the trained model, which is bitwise the same on every rank.
func Train(ctx context.Context, c *comm.Comm, s Settings, out io.Writer) (*Model, error) {
	n, rank := c.Size(), c.Rank()
	if s.Steps < 1 || s.Batch < 1 {
		return nil, fmt.Errorf("train: %d steps of %d samples per rank: want at least 1 of each", s.Steps, s.Batch)
	}
	m := NewModel(s.Seed)
	global := s.Batch * n
	data := NewData(s.Seed+1, global*s.Steps) // every rank draws the same data, and uses its shard
	grad := make([]float32, len(m.Params)+1)  // the gradient, and the loss in the last element
	for step := range s.Steps {
		// This rank's shard of the step's global batch.
		lo := step*global + rank*s.Batch
		loss := m.Gradient(data, lo, lo+s.Batch, grad[:len(m.Params)])
		grad[len(m.Params)] = loss
		// Average gradients and losses over the ranks: each rank's are means over its shard,
		// and the shards are equal, so the average is the mean over the global batch.
		if err := c.AllReduce(ctx, comm.Of(grad), comm.Of(grad), comm.Avg); err != nil {
			return nil, fmt.Errorf("train: step %d: %w", step, err)
		}
		m.Step(grad[:len(m.Params)], s.LR)
		fmt.Fprintf(out, "step %3d loss %.6f\n", step, grad[len(m.Params)])
	}
	return m, nil
}

// Sizes of the network.
const (
	inputs = 8
	hidden = 32
)

// Model is a multilayer perceptron with one tanh hidden layer and a linear output, its weights
// in one flat slice (so that one AllReduce moves the whole gradient):
// W1 (hidden x inputs), b1 (hidden), W2 (hidden), b2 (1).
type Model struct {
	Params []float32
}

// Offsets of the parameter groups in Params.
const (
	offW1 = 0
	offB1 = offW1 + hidden*inputs
	offW2 = offB1 + hidden
	offB2 = offW2 + hidden
	nPar  = offB2 + 1
)

// NewModel returns a model with weights drawn from seed (scaled as Glorot and Bengio's
// initialisation), the same for the same seed on every rank.
func NewModel(seed uint64) *Model {
	rng := rand.New(rand.NewPCG(seed, 0x6d6f64656c))
	p := make([]float32, nPar)
	for i := offW1; i < offB1; i++ {
		p[i] = float32(rng.NormFloat64() * math.Sqrt(1.0/inputs))
	}
	for i := offW2; i < offB2; i++ {
		p[i] = float32(rng.NormFloat64() * math.Sqrt(1.0/hidden))
	}
	return &Model{Params: p}
}

// Data is a synthetic regression data set: X uniform in [-1, 1], y = sin(3 x0) + x1 x2 + noise.
type Data struct {
	X [][inputs]float32
	Y []float32
}

// NewData draws n samples from seed.
func NewData(seed uint64, n int) *Data {
	rng := rand.New(rand.NewPCG(seed, 0x64617461))
	d := &Data{X: make([][inputs]float32, n), Y: make([]float32, n)}
	for i := range n {
		for j := range inputs {
			d.X[i][j] = float32(rng.Float64()*2 - 1)
		}
		x := d.X[i]
		d.Y[i] = float32(math.Sin(3*float64(x[0]))) + x[1]*x[2] + float32(rng.NormFloat64()*0.01)
	}
	return d
}

// Gradient writes into g the gradient of the mean squared error over samples lo..hi-1 of d, and
// returns that error.
func (m *Model) Gradient(d *Data, lo, hi int, g []float32) float32 {
	clear(g)
	p := m.Params
	var h [hidden]float32
	var loss float32
	inv := 1 / float32(hi-lo)
	for i := lo; i < hi; i++ {
		x := &d.X[i]
		out := p[offB2]
		for k := range hidden {
			a := p[offB1+k]
			for j := range inputs {
				a += p[offW1+k*inputs+j] * x[j]
			}
			h[k] = float32(math.Tanh(float64(a)))
			out += p[offW2+k] * h[k]
		}
		e := out - d.Y[i]
		loss += e * e * inv
		dout := 2 * e * inv // d(mean e^2)/d out
		g[offB2] += dout
		for k := range hidden {
			g[offW2+k] += dout * h[k]
			da := dout * p[offW2+k] * (1 - h[k]*h[k])
			g[offB1+k] += da
			for j := range inputs {
				g[offW1+k*inputs+j] += da * x[j]
			}
		}
	}
	return loss
}

// Step takes one step of plain gradient descent.
func (m *Model) Step(g []float32, lr float32) {
	for i := range m.Params {
		m.Params[i] -= lr * g[i]
	}
}

// Checksum is a CRC-32 of the weights' bits: equal checksums mean (all but surely) bitwise
// equal models.
func (m *Model) Checksum() uint32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m.Params))), len(m.Params)*4)
	return crc32.ChecksumIEEE(b)
}
