package comm

import "time"

// PinnedQUIC lets the external tests build QUIC transports the way InitFromEnv does.
var PinnedQUIC = pinnedQUIC

// ListenStore lets the external tests check where rank 0 serves the store.
var ListenStore = listenStore

// SetStartDelay sets how long a small collective started with Start waits for a Wait before
// the communicator's goroutine runs it; call it before any operation.
func SetStartDelay(c *Comm, d time.Duration) { c.startDelay = d }

// RanOnWaiter reports whether w's collective ran on a goroutine that waited for it.
func RanOnWaiter(w *Work) bool { return w.here }
