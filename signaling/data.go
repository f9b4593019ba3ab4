package signaling

// Data messages (docs/protocol.md 3.12) travel on the subscriber
// PeerConnection's data channels, not on the WebSocket; signaling only
// opens them (Join.Data), says their limits (Joined.Data) and reports
// refusals (DataRejected).

// TypeDataRejected tells a participant that data messages it sent were
// dropped by the server.
const TypeDataRejected = "dataRejected"

// The data channels, negotiated (both sides create them with these ids
// on the subscriber PeerConnection, no in-band open).
const (
	DataReliableID    = 0 // ordered, retransmitted
	DataLossyID       = 1 // unordered, never retransmitted
	DataReliableLabel = "lethe-reliable"
	DataLossyLabel    = "lethe-lossy"
)

// DataInfo says what the participant may do with data messages: Send
// false when its token's data claim forbids sending (it still receives);
// MaxMessage is the most payload bytes of one message, MessageRate and
// ByteRate what it may send per second (0: no limit).
type DataInfo struct {
	Send        bool `json:"send"`
	MaxMessage  int  `json:"maxMessage"`
	MessageRate int  `json:"messageRate,omitempty"`
	ByteRate    int  `json:"byteRate,omitempty"`
}

// DataRejected reports refused data messages: Code 4006..4009, Dropped
// how many of that code were dropped since the last report (at most one a
// second per code). The messages themselves are not named.
type DataRejected struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Dropped int    `json:"dropped"`
}
