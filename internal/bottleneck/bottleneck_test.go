package bottleneck

import (
	"testing"
	"time"
)

// At 1 Mbit/s a 1250-byte packet takes 10 ms: packets sent in a burst
// leave 10 ms apart, and those that would wait more than the FIFO's
// 200 ms are dropped.
func TestLinkRateAndTailDrop(t *testing.T) {
	l := New(1_000_000, 200*time.Millisecond)
	t0 := time.Unix(1000, 0)
	var last time.Time
	for i := range 30 {
		dep, ok := l.Admit(1250, t0)
		switch {
		case i <= 20 && !ok:
			t.Fatalf("packet %d dropped with %v queued", i, last.Sub(t0))
		case i > 20 && ok:
			t.Fatalf("packet %d admitted at %v of queue", i, dep.Sub(t0))
		case ok:
			if want := t0.Add(time.Duration(i+1) * 10 * time.Millisecond); !dep.Equal(want) {
				t.Fatalf("packet %d leaves at +%v, want +%v", i, dep.Sub(t0), want.Sub(t0))
			}
			last = dep
		}
	}
	if a, d := l.Stats(); a != 21 || d != 9 {
		t.Fatalf("admitted %d dropped %d", a, d)
	}
	// Once the FIFO has drained, a packet passes at once plus its own
	// transmission time.
	later := last.Add(time.Second)
	if dep, ok := l.Admit(125, later); !ok || dep.Sub(later) != time.Millisecond {
		t.Fatalf("after idle: %v %v", dep.Sub(later), ok)
	}
}

// A paced flow below the rate never queues; above it, it queues up to the
// bound and loses the excess: the share admitted is about rate/offered.
func TestLinkSustainedOverload(t *testing.T) {
	l := New(300_000, 0)
	t0 := time.Unix(0, 0)
	// 600 kbit/s offered: a 1250-byte packet every 16.67 ms for 10 s.
	step := time.Second / 60
	n := 600
	for i := range n {
		l.Admit(1250, t0.Add(time.Duration(i)*step))
	}
	a, d := l.Stats()
	if share := float64(a) / float64(n); share < 0.48 || share > 0.54 {
		t.Fatalf("admitted %d of %d (%.2f), dropped %d: want about half", a, n, share, d)
	}
	l2 := New(1_000_000, 0)
	for i := range n {
		now := t0.Add(time.Duration(i) * step)
		dep, ok := l2.Admit(1250, now)
		if !ok || dep.Sub(now) != 10*time.Millisecond {
			t.Fatalf("below the rate, packet %d waited %v (ok %v)", i, dep.Sub(now), ok)
		}
	}
}

// SetRate applies to packets admitted afterwards; 0 lifts the limit.
func TestLinkSetRate(t *testing.T) {
	l := New(100_000, time.Second)
	t0 := time.Unix(0, 0)
	dep, _ := l.Admit(1250, t0) // 100 ms at 100 kbit/s
	if dep.Sub(t0) != 100*time.Millisecond {
		t.Fatalf("first %v", dep.Sub(t0))
	}
	l.SetRate(0)
	if l.Rate() != 0 {
		t.Fatal("rate not lifted")
	}
	// Unlimited, but behind the packet already on the link.
	if d2, ok := l.Admit(1250, t0); !ok || !d2.Equal(dep) {
		t.Fatalf("unlimited behind the queue: %v %v", d2.Sub(t0), ok)
	}
	if d3, _ := l.Admit(1250, t0.Add(time.Second)); !d3.Equal(t0.Add(time.Second)) {
		t.Fatalf("unlimited: %v", d3.Sub(t0))
	}
	l.SetRate(1_000_000)
	now := t0.Add(2 * time.Second)
	if d4, _ := l.Admit(1250, now); d4.Sub(now) != 10*time.Millisecond {
		t.Fatalf("raised: %v", d4.Sub(now))
	}
}
