package loadtest

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 0.5, 3 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 0.99, 5 * time.Millisecond},
	} {
		if got := quantile(tc.in, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
}

// The window's latency is the histogram's growth between two snapshots.
func TestRoomReportWindow(t *testing.T) {
	var a, b counts
	a.hist.Record(100 * time.Millisecond) // before the window: must not count
	b.hist.Merge(&a.hist)
	for range 10 {
		b.hist.Record(time.Millisecond)
	}
	a.packets, b.packets = 100, 1100
	a.bytes, b.bytes = 0, 1_250_000
	a.lost, b.lost = 2, 3
	rr := roomReport(&a, &b, time.Second, nil)
	if rr.Packets != 1000 || rr.Lost != 1 || rr.BitrateMbps != 10 {
		t.Fatalf("report %+v", rr)
	}
	if p99 := time.Duration(rr.LatencyP99); p99 > 2*time.Millisecond {
		t.Fatalf("window p99 %v includes latency from before the window", p99)
	}
}

// The report says what the generator used, and warns when the generator
// and the server together kept the machine busy: then loss and latency
// are the machine's, not the server's.
func TestSaturationWarning(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gen, srv  float64 // % of a core
		server    bool
		cores     int
		wantWarn  bool
		wantShare float64
	}{
		{"idle", 20, 10, true, 2, false, 0.15},
		{"both busy", 110, 70, true, 2, true, 0.90},
		{"generator alone busy, remote server", 180, 0, false, 2, true, 0.90},
		{"busy but many cores", 110, 70, true, 8, false, 0.225},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Generator: &GeneratorReport{CPUSeconds: tc.gen / 10, CPUPercent: tc.gen, Cores: tc.cores}}
			if tc.server {
				rep.Server = &ServerReport{CPUPercent: tc.srv}
			}
			if got := rep.saturation(); math.Abs(got-tc.wantShare) > 1e-9 {
				t.Fatalf("saturation %v, want %v", got, tc.wantShare)
			}
			var b strings.Builder
			rep.WriteText(&b)
			if !strings.Contains(b.String(), "generator: ") {
				t.Fatalf("no generator line in:\n%s", b.String())
			}
			if warned := strings.Contains(b.String(), "warning: this machine was"); warned != tc.wantWarn {
				t.Fatalf("warning printed: %v, want %v:\n%s", warned, tc.wantWarn, b.String())
			}
		})
	}
}
