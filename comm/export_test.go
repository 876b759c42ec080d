package comm

// PinnedQUIC lets the external tests build QUIC transports the way InitFromEnv does.
var PinnedQUIC = pinnedQUIC
