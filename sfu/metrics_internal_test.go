package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestHistogramBuckets(t *testing.T) {
	var h histogram
	for _, v := range []float64{0, 0.005, 0.006, 1.6, 99} {
		h.observe(RTTBuckets, v)
	}
	got := h.snapshot(RTTBuckets)
	want := []uint64{2, 1, 0, 0, 0, 0, 0, 0, 1, 1}
	if len(got.Counts) != len(want) {
		t.Fatalf("counts %v, want %v", got.Counts, want)
	}
	for i := range want {
		if got.Counts[i] != want[i] {
			t.Fatalf("counts %v, want %v", got.Counts, want)
		}
	}
	if got.Sum < 100.6 || got.Sum > 100.62 {
		t.Fatalf("sum %v", got.Sum)
	}
	if len(h.counts) < len(LossBuckets)+1 {
		t.Fatal("too few buckets for the loss histogram")
	}
}

func TestNoteReport(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	sent := compactNTP(now.Add(-150 * time.Millisecond))
	tests := []struct {
		name    string
		r       rtcp.ReceptionReport
		rttSeen bool
		rttLow  float64
		rttHigh float64
		lossBkt int
	}{
		{"no sender report", rtcp.ReceptionReport{FractionLost: 0}, false, 0, 0, 0},
		{"100 ms after a 50 ms hold", rtcp.ReceptionReport{FractionLost: 25, LastSenderReport: sent, Delay: 65536 / 20}, true, 0.099, 0.101, 4},
		{"from the future", rtcp.ReceptionReport{LastSenderReport: compactNTP(now.Add(time.Second))}, false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c metricCounters
			c.noteReport(tt.r, now)
			rtt, loss := c.rtt.snapshot(RTTBuckets), c.loss.snapshot(LossBuckets)
			var n uint64
			for _, x := range rtt.Counts {
				n += x
			}
			if (n == 1) != tt.rttSeen {
				t.Fatalf("rtt observations %d", n)
			}
			if tt.rttSeen && (rtt.Sum < tt.rttLow || rtt.Sum > tt.rttHigh) {
				t.Fatalf("rtt %v s", rtt.Sum)
			}
			if loss.Counts[tt.lossBkt] != 1 {
				t.Fatalf("loss buckets %v, want one in %d", loss.Counts, tt.lossBkt)
			}
		})
	}
}

func BenchmarkNoteReport(b *testing.B) {
	var c metricCounters
	now := time.Now()
	r := rtcp.ReceptionReport{FractionLost: 3, LastSenderReport: compactNTP(now.Add(-40 * time.Millisecond))}
	b.ReportAllocs()
	for b.Loop() {
		c.noteReport(r, now)
	}
}
