package sfu

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	const sec = int64(time.Second)
	start := int64(1_000) * sec
	b := newBucket(8000) // 1000 bytes a second
	// Full at first: one window's worth at once, then nothing.
	if !b.take(start, 8000) || b.take(start, 8) {
		t.Fatal("a fresh bucket does not hold exactly one window")
	}
	// A quarter of a second refills a quarter.
	if b.take(start+sec/4, 2001) || !b.take(start+sec/4, 2000) || b.take(start+sec/4, 1) {
		t.Error("refill after 250 ms is not 2000 bits")
	}
	// Time going backwards adds nothing.
	if b.take(start, 1) {
		t.Error("a clock going back refilled the bucket")
	}
	// A long pause refills one window, no more; no overflow however long.
	if !b.take(start+100*365*24*3600*sec, 8000) || b.take(start+100*365*24*3600*sec, 1) {
		t.Error("a pause of a century did not refill exactly one window")
	}
	// has does not take.
	c := newBucket(800)
	for range 3 {
		if !c.has(start, 800) {
			t.Error("has took tokens")
		}
	}
	if !c.take(start, 800) || c.has(start, 1) {
		t.Error("take after has")
	}
	// No rate, no limit.
	for _, u := range []bucket{{}, newBucket(-1)} {
		for range 3 {
			if !u.take(start, 1<<40) {
				t.Error("an unlimited bucket refused")
			}
		}
	}
	// Big rates do not overflow.
	big := newBucket(maxBitrate)
	if !big.take(start, maxBitrate) || big.take(start+sec/2, maxBitrate/2+1) || !big.take(start+sec/2, maxBitrate/2) {
		t.Error("a 1 Gbit/s bucket miscounts")
	}
}

func BenchmarkBucket(b *testing.B) {
	bk := newBucket(8_000_000)
	now := int64(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		now += 1000
		bk.take(now, 9600)
	}
}
