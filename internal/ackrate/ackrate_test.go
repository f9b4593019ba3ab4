package ackrate

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// link sends n packets of size bytes, numbered from seq, at sendRate
// bit/s, through a bottleneck of linkRate bit/s (a FIFO that never drops
// unless lose says so), and returns the feedback of their arrivals, one
// TWCC packet per chunk packets, marshalled and parsed again as a
// receiver's would be.
func link(t testing.TB, m *Meter, seq uint16, n, size, sendRate, linkRate int, lose func(i int) bool) []*rtcp.TransportLayerCC {
	t.Helper()
	const start = int64(1_000_000_000)
	var (
		free    int64 // when the bottleneck is next free, ns since start
		symbols []uint16
		deltas  []*rtcp.RecvDelta
		out     []*rtcp.TransportLayerCC
		base          = seq
		prev    int64 = -1 // the last arrival in this feedback; -1: none yet
		ref     int64      // the feedback's reference time
	)
	flush := func() {
		if len(symbols) == 0 {
			return
		}
		fb := &rtcp.TransportLayerCC{BaseSequenceNumber: base, PacketStatusCount: uint16(len(symbols)),
			ReferenceTime: uint32(ref / int64(64*time.Millisecond)), RecvDeltas: deltas}
		for _, s := range symbols {
			fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: s, RunLength: 1})
		}
		raw := marshal(t, fb)
		var back rtcp.TransportLayerCC
		if err := back.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, &back)
		symbols, deltas = nil, nil
		base, prev = seq, -1
	}
	for i := range n {
		sent := int64(i) * int64(size) * 8 * int64(time.Second) / int64(sendRate)
		m.Sent(seq, size, start+sent)
		free = max(free, sent) + int64(size)*8*int64(time.Second)/int64(linkRate)
		if lose != nil && lose(i) {
			symbols = append(symbols, rtcp.TypeTCCPacketNotReceived)
		} else {
			arrive := free / 250_000 * 250_000 // TWCC's 250 µs ticks
			// The first arrival of a feedback counts from its reference time.
			if prev < 0 {
				ref = arrive / int64(64*time.Millisecond) * int64(64*time.Millisecond)
				prev = ref
			}
			d := arrive - prev
			prev = arrive
			sym := rtcp.TypeTCCPacketReceivedSmallDelta
			if d > 63_750_000 {
				sym = rtcp.TypeTCCPacketReceivedLargeDelta
			}
			symbols = append(symbols, sym)
			deltas = append(deltas, &rtcp.RecvDelta{Type: sym, Delta: d / 1000})
		}
		seq++
		if len(symbols) == 20 {
			flush()
		}
	}
	flush()
	return out
}

// marshal writes fb as a receiver would, its header filled in (pion/rtcp
// leaves that to the caller).
func marshal(t testing.TB, fb *rtcp.TransportLayerCC) []byte {
	t.Helper()
	fb.Header = rtcp.Header{Padding: true, Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback,
		Length: uint16(fb.MarshalSize()/4 - 1)}
	raw, err := fb.Marshal()
	if err == nil && raw[len(raw)-1] == 0 { // no padding was needed
		fb.Header.Padding = false
		raw, err = fb.Marshal()
	}
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func near(got, want int) bool { return got > want*95/100 && got < want*105/100 }

func TestRates(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		send, link           int
		wantSend, wantRecv   int
		lose                 func(int) bool
		wantLost, wantArrive int
	}{
		{"carried", 1_000_000, 5_000_000, 1_000_000, 1_000_000, nil, 0, 200},
		{"short", 600_000, 300_000, 600_000, 300_000, nil, 0, 200},
		{"lossy", 1_000_000, 5_000_000, 1_000_000, 500_000, func(i int) bool { return i%2 == 1 }, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Meter
			for _, fb := range link(t, &m, 65_500, 200, 1200, tc.send, tc.link, tc.lose) {
				m.Feedback(fb)
			}
			iv := m.Take()
			if iv.Lost != tc.wantLost || iv.Arrived != tc.wantArrive {
				t.Fatalf("arrived %d lost %d, want %d and %d", iv.Arrived, iv.Lost, tc.wantArrive, tc.wantLost)
			}
			s, ok := iv.SendRate()
			if !ok || !near(s, tc.wantSend) {
				t.Errorf("send rate %d (%v), want about %d", s, ok, tc.wantSend)
			}
			r, ok := iv.ReceiveRate()
			if !ok || !near(r, tc.wantRecv) {
				t.Errorf("receive rate %d (%v), want about %d", r, ok, tc.wantRecv)
			}
			if got := m.Take(); got.Arrived+got.Lost != 0 {
				t.Errorf("a new interval starts empty: %+v", got)
			}
		})
	}
}

