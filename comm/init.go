package comm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/transport"
)

// DefaultInitTimeout bounds Init when Member.InitTimeout is zero.
const DefaultInitTimeout = 2 * time.Minute

// Member says who this process is in a job and how it meets the others.
type Member struct {
	Rank int // this rank, 0..Size-1
	Size int // number of ranks

	// Store is the job's rendezvous store (see comm/rendezvous), shared by every rank.
	Store rendezvous.Store
	// Transport makes the connections between ranks.
	Transport transport.Transport
	// ListenAddr is the address this rank listens on, in the transport's form; "" lets the
	// transport choose.
	ListenAddr string
	// Prefix namespaces the store keys, so that several groups can meet through one store; ""
	// means "chorus".
	Prefix string
	// InitTimeout bounds Init; zero means DefaultInitTimeout. The context passed to Init may end
	// it sooner.
	InitTimeout time.Duration
}

// Init joins the group described by m and returns this rank's communicator once every rank has
// arrived. Closing the communicator waits (at most FarewellTimeout) until every peer has closed
// it too, so that nothing in flight is lost. Connections are made eagerly: each rank listens, publishes its address in the store,
// dials every higher rank and accepts every lower one, so a Comm returned by Init has all its
// connections and a rank that never arrives is reported here, not in the first collective.
// When ranks are missing, Init fails within its timeout with an error that lists them.
func Init(ctx context.Context, m Member, cfg Config) (*Comm, error) {
	switch {
	case m.Size < 1 || m.Rank < 0 || m.Rank >= m.Size:
		return nil, fmt.Errorf("%w: init: rank %d of size %d", ErrInvalid, m.Rank, m.Size)
	case m.Store == nil || m.Transport == nil:
		return nil, fmt.Errorf("%w: init: a Store and a Transport are required", ErrInvalid)
	}
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if m.Prefix == "" {
		m.Prefix = "chorus"
	}
	if m.InitTimeout <= 0 {
		m.InitTimeout = DefaultInitTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, m.InitTimeout)
	defer cancel()

	ln, err := m.Transport.Listen(ctx, m.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: listen: %w", m.Rank, err)
	}
	defer ln.Close()
	if err := m.Store.Set(ctx, m.addrKey(m.Rank), []byte(ln.Addr())); err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: publish address: %w", m.Rank, err)
	}
	id, err := m.groupID(ctx)
	if err != nil {
		return nil, m.explainInit(err, "agree on the group id", nil)
	}

	conns := make([]transport.Conn, m.Size)
	var (
		mu      sync.Mutex
		first   error // the first failure; those after it are mostly its cancellation
		wg      sync.WaitGroup
		arrived = make([]bool, m.Size)
	)
	arrived[m.Rank] = true
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	for p := m.Rank + 1; p < m.Size; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, err := m.Store.Get(ctx, m.addrKey(p))
			if err != nil {
				fail(fmt.Errorf("address of rank %d: %w", p, err))
				return
			}
			conn, err := m.Transport.Dial(ctx, string(addr))
			if err != nil {
				fail(fmt.Errorf("dial rank %d at %s: %w", p, addr, err))
				return
			}
			if err := conn.Send(ctx, introTag(id), introduce(m.Rank, m.Size)); err != nil {
				conn.Close()
				fail(fmt.Errorf("introduce to rank %d: %w", p, err))
				return
			}
			mu.Lock()
			conns[p], arrived[p] = conn, true
			mu.Unlock()
		}()
	}
	if m.Rank > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.accept(ctx, ln, id, conns, arrived, &mu); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	if err := first; err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, m.explainInit(err, "connect", arrived)
	}
	release := func() { farewell(id, conns) }
	return newComm(id, 0, m.Rank, conns, r, release), nil
}

// FarewellTimeout bounds how long closing a communicator made by Init waits for its peers.
const FarewellTimeout = 10 * time.Second

