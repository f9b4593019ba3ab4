// Package ackrate measures what a receiver got of what was sent to it:
// each packet sent is remembered by its transport-wide sequence number,
// size and departure time; the receiver's transport-wide congestion
// control feedback (TWCC, draft-holmer-rmcat-transport-wide-cc-extensions)
// says which arrived and when. Over an interval the two rates, of the
// same packets, tell a link that carries what it is given (they agree)
// from one that is short (the receive rate falls behind: a queue is
// filling, or packets are dropped), and the receive rate is then what
// the link carries. It runs in the media worker, on each subscriber's
// downlink, and holds numbers only.
package ackrate

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// ringSize is how many packets are remembered: a power of two. 2,048 is
// 2 s of a 10 Mbit/s downlink of full packets (more of a slower one);
// feedback comes within a few hundred milliseconds or never. 32 KiB a
// subscriber.
const ringSize = 1 << 11

// Interval limits: a rate over fewer packets or a shorter time says little.
const (
	MinPackets = 10
	MinSpan    = 100 * time.Millisecond
)

type entry struct {
	sent  int64 // unix nanos; 0: no packet
	bytes int32
	seq   uint16
	acked bool // feedback about it came (arrived or lost)
}

// Meter is one downlink's. Its methods may be called from any goroutine.
type Meter struct {
	mu   sync.Mutex
	ring [ringSize]entry
	cur  Interval
}

// Interval is what feedback said about the packets it reported since the
// last Take: how many arrived and how many were lost, their bytes, and
// the spans of their departures (sender's clock) and arrivals
// (receiver's clock, of the packets that arrived).
type Interval struct {
	Arrived, Lost           int
	ArrivedBytes            int64 // of the packets that arrived
	SentBytes               int64 // of every packet reported, arrived or lost
	firstArrBytes           int64 // bytes of the earliest arrival: not in the receive rate
	firstSentBytes          int64
	FirstSent, LastSent     int64 // unix nanos
	FirstArrive, LastArrive int64 // nanos on the receiver's clock
}

// Sent records a packet of size bytes (header and payload), numbered seq,
// sent at (unix nanos).
func (m *Meter) Sent(seq uint16, size int, at int64) {
	m.mu.Lock()
	m.ring[seq&(ringSize-1)] = entry{sent: at, bytes: int32(size), seq: seq}
	m.mu.Unlock()
}

// Feedback takes one TWCC feedback packet in. Reports of packets it does
// not remember, or already heard of, are ignored; a malformed packet
// (more deltas claimed than carried) is read as far as it goes.
func (m *Meter) Feedback(fb *rtcp.TransportLayerCC) {
	m.mu.Lock()
	defer m.mu.Unlock()
	arrival := int64(fb.ReferenceTime) * int64(64*time.Millisecond)
	seq := fb.BaseSequenceNumber
	left := int(fb.PacketStatusCount)
	deltas := fb.RecvDeltas
	status := func(symbol uint16) bool {
		if left == 0 {
			return false
		}
		left--
		received := symbol == rtcp.TypeTCCPacketReceivedSmallDelta || symbol == rtcp.TypeTCCPacketReceivedLargeDelta
		if received {
			if len(deltas) == 0 {
				return false
			}
			if deltas[0] != nil {
				arrival += deltas[0].Delta * int64(time.Microsecond)
			}
			deltas = deltas[1:]
		}
		m.report(seq, received, arrival)
		seq++
		return true
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				if !status(c.PacketStatusSymbol) {
					return
				}
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				if !status(s) {
					return
				}
			}
		}
	}
}

// report counts one packet's fate into the current interval.
func (m *Meter) report(seq uint16, received bool, arrival int64) {
	e := &m.ring[seq&(ringSize-1)]
	if e.sent == 0 || e.seq != seq || e.acked {
		return
	}
	e.acked = true
	iv := &m.cur
	n := int64(e.bytes)
	if iv.Arrived+iv.Lost == 0 || e.sent < iv.FirstSent {
		iv.FirstSent, iv.firstSentBytes = e.sent, n
	}
	iv.LastSent = max(iv.LastSent, e.sent)
	iv.SentBytes += n
	if !received {
		iv.Lost++
		return
	}
	if iv.Arrived == 0 || arrival < iv.FirstArrive {
		iv.FirstArrive, iv.firstArrBytes = arrival, n
	}
	iv.LastArrive = max(iv.LastArrive, arrival)
	iv.Arrived++
	iv.ArrivedBytes += n
}

// Take returns the interval since the last Take and starts a new one.
func (m *Meter) Take() Interval {
	m.mu.Lock()
	iv := m.cur
	m.cur = Interval{}
	m.mu.Unlock()
	return iv
}

// Peek returns the interval so far, leaving it running.
func (m *Meter) Peek() Interval {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// ReceiveRate is the rate, in bit/s, at which the interval's packets
// arrived; ok is false when too few arrived, or over too short a time,
// to tell.
func (iv Interval) ReceiveRate() (rate int, ok bool) {
	span := iv.LastArrive - iv.FirstArrive
	if iv.Arrived < MinPackets || span < int64(MinSpan) {
		return 0, false
	}
	return int((iv.ArrivedBytes - iv.firstArrBytes) * 8 * int64(time.Second) / span), true
}

// SendRate is the rate, in bit/s, at which the same packets were sent
// (those lost too); ok as for ReceiveRate.
func (iv Interval) SendRate() (rate int, ok bool) {
	span := iv.LastSent - iv.FirstSent
	if iv.Arrived+iv.Lost < MinPackets || span < int64(MinSpan) {
		return 0, false
	}
	return int((iv.SentBytes - iv.firstSentBytes) * 8 * int64(time.Second) / span), true
}

// LossFraction is the share of the interval's packets that were lost.
func (iv Interval) LossFraction() float64 {
	if n := iv.Arrived + iv.Lost; n > 0 {
		return float64(iv.Lost) / float64(n)
	}
	return 0
}
