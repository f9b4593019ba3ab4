package client

import (
	"testing"
	"time"
)

func TestDataPacer(t *testing.T) {
	now := time.Unix(1000, 0)
	p := pacer{rate: 10} // 10 a second, 5 deep
	for i := 0; i < 5; i++ {
		if w := p.need(now, 1); w != 0 {
			t.Fatalf("message %d of the burst waits %v", i, w)
		}
		p.take(1)
	}
	if w := p.need(now, 1); w != 100*time.Millisecond {
		t.Fatalf("after the burst: wait %v, want 100ms", w)
	}
	now = now.Add(100 * time.Millisecond)
	if w := p.need(now, 1); w != 0 {
		t.Fatalf("after 100ms: wait %v", w)
	}
	// A message larger than the depth still goes, once the bucket is full.
	big := pacer{rate: 100}
	if w := big.need(now, 300); w != 0 {
		t.Fatalf("a message over the depth waits %v on a fresh bucket", w)
	}
	big.take(300)
	if w := big.need(now, 300); w != 3*time.Second {
		t.Fatalf("then: wait %v, want 3s", w)
	}
	if (&pacer{}).need(now, 1e9) != 0 {
		t.Fatal("no rate: no wait")
	}
}
