package rewrite

import "testing"

func TestSkips(t *testing.T) {
	t.Parallel()
	// op: 'f' forward (want compact, or -1 for not ok), 's' skip.
	type op struct {
		kind byte
		seq  uint16
		want int
	}
	f := func(seq uint16, want int) op { return op{'f', seq, want} }
	sk := func(seq uint16) op { return op{kind: 's', seq: seq} }
	tests := []struct {
		name string
		ops  []op
		rev  map[uint16]int // compact -> input (-1: none)
	}{
		{name: "none skipped", ops: []op{f(10, 10), f(11, 11), f(13, 13)}, rev: map[uint16]int{10: 10, 13: 13, 12: 12, 14: -1}},
		{
			name: "holes close", ops: []op{f(10, 10), sk(11), sk(12), f(13, 11), sk(14), f(15, 12), f(16, 13)},
			rev: map[uint16]int{10: 10, 11: 13, 12: 15, 13: 16, 14: -1, 9: -1},
		},
		{
			name: "first skipped", ops: []op{sk(100), sk(101), f(102, 100), f(103, 101)},
			rev: map[uint16]int{100: 102, 101: 103, 99: -1},
		},
		{
			name: "wrap", ops: []op{f(65534, 65534), sk(65535), sk(0), f(1, 65535), f(2, 0)},
			rev: map[uint16]int{65534: 65534, 65535: 1, 0: 2},
		},
		{
			name: "skipped again is refused", ops: []op{f(10, 10), sk(11), f(12, 11), f(11, -1), f(10, 10)},
		},
		{
			// Lost upstream: 12 never came; its hole stays, for a NACK.
			name: "loss keeps its hole", ops: []op{f(10, 10), sk(11), f(13, 12), f(12, 11)},
			rev: map[uint16]int{11: 12, 12: 13},
		},
		{
			// A skip after a later packet cannot close its hole.
			name: "late skip", ops: []op{f(10, 10), f(12, 12), sk(11), f(13, 13)},
			rev: map[uint16]int{11: 11, 13: 13},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Skips
			for i, o := range tt.ops {
				if o.kind == 's' {
					s.Skip(o.seq)
					continue
				}
				got, ok := s.Forward(o.seq)
				if o.want < 0 {
					if ok {
						t.Fatalf("op %d: Forward(%d) = %d, want refused", i, o.seq, got)
					}
					continue
				}
				if !ok || int(got) != o.want {
					t.Fatalf("op %d: Forward(%d) = %d, %v, want %d", i, o.seq, got, ok, o.want)
				}
			}
			for _, o := range tt.ops {
				if o.kind == 's' && !s.Skipped(o.seq) && tt.name != "late skip" {
					t.Errorf("Skipped(%d) false", o.seq)
				}
			}
			for c, want := range tt.rev {
				got, ok := s.Reverse(c)
				if want < 0 {
					if ok {
						t.Errorf("Reverse(%d) = %d, want none", c, got)
					}
					continue
				}
				if !ok || int(got) != want {
					t.Errorf("Reverse(%d) = %d, %v, want %d", c, got, ok, want)
				}
			}
		})
	}
}

// TestSkipsForgetsOldRuns: beyond maxRuns runs, the oldest packets no
// longer map, the recent ones still do.
func TestSkipsForgetsOldRuns(t *testing.T) {
	t.Parallel()
	var s Skips
	seq := uint16(0)
	var first, last uint16
	for i := range maxRuns + 10 {
		c, ok := s.Forward(seq)
		if !ok {
			t.Fatalf("forward %d refused", seq)
		}
		if i == 0 {
			first = c
		}
		last = c
		s.Skip(seq + 1)
		seq += 2
	}
	if _, ok := s.Reverse(first); ok {
		t.Error("the oldest packet still maps")
	}
	if in, ok := s.Reverse(last); !ok || in != seq-2 {
		t.Errorf("Reverse(newest) = %d, %v, want %d", in, ok, seq-2)
	}
	if in, ok := s.Reverse(last - 50); !ok || in != seq-2-100 {
		t.Errorf("Reverse(newest-50) = %d, %v, want %d", in, ok, seq-102)
	}
}

// FuzzSkips runs a stream of packets, each forwarded or skipped, some lost
// and some reordered, and checks against a model: forwarded packets in
// order get consecutive compact numbers but where packets were lost, no
// two forwarded packets share one, a skipped one never maps, and Reverse
// undoes Forward for recent packets.
func FuzzSkips(f *testing.F) {
	f.Add(uint16(65000), []byte{0, 1, 1, 0, 2, 0, 3, 1, 0, 0})
	f.Add(uint16(0), []byte{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 3})
	f.Fuzz(func(t *testing.T, start uint16, ops []byte) {
		var s Skips
		seq := start
		sent := map[uint16]uint16{} // compact -> input
		skipped := map[uint16]bool{}
		var held []uint16 // reordered: forwarded later
		var lastC uint16
		haveLast, lostSince := false, false
		count := 0
		for _, o := range ops {
			if count > 2000 {
				break
			}
			count++
			switch o % 5 {
			case 0, 4: // forward in order
				c, ok := s.Forward(seq)
				if !ok {
					t.Fatalf("in-order %d refused", seq)
				}
				if haveLast && !lostSince && c != lastC+1 {
					t.Fatalf("compact %d after %d with nothing lost", c, lastC)
				}
				if prev, dup := sent[c]; dup && prev != seq && int16(c-lastC) > -1000 {
					t.Fatalf("compact %d for %d and %d", c, prev, seq)
				}
				sent[c], lastC, haveLast, lostSince = seq, c, true, false
			case 1: // skip
				s.Skip(seq)
				skipped[seq] = true
			case 2: // lost
				lostSince = true
			case 3: // held back, sent after the next
				held = append(held, seq)
				lostSince = true
				seq++
				continue
			}
			seq++
			for _, h := range held {
				if c, ok := s.Forward(h); ok {
					if prev, dup := sent[c]; dup && prev != h {
						t.Fatalf("late %d got compact %d of %d", h, c, prev)
					}
					sent[c] = h
				}
			}
			held = held[:0]
		}
		for c, in := range sent {
			if int16(lastC-c) > 100 || int16(lastC-c) < 0 {
				continue
			}
			got, ok := s.Reverse(c)
			if !ok || got != in {
				t.Fatalf("Reverse(%d) = %d, %v, want %d", c, got, ok, in)
			}
		}
		for in := range skipped {
			if int16(seq-in) >= 1000 {
				continue
			}
			if _, ok := s.Forward(in); ok {
				t.Fatalf("skipped %d forwarded", in)
			}
		}
		for _, in := range sent {
			if int16(seq-in) < 1000 && s.Skipped(in) {
				t.Fatalf("forwarded %d taken as skipped", in)
			}
		}
	})
}

func BenchmarkSkips(b *testing.B) {
	var s Skips
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%3 == 2 {
			s.Skip(uint16(i))
		} else if _, ok := s.Forward(uint16(i)); !ok {
			b.Fatal("refused")
		}
	}
}