func TestFeedbackOnce(t *testing.T) {
	var m Meter
	fbs := link(t, &m, 10, 50, 1000, 1_000_000, 1_000_000, nil)
	for _, fb := range fbs {
		m.Feedback(fb)
	}
	first := m.Take()
	for _, fb := range fbs { // the same feedback again: counted already
		m.Feedback(fb)
	}
	if again := m.Take(); again.Arrived+again.Lost != 0 {
		t.Errorf("repeated feedback counted again: %+v (first %+v)", again, first)
	}
	// Feedback about packets never sent (or long forgotten) is ignored.
	var other Meter
	for _, fb := range fbs {
		other.Feedback(fb)
	}
	if iv := other.Take(); iv.Arrived+iv.Lost != 0 {
		t.Errorf("feedback about unsent packets counted: %+v", iv)
	}
	if _, ok := (Interval{}).ReceiveRate(); ok {
		t.Error("an empty interval has a rate")
	}
}

func TestMalformedFeedback(t *testing.T) {
	var m Meter
	for i := range 30 {
		m.Sent(uint16(i), 100, int64(i+1)*int64(time.Millisecond))
	}
	// More statuses claimed than chunks carry, received packets without
	// deltas, nil deltas, chunks of unknown types: read as far as they go.
	m.Feedback(&rtcp.TransportLayerCC{PacketStatusCount: 30, PacketChunks: []rtcp.PacketStatusChunk{
		&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 5},
	}, RecvDeltas: []*rtcp.RecvDelta{nil, {Delta: 1000}}})
	m.Feedback(&rtcp.TransportLayerCC{BaseSequenceNumber: 10, PacketStatusCount: 3, PacketChunks: []rtcp.PacketStatusChunk{
		&rtcp.StatusVectorChunk{SymbolList: []uint16{0, 0, 0, 0, 0, 0, 0}},
	}})
	iv := m.Take()
	if iv.Arrived != 2 || iv.Lost != 3 {
		t.Errorf("arrived %d lost %d, want 2 and 3", iv.Arrived, iv.Lost)
	}
}

func FuzzFeedback(f *testing.F) {
	var m Meter
	for _, fb := range link(f, &m, 65_530, 40, 1200, 1_000_000, 500_000, func(i int) bool { return i%7 == 0 }) {
		f.Add(marshal(f, fb))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m Meter
		for i := range 100 {
			m.Sent(uint16(65_500+i), 1000, int64(i+1)*int64(time.Millisecond))
		}
		pkts, err := rtcp.Unmarshal(raw)
		if err != nil {
			return
		}
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				m.Feedback(fb)
				m.Feedback(fb)
			}
		}
		iv := m.Take()
		if iv.Arrived+iv.Lost > 100 || iv.Arrived < 0 || iv.Lost < 0 {
			t.Fatalf("more reports than packets sent: %+v", iv)
		}
		if r, ok := iv.ReceiveRate(); ok && r < 0 {
			t.Fatalf("negative rate %d", r)
		}
	})
}

// BenchmarkSentAndFeedback is one packet's cost on the downlink: its
// record when sent, and its share of a feedback packet of 20.
func BenchmarkSentAndFeedback(b *testing.B) {
	var m Meter
	fbs := link(b, &m, 0, 1<<12, 1200, 2_000_000, 5_000_000, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seq := uint16(i)
		m.Sent(seq, 1200, int64(i+1))
		if i%20 == 19 {
			fb := fbs[(i/20)%len(fbs)]
			fb.BaseSequenceNumber = seq - 19
			m.Feedback(fb)
		}
		if i%1000 == 999 {
			m.Take()
		}
	}
}
