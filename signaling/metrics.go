package signaling

// MediaStats is a worker's account of its media for the control process's
// metrics, sent within its Stats. Counts only: nothing about rooms or
// users, and no map whose keys a client could choose.
type MediaStats struct {
	Rooms            int    `json:"rooms"`
	Participants     int    `json:"participants"`
	PublishedTracks  int    `json:"publishedTracks"`
	SubscribedTracks int    `json:"subscribedTracks"`
	PacketsIn        uint64 `json:"packetsIn"`
	PacketsOut       uint64 `json:"packetsOut"`
	BytesIn          uint64 `json:"bytesIn"`
	BytesOut         uint64 `json:"bytesOut"`
	Retransmitted    uint64 `json:"retransmitted"`
	PaddingOut       uint64 `json:"paddingOut"`
	NACKsIn          uint64 `json:"nacksIn"`
	NACKMisses       uint64 `json:"nackMisses"`
	RTXLimited       uint64 `json:"rtxLimited"`
	PLIsOut          uint64 `json:"plisOut"` // keyframe requests sent to publishers
	// Dropped counts the packets not forwarded, by reason, in the order
	// of DropReasons.
	Dropped []uint64 `json:"dropped"`
	// RTT and Loss are the subscribers' receiver reports: bucket counts
	// (the last above every bound) and the sum, bounds as the worker's
	// RTTBounds and LossBounds say.
	RTT        Histogram `json:"rtt"`
	Loss       Histogram `json:"loss"`
	RTTBounds  []float64 `json:"rttBounds"`
	LossBounds []float64 `json:"lossBounds"`
	// Data messages (protocol.md 3.12): accepted from senders, written
	// to receivers, not written by DataDropReasons, refused from their
	// senders by DataRejectReasons.
	DataReceived  uint64   `json:"dataReceived"`
	DataDelivered uint64   `json:"dataDelivered"`
	DataDropped   []uint64 `json:"dataDropped"`
	DataRejected  []uint64 `json:"dataRejected"`
}

// Histogram is fixed-bucket counts and the sum of the observations.
type Histogram struct {
	Counts []uint64 `json:"counts"`
	Sum    float64  `json:"sum"`
}

// DropReasons names MediaStats.Dropped's entries, in order.
var DropReasons = []string{"queue_full", "no_keyframe", "muted", "write_error", "not_connected", "undeclared_ssrc", "bitrate"}

// DataDropReasons names MediaStats.DataDropped's entries, in order.
var DataDropReasons = []string{"slow_receiver", "not_open", "write_error"}

// DataRejectReasons names MediaStats.DataRejected's entries, in order.
var DataRejectReasons = []string{"too_large", "rate", "room_rate", "not_allowed", "malformed", "unknown_peer"}
