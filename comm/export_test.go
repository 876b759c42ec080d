package comm

import "github.com/chorus-cc/chorus/transport"

// PinnedQUIC lets the external tests build QUIC transports the way InitFromEnv does.
var PinnedQUIC = pinnedQUIC

// ListenStore lets the external tests check where rank 0 serves the store.
var ListenStore = listenStore

// ConnTo returns c's connection to peer, so that the external tests can read its statistics.
func ConnTo(c *Comm, peer int) transport.Conn { return c.conns[peer] }
