package sfu

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// RTTBuckets are the upper bounds, in seconds, of the round-trip time
// histogram: what subscribers' receiver reports give against the SFU's
// sender reports.
var RTTBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6}

// LossBuckets are the upper bounds of the loss histogram: the fraction of
// packets lost (0 to 1) each receiver report block says.
var LossBuckets = []float64{0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}

// Histogram is a snapshot of a fixed-bucket histogram: Counts[i] counts
// the observations at most Bounds[i] and above Bounds[i-1]; the last
// count, one more than the bounds, those above every bound.
type Histogram struct {
	Counts []uint64
	Sum    float64
}

// Metrics are the SFU's figures beyond Stats: bytes, the tracks at this
// moment, and the subscribers' reported round-trip times and loss. Counts
// only, nothing about rooms or users.
type Metrics struct {
	BytesIn  uint64 // RTP bytes (header and payload) read from publishers
	BytesOut uint64 // RTP bytes written to subscribers, retransmissions and padding included
	// PublishedTracks and SubscribedTracks are counted at the call.
	PublishedTracks, SubscribedTracks int
	RTT, Loss                         Histogram
}

type metricCounters struct {
	bytesIn, bytesOut atomic.Uint64
	rtt               histogram
	loss              histogram
}

// histogram counts observations into fixed buckets without locks; sum is
// kept in millionths.
type histogram struct {
	counts [10]atomic.Uint64 // len(bounds)+1 of the longest bounds above
	sum    atomic.Uint64
}

func (h *histogram) observe(bounds []float64, v float64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(math.Round(v * 1e6)))
}

func (h *histogram) snapshot(bounds []float64) Histogram {
	out := Histogram{Counts: make([]uint64, len(bounds)+1)}
	for i := range out.Counts {
		out.Counts[i] = h.counts[i].Load()
	}
	out.Sum = float64(h.sum.Load()) / 1e6
	return out
}

// Metrics returns the current figures. It walks the rooms (a lock each,
// one at a time): ask on a scrape, not per packet.
func (s *SFU) Metrics() Metrics {
	m := Metrics{
		BytesIn: s.metrics.bytesIn.Load(), BytesOut: s.metrics.bytesOut.Load(),
		RTT: s.metrics.rtt.snapshot(RTTBuckets), Loss: s.metrics.loss.snapshot(LossBuckets),
	}
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	var peers []*Participant
	for _, r := range rooms {
		r.mu.Lock()
		m.PublishedTracks += len(r.tracks)
		peers = append(peers, r.participants...)
		r.mu.Unlock()
	}
	for _, p := range peers {
		p.mu.Lock()
		m.SubscribedTracks += len(p.down)
		p.mu.Unlock()
	}
	return m
}

// noteReport files a subscriber's receiver report block in the loss and
// round-trip histograms. The round trip needs a sender report it answers
// (LSR): now, less the delay the receiver says it held it, less when it
// was sent, in the compact NTP format's 1/65536 s.
func (c *metricCounters) noteReport(r rtcp.ReceptionReport, now time.Time) {
	c.loss.observe(LossBuckets, float64(r.FractionLost)/256)
	if r.LastSenderReport == 0 {
		return
	}
	rtt := compactNTP(now) - r.LastSenderReport - r.Delay
	if rtt > 10*65536 { // over 10 s: a wrapped or bogus report
		return
	}
	c.rtt.observe(RTTBuckets, float64(rtt)/65536)
}

// compactNTP is t as the middle 32 bits of its 64-bit NTP timestamp.
func compactNTP(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32(secs<<16 | frac>>16)
}
