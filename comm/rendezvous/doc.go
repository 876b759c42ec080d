// Package rendezvous is Chorus's bootstrap key-value store: the place where ranks publish
// their PeerInfo and read everyone else's before any transport exists.
//
// A Store (set, get, wait, add, compare-and-set) has three implementations:
//
//   - MemStore, in memory, which the TCP Server serves;
//   - Client, the TCP client of a Server (Dial, or Open("tcp://host:port"));
//   - FileStore, one file per key in a shared directory (Open("file:///path")).
//
// # TCP protocol and limits
//
// A connection starts with an HMAC-SHA256 challenge-response in both directions (auth.go): the
// job secret never travels, a client with the wrong secret gets ErrAuth and no key access, and
// the server logs the refusal. An empty secret on both sides means no authentication; the
// launcher always sets one. Then come length-prefixed frames (frame.go): op, key, value and an
// auxiliary value. Keys are at most MaxKeySize (4 KiB), values at most MaxValueSize (16 MiB);
// the server checks the lengths before it allocates, and closes a connection that sends
// garbage, without disturbing the others. ServerConfig.MaxConns (default DefaultMaxConns)
// bounds the connections; one more is answered ErrBusy.
//
// # Environment
//
// FromEnv reads where a process stands. The first launcher whose rank variable is set supplies
// rank, size, local rank and local size (variables of different launchers are never mixed):
//
//	precedence  launcher   rank                  size                  local rank                  local size
//	1           chorus     CHORUS_RANK           CHORUS_SIZE           CHORUS_LOCAL_RANK           CHORUS_LOCAL_SIZE
//	2           torchrun   RANK                  WORLD_SIZE            LOCAL_RANK                  LOCAL_WORLD_SIZE
//	3           Slurm      SLURM_PROCID          SLURM_NTASKS          SLURM_LOCALID               (none: 0)
//	4           Open MPI   OMPI_COMM_WORLD_RANK  OMPI_COMM_WORLD_SIZE  OMPI_COMM_WORLD_LOCAL_RANK  OMPI_COMM_WORLD_LOCAL_SIZE
//
// Rank and size are required; local rank and size are 0 when unset. The store address is
// CHORUS_RDZV (host:port or a URL; a launcher such as `chorus run` serves it), else
// MASTER_ADDR:(MASTER_PORT+1), which rank 0 serves itself (Job.Serve; comm.InitFromEnv does it):
// MASTER_PORT is left to the launcher, since under torchrun it is torch's own store. The secret
// is CHORUS_SECRET; without one the store does not authenticate.
// Non-integers, negatives, rank >= size and local rank >= local size are errors.
package rendezvous
