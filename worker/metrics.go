package worker

import (
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

// WithMediaStats makes every stats answer carry the worker's media
// figures, read from read at the request.
func WithMediaStats(read func() signaling.MediaStats) HostOption {
	return func(h *Host) { h.media = read }
}

// mediaStats is s's figures as the control process's metrics take them.
func mediaStats(s *sfu.SFU) signaling.MediaStats {
	st, m, d := s.Stats(), s.Metrics(), s.DataStats()
	return signaling.MediaStats{
		Rooms: st.Rooms, Participants: st.Participants,
		PublishedTracks: m.PublishedTracks, SubscribedTracks: m.SubscribedTracks,
		PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut, BytesIn: m.BytesIn, BytesOut: m.BytesOut,
		Retransmitted: st.Retransmitted, PaddingOut: st.PaddingOut, NACKsIn: st.NACKsIn, NACKMisses: st.NACKMisses,
		RTXLimited: st.RTXLimited, PLIsOut: st.KeyframeRequests,
		// In the order of signaling.DropReasons.
		Dropped: []uint64{st.DroppedQueueFull, st.DroppedNoKeyframe, st.DroppedMuted, st.DroppedWriteError,
			st.DroppedNotConnected, st.DroppedUndeclared, st.DroppedBitrate},
		RTT:       signaling.Histogram{Counts: m.RTT.Counts, Sum: m.RTT.Sum},
		Loss:      signaling.Histogram{Counts: m.Loss.Counts, Sum: m.Loss.Sum},
		RTTBounds: sfu.RTTBuckets, LossBounds: sfu.LossBuckets,
		DataReceived: d.Received, DataDelivered: d.Delivered,
		// In the order of signaling.DataDropReasons and DataRejectReasons.
		DataDropped: []uint64{d.DroppedSlow, d.DroppedNotOpen, d.DroppedWriteError},
		DataRejected: []uint64{d.RejectedTooLarge, d.RejectedRate, d.RejectedRoomRate, d.RejectedNotAllowed,
			d.RejectedMalformed, d.RejectedUnknownPeer},
	}
}
