package comm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-cc/chorus/comm/rendezvous"
	"github.com/chorus-cc/chorus/topology"
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
	// Transport makes the connections between ranks on different hosts, and between every pair
	// when Local is nil.
	Transport transport.Transport
	// ListenAddr is the address this rank listens on with Transport, in its form; "" lets the
	// transport choose.
	ListenAddr string
	// Local, when set, makes the connections between ranks on the same host (shared memory, see
	// transport/shm); the host of each rank is topology.HostID's, or HostID.
	Local transport.Transport
	// LocalAddr is the address this rank listens on with Local; "" lets it choose.
	LocalAddr string
	// Force, when set, names the one transport used for every pair: the name of Transport or of
	// Local (see TransportName; InitFromEnv fills it from CHORUS_TRANSPORT). Forcing Local for
	// ranks on several hosts fails Init.
	Force string
	// HostID, when set, replaces this rank's host identity (topology.HostID), so that tests can
	// put ranks of one machine on pretend hosts; CHORUS_HOST_ID does the same for a process.
	HostID string
	// Prefix namespaces the store keys, so that several groups can meet through one store; ""
	// means "chorus".
	Prefix string
	// InitTimeout bounds Init; zero means DefaultInitTimeout. The context passed to Init may end
	// it sooner.
	InitTimeout time.Duration
}

// TransportName returns the name of a transport: its Name method's result when it has one
// ("quic", "shm", "inproc"), otherwise its Go type.
func TransportName(t transport.Transport) string {
	if n, ok := t.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", t)
}

// parseRecord decodes the record rank p published.
func parseRecord(b []byte, p int, rec *record, peer *topology.Peer) error {
	if len(b) > maxRecord {
		return fmt.Errorf("rank %d published %d bytes (at most %d)", p, len(b), maxRecord)
	}
	if err := json.Unmarshal(b, rec); err != nil {
		return fmt.Errorf("rank %d published a malformed record: %w", p, err)
	}
	if rec.Addr == "" {
		return fmt.Errorf("rank %d published no address", p)
	}
	var err error
	if *peer, err = topology.Decode(rec.Peer); err != nil {
		return fmt.Errorf("rank %d: %w", p, err)
	}
	if peer.Rank != p {
		return fmt.Errorf("rank %d describes itself as rank %d", p, peer.Rank)
	}
	return nil
}

// record is what each rank publishes in the store: where it listens and what it runs on.
type record struct {
	Addr  string          `json:"addr"`            // Transport's listener
	Local string          `json:"local,omitempty"` // Local's listener, if any
	Peer  json.RawMessage `json:"peer"`            // topology.Encode of this rank
}

// maxRecord bounds a published record (the peer description is bounded by the topology).
const maxRecord = topology.MaxEncodedSize + 4096

// Init joins the group described by m and returns this rank's communicator once every rank has
// arrived. Closing the communicator waits (at most FarewellTimeout) until every peer has closed
// it too, so that nothing in flight is lost.
//
// Connections are made eagerly: each rank listens (on Transport, and on Local when set),
// publishes its addresses and its description (topology.Local: host, CPUs, interfaces) in the
// store, reads every other rank's, builds the System (see Comm.System), and dials every higher
// rank (through Local when both are on one host, Transport otherwise) and accepts every lower
// one. So a Comm returned by Init has all its connections, and a rank that never arrives is
// reported here, not in the first collective: Init then fails within its timeout with an error
// that lists the missing ranks.
func Init(ctx context.Context, m Member, cfg Config) (*Comm, error) {
	switch {
	case m.Size < 1 || m.Rank < 0 || m.Rank >= m.Size:
		return nil, fmt.Errorf("%w: init: rank %d of size %d", ErrInvalid, m.Rank, m.Size)
	case m.Store == nil || m.Transport == nil:
		return nil, fmt.Errorf("%w: init: a Store and a Transport are required", ErrInvalid)
	case m.Force != "" && m.Force != TransportName(m.Transport) && (m.Local == nil || m.Force != TransportName(m.Local)):
		return nil, fmt.Errorf("%w: init: transport %q forced, but this rank has %s", ErrInvalid, m.Force, m.transportNames())
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

	self, err := topology.Local(m.Rank)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
	}
	if m.HostID != "" {
		self.Host = m.HostID
	}
	enc, err := topology.Encode(self)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
	}
	ln, err := m.Transport.Listen(ctx, m.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: listen: %w", m.Rank, err)
	}
	defer ln.Close()
	lns := []transport.Listener{ln}
	rec := record{Addr: ln.Addr(), Peer: enc}
	if m.Local != nil {
		lln, err := m.Local.Listen(ctx, m.LocalAddr)
		switch {
		case err == nil:
			defer lln.Close()
			lns = append(lns, lln)
			rec.Local = lln.Addr()
		case errors.Is(err, errors.ErrUnsupported) && m.Force != TransportName(m.Local):
			m.Local = nil // not on this system (shared memory off Linux): Transport for every pair
		default:
			return nil, fmt.Errorf("chorus: init rank %d: listen (%s): %w", m.Rank, TransportName(m.Local), err)
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
	}
	if err := m.Store.Set(ctx, m.addrKey(m.Rank), b); err != nil {
		return nil, fmt.Errorf("chorus: init rank %d: publish address: %w", m.Rank, err)
	}
	id, err := m.groupID(ctx)
	if err != nil {
		return nil, m.explainInit(err, "agree on the group id", nil)
	}
	recs, sys, err := m.gather(ctx, rec, self)
	if err != nil {
		return nil, err
	}

	conns := make([]transport.Conn, m.Size)
	names := make([]string, m.Size)
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
			tr, addr := m.Transport, recs[p].Addr
			if m.useLocal(sys, p) {
				tr, addr = m.Local, recs[p].Local
			}
			conn, err := tr.Dial(ctx, addr)
			if err != nil {
				fail(fmt.Errorf("dial rank %d at %s (%s): %w", p, addr, TransportName(tr), err))
				return
			}
			if err := conn.Send(ctx, introTag(id), introduce(m.Rank, m.Size)); err != nil {
				conn.Close()
				fail(fmt.Errorf("introduce to rank %d: %w", p, err))
				return
			}
			mu.Lock()
			conns[p], arrived[p], names[p] = conn, true, TransportName(tr)
			mu.Unlock()
		}()
	}
	if m.Rank > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.accept(ctx, lns, id, sys, conns, arrived, &mu); err != nil {
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
	for p := range m.Rank {
		names[p] = TransportName(m.Transport)
		if m.useLocal(sys, p) {
			names[p] = TransportName(m.Local)
		}
	}
	release := func() { farewell(id, conns) }
	c := newComm(id, 0, m.Rank, conns, r, release)
	c.setSystem(sys, m.systemForce(), names)
	return c, nil
}

