package comm_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chorus-cc/chorus/comm"
	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport/quic"
)

// Ranks that each have their own key meet through a store that holds the keys of the job, and
// run collectives over QUIC on loopback (the quic package tests that unpublished keys are
// refused).
// quicGroup makes n ranks in this process that meet through a store holding the job's keys and
// talk over QUIC on loopback.
func quicGroup(t testing.TB, n int) []*comm.Comm {
	t.Helper()
	store := rendezvous.NewMemStore()
	transports := make([]*quic.Transport, n)
	for r := range transports {
		var err error
		transports[r], err = comm.PinnedQUIC(context.Background(), store, "keys/")
		require.NoError(t, err)
	}
	comms := make([]*comm.Comm, n)
	errs := make([]error, n)
	done := make(chan struct{}, n)
	for r := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			m := comm.Member{Rank: r, Size: n, Store: store, Transport: transports[r], ListenAddr: "127.0.0.1:0"}
			comms[r], errs[r] = comm.Init(context.Background(), m, comm.Config{Timeout: time.Minute})
		}()
	}
	for range n {
		<-done
	}
	noErrors(t, errs)
	t.Cleanup(func() { closeAll(comms) })
	return comms
}

func TestInitOverQUIC(t *testing.T) {
	const n = 3
	comms := quicGroup(t, n)
	allReduceWorks(t, comms)

	// A large all-reduce crosses many chunks over QUIC.
	bufs := make([][]float32, n)
	noErrors(t, each(comms, func(c *comm.Comm) error {
		b := make([]float32, 1<<18+7)
		for i := range b {
			b[i] = float32(c.Rank() + i%5)
		}
		bufs[c.Rank()] = b
		return c.AllReduce(context.Background(), comm.Of(b), comm.Of(b), comm.Sum)
	}))
	for r := range bufs {
		for i, v := range bufs[r] {
			require.Equal(t, float32(3+3*(i%5)), v, "rank %d elem %d", r, i)
		}
	}

}