// farewell closes the connections gracefully: it tells every peer that this rank is done and
// waits (at most FarewellTimeout) until each peer says the same, or its connection fails, before
// closing. A peer says so only once it has finished all its work, so no message it still needs is
// lost when the connection closes (closing a network connection drops what is still in flight).
func farewell(id uint64, conns []transport.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), FarewellTimeout)
	defer cancel()
	tag := transport.Tag{Comm: id, Seq: abortSeq - 2, Step: helloStep}
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Send(ctx, tag, nil) == nil {
				_ = c.Recv(ctx, tag, func([]byte) error { return nil })
			}
			c.Close()
		}()
	}
	wg.Wait()
}

// introTimeout bounds how long a new connection may take to introduce itself.
const introTimeout = 10 * time.Second

// accept takes connections until every lower rank has introduced itself. Each connection is
// heard on its own goroutine, so a silent one holds up nobody; one that does not introduce itself
// in time as an expected rank of this group is closed.
func (m Member) accept(ctx context.Context, ln transport.Listener, id uint64, conns []transport.Conn, arrived []bool, mu *sync.Mutex) error {
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	got := make(chan struct{}, m.Rank)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept(actx)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ictx, cancel := context.WithTimeout(actx, introTimeout)
				defer cancel()
				from := -1
				err := conn.Recv(ictx, introTag(id), func(p []byte) error {
					var err error
					from, err = parseIntro(p, m.Size)
					return err
				})
				mu.Lock()
				ok := err == nil && from < m.Rank && conns[from] == nil
				if ok {
					conns[from], arrived[from] = conn, true
				}
				mu.Unlock()
				if !ok {
					conn.Close()
					return
				}
				got <- struct{}{}
			}()
		}
	}()
	for need := m.Rank; need > 0; need-- {
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("accept: %w", context.Cause(ctx))
		}
	}
	return nil
}

func (m Member) addrKey(rank int) string { return m.Prefix + "/addr/" + strconv.Itoa(rank) }

// groupID returns the group's id: rank 0 draws it, the others read it.
func (m Member) groupID(ctx context.Context) (uint64, error) {
	key := m.Prefix + "/id"
	if m.Rank == 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], newID())
		if err := m.Store.Set(ctx, key, b[:]); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	b, err := m.Store.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("malformed group id (%d bytes)", len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}

// explainInit turns a failed init into an error that lists the ranks that never arrived, from
// the connections made (arrived, when known) and the addresses published in the store.
func (m Member) explainInit(err error, what string, arrived []bool) error {
	var missing []int
	for p := 0; p < m.Size; p++ {
		switch {
		case arrived != nil:
			if !arrived[p] {
				missing = append(missing, p)
			}
		default: // before connecting: who has not published an address
			probe, stop := context.WithTimeout(context.Background(), 10*time.Millisecond)
			if _, err := m.Store.Get(probe, m.addrKey(p)); err != nil {
				missing = append(missing, p)
			}
			stop()
		}
	}
	sort.Ints(missing)
	if len(missing) == 0 {
		return fmt.Errorf("chorus: init rank %d: %s: %w", m.Rank, what, err)
	}
	names := make([]string, len(missing))
	for i, p := range missing {
		names[i] = strconv.Itoa(p)
	}
	cause := err
	if errors.Is(err, context.DeadlineExceeded) {
		cause = fmt.Errorf("%w after %v", ErrTimeout, m.InitTimeout)
	}
	return fmt.Errorf("chorus: init rank %d of %d: ranks %s did not arrive (%s): %w",
		m.Rank, m.Size, strings.Join(names, ", "), what, cause)
}

// introTag is the tag of the first message on a new connection: the dialer's rank.
func introTag(id uint64) transport.Tag {
	return transport.Tag{Comm: id, Seq: abortSeq - 1, Step: helloStep}
}

func introduce(rank, size int) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(rank))
	binary.LittleEndian.PutUint32(b[4:], uint32(size))
	return b[:]
}

func parseIntro(p []byte, size int) (int, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("malformed introduction (%d bytes)", len(p))
	}
	rank, n := int(binary.LittleEndian.Uint32(p)), int(binary.LittleEndian.Uint32(p[4:]))
	if n != size || rank < 0 || rank >= size {
		return 0, fmt.Errorf("introduction as rank %d of %d, but the group has %d ranks", rank, n, size)
	}
	return rank, nil
}