// systemForce is the transport the system records for every pair: Force, or Transport's name when
// there is no Local (one transport for every pair, whatever the hosts), or "" (chosen by host).
func (m Member) systemForce() string {
	if m.Force == "" && m.Local == nil {
		return TransportName(m.Transport)
	}
	return m.Force
}

// transportNames lists the names of the member's transports, for errors.
func (m Member) transportNames() string {
	if m.Local == nil {
		return fmt.Sprintf("%q only", TransportName(m.Transport))
	}
	return fmt.Sprintf("%q and %q", TransportName(m.Transport), TransportName(m.Local))
}

// useLocal reports whether this rank reaches rank p through Local.
func (m Member) useLocal(sys *topology.System, p int) bool {
	if m.Local == nil {
		return false
	}
	if m.Force != "" {
		return m.Force == TransportName(m.Local)
	}
	return sys.SameHost(m.Rank, p)
}

// gather reads every rank's record from the store and builds the System. It first waits for all
// of them in one call (one connection to the store, whatever the size of the group), then reads
// them one by one.
func (m Member) gather(ctx context.Context, own record, self topology.Peer) ([]record, *topology.System, error) {
	recs := make([]record, m.Size)
	peers := make([]topology.Peer, m.Size)
	recs[m.Rank], peers[m.Rank] = own, self
	keys := make([]string, 0, m.Size-1)
	for p := range m.Size {
		if p != m.Rank {
			keys = append(keys, m.addrKey(p))
		}
	}
	if err := m.Store.Wait(ctx, keys...); err != nil {
		return nil, nil, m.explainInit(err, "read the addresses", nil)
	}
	for p := range m.Size {
		if p == m.Rank {
			continue
		}
		b, err := m.Store.Get(ctx, m.addrKey(p))
		if err != nil {
			return nil, nil, fmt.Errorf("chorus: init rank %d: address of rank %d: %w", m.Rank, p, err)
		}
		if err := parseRecord(b, p, &recs[p], &peers[p]); err != nil {
			return nil, nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
		}
	}
	sys, err := topology.Build(peers, topology.Options{Transport: m.systemForce()})
	if err != nil {
		return nil, nil, fmt.Errorf("chorus: init rank %d: %w", m.Rank, err)
	}
	for p := range m.Size {
		if p != m.Rank && m.useLocal(sys, p) && recs[p].Local == "" {
			return nil, nil, fmt.Errorf("chorus: init rank %d: rank %d shares this host but publishes no %s address (is its Member.Local unset?)",
				m.Rank, p, TransportName(m.Local))
		}
	}
	return recs, sys, nil
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
func (m Member) accept(ctx context.Context, lns []transport.Listener, id uint64, sys *topology.System, conns []transport.Conn, arrived []bool, mu *sync.Mutex) error {
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	got := make(chan struct{}, m.Rank)
	for i, ln := range lns {
		local := i == 1 // lns[1] is Local's listener
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
					// A rank must come through the transport this pair uses: over shared memory
					// only a rank of this host, over QUIC (with its pinned key) any other.
					ok := err == nil && from < m.Rank && conns[from] == nil && m.useLocal(sys, from) == local
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
	}
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
