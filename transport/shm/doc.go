// Package shm is the transport between processes of one host: messages go through shared
// memory, and a Unix domain socket sets the connection up and watches the peer. It is Linux
// only (memfd_create, SCM_RIGHTS); elsewhere the package builds, registers "shm", and
// every Listen, Dial and Pair fails with an error wrapping errors.ErrUnsupported.
//
// Importing the package registers a Transport with the default Config as "shm"
// (transport.Lookup("shm")).
//
// # Addresses and setting up
//
// An address is the file-system path of a Unix domain socket (SOCK_SEQPACKET). Listen("")
// makes a fresh path in $CHORUS_SHM_DIR, or in os.TempDir() when that is not set. Paths, not
// abstract sockets: abstract sockets belong to a network namespace, and two ranks of one
// machine in different network namespaces must still connect (topology.HostID calls them one
// host). The listener removes its socket file when it is closed; a socket file left behind by
// a killed listener is taken over by the next Listen on that path.
//
// When a connection is made, each end creates one memfd (memfd_create, sealed against
// shrinking and growing), sends it to the other end over the socket (SCM_RIGHTS) and closes
// its descriptor once both ends have mapped both segments. Nothing is named in /dev/shm and no
// descriptor stays open: the memory lives exactly as long as the mappings, so it goes away
// with the processes, even after SIGKILL. A received segment is checked (size, seals, header)
// before it is mapped.
//
// # Rings
//
// Each direction has one single-producer ring, in the segment its writer created:
//
//	segment:  [ control page | data (RingSize bytes) ]
//	mapping:  [ control page | data | data again ]    (the data mapped twice, back to back)
//
//	control:  head (writer)  tail (reader)  sleeper flags  waiter's CPU
//	data:     | hdr | payload ... | hdr | payload | ... |      hdr = 64 bytes: kind, length,
//	                 ^tail                         ^head        message length, Tag
//
// head and tail are byte counters that only grow (64-bit atomics, each on its own cache line);
// a frame starts at a 64-byte boundary. Because the data is mapped twice in a row, every frame
// is contiguous in memory even where it wraps around the end of the ring, so a receiver can be
// handed a frame's payload as one slice. The data size is Config.RingSize, DefaultRingSize
// (4 MiB) by default: large enough that the engine's 256 KiB chunks stream with many of them
// in flight, and that a message of up to half the ring (InlineMax) travels as one frame while
// the reader still works on the one before (double buffering); small enough that the memory
// stays modest: each rank creates one ring per peer on its host (44 MiB with twelve ranks) and
// maps its peers' rings. BenchmarkProcRingSize compares sizes: below 1 MiB throughput drops.
//
// A message of at most InlineMax(RingSize) bytes is one frame. A larger one, up to
// MaxMessage, is streamed in frames of a quarter of the ring each; the receiving side
// assembles it in a buffer as the pieces come (whichever receiver reads the ring takes them,
// whatever their tag, and otherwise they are taken on the sender's request, see below) and
// hands the whole message to its receiver.
//
// # Who copies: the single-copy rule
//
// The sender copies the message into the ring. A Recv whose message is at the head of the
// ring has its fn called with the payload where it lies in the shared memory; the space is
// given back to the sender when fn returns. That is the only copy on the common path: in
// order, receiver waiting or not, the message is read where the sender wrote it.
//
// A message is moved aside (copied into a buffer and queued by tag) only when something
// behind it is wanted: a waiting receiver's message is further on in the ring, or the sender
// asked for room. A Send that finds the ring full waits; if no room comes for drainDelay
// (1 ms), it asks the peer, over the socket, to move the messages that nobody has taken out of
// the way. So a Send of any size never depends on its receiver calling Recv: a ring full of
// messages that nobody has asked for yet is emptied into the receiver's memory, which is the
// only case where a message is copied twice. Streamed messages are copied twice always (into
// the assembly buffer, then by fn). Conn.Stats counts the three paths.
//
// A message in memory from Alloc is not copied at all on the sending side: see Lending.
//
// TrySend (transport.TrySender) writes a message of one frame only when the ring has room at
// once and no other Send is writing, and otherwise returns false without waiting: the engine
// sends chunks of messages up to 1 MiB that way from its own goroutine, and hands a sender
// goroutine only what does not fit.
//
// # Lending
//
// Alloc returns shared memory: a sealed memfd (sealed against shrinking, so that a peer's
// mapping never faults), mapped read-write, which the process keeps the descriptor of. A message
// that lies in such memory can be lent (Conn.Lend, transport.Lender): the ring carries a
// 16-byte notice (the allocation's id, the message's offset; kindLent), and the receiver's fn
// gets the message where it lies, through the receiver's own read-only mapping of the
// allocation. The first Lend from an allocation on a connection sends its memfd over the
// socket (SCM_RIGHTS) and waits until the peer has checked the seals and the size, mapped it,
// and said so; later ones cost the notice only. Free unmaps the allocation and tells the peers
// that mapped it to unmap it too (once no fn of theirs reads it).
//
// The sender may not write a lent message until the receiver has read it: Lend returns a mark
// (the ring position after its notice), and Conn.Settle(mark) waits until the receiver has
// released every notice up to it, which it does when the fn returns (a lent message moved aside
// is copied out of the sender's memory first). A settler sleeps with the lowest position that
// any settler waits for in the control page (settleWant), and the receiver wakes them, through
// the socket, when its tail passes that position. Settle asks the peer to move
// aside what nobody receives when no notice is released for settleDrain (100 ms), as a Send
// waiting for room does after drainDelay, so a lent message never depends on its Recv either.
//
// Why: through the ring a message is copied twice (in by the sender, out by the receiver) on
// two CPUs at once, which moves 64 MiB as fast as memory allows here while both CPUs are free,
// but costs twice the CPU time; a broadcast's root or an all-gather that also copies its own
// block out of place adds a third copy. Lent, each byte is copied once, by the receiver, while
// the sender's CPU does the rest. The engine lends every message of a chunk (256 KiB) or more
// that lies in such memory; Open MPI reaches single copy with CMA (process_vm_readv),
// which moves 6-7 GB/s between two processes on the development VM against 19-26 GB/s for a
// plain copy. Measured with `chorus bench -N 2 -b 64M -e 64M -R 1|0` and Open MPI in turn, five
// rounds, bus bandwidth out of place / in place in GB/s: broadcast 10.7-15.0 / 11.9-17.8 lent,
// 7.1-9.5 / 10.6-17.9 through the ring, Open MPI 4.4-5.7; all-gather 5.3-6.8 / 9.4-15.8 against
// 3.3-4.5 / 4.7-8.1, Open MPI 3.2-4.0; all-reduce 7.0-9.5 / 8.8-10.3 against 3.3-5.4 / 4.3-7.5.
// Where two copies on two CPUs already move the data as fast as memory allows, lending gains
// little (broadcast in place 0.99-1.21x).
//
// # Receiving
//
// One goroutine at a time, the owner, reads the ring; it is a Recv caller, not a goroutine of
// the package. The owner runs the fn of every waiting receiver whose message reaches the head
// (in its own goroutine, as transport.Mailbox does), assembles streamed messages, moves
// messages aside when the rule above says so, and returns when its own message is done. A new
// Recv takes the ownership over from an owner that is only waiting, so that the goroutine
// which most likely gets the next message reads it itself: a receiver that waits for long (the
// communicator's abort listener does, on every connection) costs the stream nothing. An owner
// that got its message hands the ownership to the receiver whose message is next in the ring,
// if any; otherwise, when receivers still wait, the ring stays unwatched for graceDelay
// (100 us), in case the goroutine that just finished calls Recv again (the engine receives
// chunk after chunk), and then one of the waiting receivers becomes the owner. A receiver that
// does not own the ring waits on a channel.
//
// # Waiting
//
// A sender waiting for room and an owner waiting for a frame poll the ring's counters for
// spinDuration (50 us) and then sleep: the goroutine parks on a channel of the Conn (its
// doorbell, one for the receiving side and one for Sends; see bell.go). The polling is tight
// for the first 5 us (a round trip on an idle machine takes about one), then calls sched_yield
// between polls, so that on a busy machine the peer process gets the CPU it may be waiting for,
// and runtime.Gosched now and then, for goroutines of this process queued behind the poller. A
// sleeper raises a flag in the shared control page; the other side, when it publishes a frame
// or gives room back and finds the flag up, lowers it and tells the sleeper's end over the
// socket (one byte), whose reader rings the doorbell. So a busy connection makes no system
// calls, and an idle one costs no CPU: its owner, if any, and its other receivers wait on
// channels. Conn.Stats counts the sleeps.
//
// Why channels and the socket, not a futex in the shared memory: the Go runtime's monitor
// thread (sysmon) sleeps deeply while every P of the process is idle, and a thread entering or
// leaving a system call that the runtime sees (syscall.Syscall, as a futex wait is) wakes it
// into polling every 20 us, doubling the gap every 50 polls. On a rank bound to one CPU that
// polling takes the CPU from the rank: with futex sleeps, small collectives ran 2-10x slower
// for the first 10-20 ms after every wait that slept (perf sched showed sysmon running 14 us of
// every 100 on the rank's CPU). A goroutine parked on a channel is not in a system call, the
// socket's reader waits in the netpoller, and the socket's reads and writes are raw system
// calls, which the runtime does not see: 4 KiB all-reduces in bursts after pauses, between two
// bound processes, went from 4.3-4.7 us per call to 2.7-2.9. Parking goroutines, not threads,
// also lets a process with a single P (GOMAXPROCS=1, which Go sets in a container with a one-CPU
// quota, or in a rank bound to one CPU) keep its bandwidth, since the engine's sending and
// receiving goroutines take turns on the P without a thread switch: 64 MiB between two such
// processes, all-reduce 3.2-4.9 GB/s against 1.4-1.7 with futexes, all-gather 3.2-4.2 against
// 1.3-1.8 (out of place, three interleaved pairs).
//
// A waiter that yields also publishes the CPU it polls on, in its own segment's control page,
// and withdraws it when it stops polling (Conn.unshare). Where the peer's waiter polls on that
// same CPU, the two processes take turns at one CPU, each poll yielding to the other, while
// another CPU may idle: the kernel puts a woken thread on its waker's CPU where it sees no cache
// shared between them, as in VMs that do not describe their caches. Then one end of the pair,
// the one whose segment drew the larger random id, moves its thread off that CPU: it excludes
// the CPU from the thread's affinity, which makes the kernel migrate the thread at once, and
// restores the affinity right after, so that the user's placement is left as it was. A thread
// that may run on one CPU only stays, and an end moves at most once per moveGap (1 ms).
// Conn.Stats counts the moves.
//
// On a crowded host, one that runs more ranks than it has CPUs (Conn.SetCrowded, which the
// communicator calls when topology.System.Oversubscribed says so), the rank a waiter needs is
// most often waiting for the waiter's CPU. There the waiter calls sched_yield at every poll from
// the first, as Open MPI does when oversubscribed, and polls for crowdedSpin (1 ms) before it
// sleeps: a sleep and wake-up cost more than the polls they save. Nobody moves there: ranks
// must share CPUs.
//
// # Failure
//
// The socket stays open for the life of the connection, and one goroutine per connection reads
// it: the peer's requests for room, its goodbye, and the end of the stream. When the peer
// closes or its process dies (the kernel closes its socket, even on SIGKILL), the reader fails
// the connection at once: every pending and later Send and Recv on this end returns an error
// wrapping transport.ErrClosed, sleepers are woken through their doorbells, and no timeout is
// involved. Close does the same on both ends, waits for the calls in progress to leave the
// shared memory, and unmaps it. The shared memory is not trusted further than it must be:
// counters and frame headers are checked before use, and a bad one closes the connection with
// an error wrapping ErrProtocol.
//
// # Limits
//
// MaxMessage (256 MiB) is the largest message; a larger Send fails with transport.ErrTooLarge,
// and a frame announcing more closes the connection. The receiving side allocates a buffer of
// the announced length for a streamed message, so the limit bounds what a peer can make it
// allocate; it is far above the engine's 256 KiB chunks and the 16 MiB that the conformance
// suite sends. RingSize is a power of two between MinRingSize (64 KiB) and MaxRingSize
// (1 GiB); InlineMax(RingSize) is the largest message read in place (2 MiB less 64 bytes with
// the default ring).
package shm
