package comm

// PinnedQUIC lets the external tests build QUIC transports the way InitFromEnv does.
var PinnedQUIC = pinnedQUIC

// ListenStore lets the external tests check where rank 0 serves the store.
var ListenStore = listenStore
