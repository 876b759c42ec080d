package main

import (
	"context"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm/rendezvous"
)

// TestMain runs main as one rank when the test starts this binary as a child.
func TestMain(m *testing.M) {
	if os.Getenv("TRAIN_TEST_CHILD") != "" {
		os.Args = []string{os.Args[0], "-steps", "8"}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var settings = Settings{Steps: 12, Batch: 24, LR: 0.1, Seed: 3}

// TestDataParallelEqualsOneRank checks that 4 ranks, each on a quarter of every batch, train the
// same model as one rank on the whole batch (up to float rounding: the gradient is summed in a
// different order), and that the loss goes down.
func TestDataParallelEqualsOneRank(t *testing.T) {
	ctx := t.Context()
	var out4, out1 strings.Builder
	four, err := TrainLocal(ctx, 4, settings, &out4)
	require.NoError(t, err) // TrainLocal fails when the ranks' weights differ in any bit
	whole := settings
	whole.Batch *= 4
	one, err := TrainLocal(ctx, 1, whole, &out1)
	require.NoError(t, err)
	for i, w := range one[0].Params {
		require.InDelta(t, w, four[0].Params[i], 1e-4*(1+math.Abs(float64(w))), "weight %d", i)
	}
	losses := parseLosses(t, out4.String())
	require.Len(t, losses, settings.Steps)
	require.Less(t, losses[len(losses)-1], losses[0], "the loss did not go down: %v", losses)
}

func TestBadSettings(t *testing.T) {
	_, err := TrainLocal(t.Context(), 3, Settings{Steps: 1, Batch: 0, LR: 0.1}, &strings.Builder{})
	require.ErrorContains(t, err, "want at least 1 of each")
}

// TestRanksAsProcesses runs 3 ranks as processes over QUIC, as `chorus run -n 3` would, and
// checks that every rank prints the same losses.
func TestRanksAsProcesses(t *testing.T) {
	secret := "train-test-secret"
	srv := rendezvous.NewServer(rendezvous.ServerConfig{Secret: []byte(secret)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	const n = 3
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TRAIN_TEST_CHILD=1",
			"CHORUS_RANK="+strconv.Itoa(r), "CHORUS_SIZE="+strconv.Itoa(n),
			"CHORUS_RDZV="+ln.Addr().String(), "CHORUS_SECRET="+secret)
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := cmd.CombinedOutput()
			outs[r], errs[r] = string(b), err
		}()
	}
	wg.Wait()
	for r := range n {
		require.NoError(t, errs[r], "rank %d: %s", r, outs[r])
		require.Len(t, parseLosses(t, outs[r]), 8, "rank %d: %s", r, outs[r])
		require.Equal(t, outs[0], outs[r], "rank %d printed other losses than rank 0", r)
	}
}

func parseLosses(t *testing.T, out string) []float64 {
	t.Helper()
	var losses []float64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "step" && f[2] == "loss" {
			v, err := strconv.ParseFloat(f[3], 64)
			require.NoError(t, err)
			losses = append(losses, v)
		}
	}
	return losses
}
