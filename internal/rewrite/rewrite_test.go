package rewrite

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one call on a Stream: Pause if pause is set, else Rewrite of
// seq and ts at t0+at, expecting out, outTS and ok.
type step struct {
	pause bool
	seq   uint16
	ts    uint32
	at    time.Duration
	out   uint16
	outTS uint32
	ok    bool
}

func pkt(seq uint16, ts uint32, at time.Duration, out uint16, outTS uint32) step {
	return step{seq: seq, ts: ts, at: at, out: out, outTS: outTS, ok: true}
}

func drop(seq uint16, ts uint32, at time.Duration) step {
	return step{seq: seq, ts: ts, at: at}
}

var pause = step{pause: true}

func TestRewrite(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name  string
		seq   uint16
		ts    uint32
		clock uint32
		steps []step
	}{
		{
			name: "in order", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				pkt(11, 3100, 33*ms, 1001, 8000),
				pkt(12, 6100, 66*ms, 1002, 11000),
			},
		},
		{
			name: "gap is kept", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				pkt(13, 9100, 0, 1003, 14000),
				pkt(14, 12100, 0, 1004, 17000),
			},
		},
		{
			name: "reorder and retransmission map through the offsets", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				pkt(12, 6100, 0, 1002, 11000),
				pkt(11, 3100, 0, 1001, 8000),
				pkt(11, 3100, 0, 1001, 8000),
				pkt(12, 6100, 0, 1002, 11000),
				pkt(13, 9100, 0, 1003, 14000),
			},
		},
		{
			name: "older than the epoch's first is dropped", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				drop(9, 0, 0),
				drop(65535, 0, 0),
				pkt(11, 200, 0, 1001, 5100),
				pause,
				pkt(20, 900, 10*ms, 1002, 5100+900),
				drop(19, 800, 10*ms),
				pkt(21, 1000, 10*ms, 1003, 6100),
			},
		},
		{
			name: "pause and resume continue seq and advance ts by wall time", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				pkt(11, 3100, 33*ms, 1001, 8000),
				pause,
				pkt(500, 77777, 1033*ms, 1002, 8000+90000),
				pkt(501, 80777, 1066*ms, 1003, 98000+3000),
			},
		},
		{
			name: "pause after a gap continues after the highest", seq: 1000, ts: 5000, clock: 48000,
			steps: []step{
				pkt(10, 0, 0, 1000, 5000),
				pkt(15, 4800, 100*ms, 1005, 9800),
				pkt(12, 1920, 100*ms, 1002, 6920),
				pause,
				pkt(7, 123, 300*ms, 1006, 9800+9600),
			},
		},
		{
			name: "pause twice or before any packet", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pause,
				pkt(10, 100, 0, 1000, 5000),
				pause,
				pause,
				pkt(10, 100, 0, 1001, 5001),
			},
		},
		{
			name: "resume with no or negative elapsed time advances ts by 1", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, time.Second, 1000, 5000),
				pause,
				pkt(30, 100, time.Second, 1001, 5001),
				pause,
				pkt(40, 100, 0, 1002, 5002),
			},
		},
		{
			name: "long pause clamps the timestamp step", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				pause,
				pkt(11, 100, 1000*time.Hour, 1001, 5000+maxTSStep),
			},
		},
		{
			name: "input seq wraps", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(65534, 100, 0, 1000, 5000),
				pkt(65535, 200, 0, 1001, 5100),
				pkt(1, 400, 0, 1003, 5300),
				pkt(0, 300, 0, 1002, 5200),
				drop(65533, 0, 0),
			},
		},
		{
			name: "output seq wraps", seq: 65534, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 65534, 5000),
				pkt(11, 200, 0, 65535, 5100),
				pkt(12, 300, 0, 0, 5200),
				pause,
				pkt(90, 300, 0, 1, 5201),
			},
		},
		{
			name: "input timestamp wraps", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 4294967000, 0, 1000, 5000),
				pkt(11, 200, 0, 1001, 5496),
			},
		},
		{
			name: "output timestamp wraps", seq: 1000, ts: 4294967295, clock: 90000,
			steps: []step{
				pkt(10, 0, 0, 1000, 4294967295),
				pkt(11, 10, 0, 1001, 9),
				pause,
				pkt(1, 10, 0, 1002, 10),
			},
		},
		{
			name: "jump forward beyond maxJump starts an epoch", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(10, 100, 0, 1000, 5000),
				pkt(10+maxJump, 200, 0, 1000+maxJump, 5100),
				pkt(11+2*maxJump, 999, 10*ms, 1001+maxJump, 6000),
				pkt(12+2*maxJump, 1999, 10*ms, 1002+maxJump, 7000),
			},
		},
		{
			name: "jump backward beyond maxJump starts an epoch", seq: 1000, ts: 5000, clock: 90000,
			steps: []step{
				pkt(30000, 100, 0, 1000, 5000),
				drop(30000-maxJump, 0, 0),
				pkt(30000-maxJump-1, 7, 10*ms, 1001, 5900),
				pkt(30000-maxJump, 17, 10*ms, 1002, 5910),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(tc.clock, WithStart(tc.seq, tc.ts))
			for i, st := range tc.steps {
				if st.pause {
					s.Pause()
					continue
				}
				out, outTS, ok := s.Rewrite(st.seq, st.ts, t0.Add(st.at))
				if ok != st.ok || (ok && (out != st.out || outTS != st.outTS)) {
					t.Fatalf("step %d: Rewrite(%d, %d) = %d, %d, %v; want %d, %d, %v",
						i, st.seq, st.ts, out, outTS, ok, st.out, st.outTS, st.ok)
				}
			}
		})
	}
}

func TestReverse(t *testing.T) {
	t.Parallel()
	type query struct {
		out uint16
		in  uint16
		ok  bool
	}
	tests := []struct {
		name    string
		seq     uint16
		steps   []step
		queries []query
	}{
		{
			name: "nothing sent",
			seq:  1000,
			queries: []query{
				{out: 1000}, {out: 999},
			},
		},
		{
			name: "current epoch including gaps",
			seq:  1000,
			steps: []step{
				pkt(10, 0, 0, 1000, 0),
				pkt(11, 0, 0, 1001, 0),
				pkt(14, 0, 0, 1004, 0),
			},
			queries: []query{
				{out: 1000, in: 10, ok: true},
				{out: 1002, in: 12, ok: true},
				{out: 1004, in: 14, ok: true},
				{out: 1005},
				{out: 999},
				{out: 1004 + 40000},
			},
		},
		{
			name: "paused",
			seq:  1000,
			steps: []step{
				pkt(10, 0, 0, 1000, 0),
				pause,
			},
			queries: []query{
				{out: 1000},
				{out: 1001},
			},
		},
		{
			name: "earlier epoch",
			seq:  1000,
			steps: []step{
				pkt(10, 0, 0, 1000, 0),
				pkt(11, 0, 0, 1001, 0),
				pause,
				pkt(500, 0, 0, 1002, 1),
				pkt(501, 0, 0, 1003, 2),
			},
			queries: []query{
				{out: 1001},
				{out: 1002, in: 500, ok: true},
				{out: 1003, in: 501, ok: true},
				{out: 1004},
			},
		},
		{
			name: "wraps in both",
			seq:  65535,
			steps: []step{
				pkt(65534, 0, 0, 65535, 0),
				pkt(1, 0, 0, 2, 0),
			},
			queries: []query{
				{out: 65535, in: 65534, ok: true},
				{out: 0, in: 65535, ok: true},
				{out: 1, in: 0, ok: true},
				{out: 2, in: 1, ok: true},
				{out: 3},
				{out: 65534},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(90000, WithStart(tc.seq, 0))
			for i, st := range tc.steps {
				if st.pause {
					s.Pause()
					continue
				}
				out, _, ok := s.Rewrite(st.seq, st.ts, t0)
				if ok != st.ok || out != st.out {
					t.Fatalf("step %d: Rewrite(%d) = %d, %v; want %d, %v", i, st.seq, out, ok, st.out, st.ok)
				}
			}
			for _, q := range tc.queries {
				in, ok := s.Reverse(q.out)
				if ok != q.ok || (ok && in != q.in) {
					t.Errorf("Reverse(%d) = %d, %v; want %d, %v", q.out, in, ok, q.in, q.ok)
				}
			}
		})
	}
}

func TestNewRandomStart(t *testing.T) {
	t.Parallel()
	// Two streams starting at the same seq and ts has odds of 2^-48.
	a, b := New(90000), New(90000)
	sa, ta, _ := a.Rewrite(1, 1, t0)
	sb, tb, _ := b.Rewrite(1, 1, t0)
	if sa == sb && ta == tb {
		t.Errorf("two streams started at the same seq %d and ts %d", sa, ta)
	}
}

// FuzzStream drives a Stream with packets whose seq and ts move by small
// steps, with pauses, and checks its invariants:
//   - the first packet of an epoch is accepted, its seq follows the highest
//     seq sent before, and its ts is ahead of every ts sent before;
//   - within an epoch, seq and ts offsets are constant and only packets
//     older than the epoch's first are dropped;
//   - Reverse undoes Rewrite within the epoch, and refuses seqs sent after
//     the highest or (with a Pause in between) in an earlier epoch.
func FuzzStream(f *testing.F) {
	f.Add(uint16(1000), uint32(5000), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint16(65535), uint32(0xffffffff), []byte{0x80, 0xff, 0xff, 0x10, 0x80, 0x01, 0x00, 0x00, 0, 0, 0, 0})
	f.Add(uint16(0), uint32(0), []byte{0, 0, 0, 0, 0x7f, 0x7f, 0x7f, 0x7f, 0x80, 0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, startSeq uint16, startTS uint32, ops []byte) {
		s := New(90000, WithStart(startSeq, startTS))
		inSeq, inTS := uint16(0x1234), uint32(0x89abcdef)
		now := t0

		var (
			sent                bool
			inEpoch             bool
			seqOff              uint16
			tsOff               uint32
			newestIn            uint16
			newestPos           int64  // position of newestIn in its epoch
			highestOut          uint16 // highest seq sent, all epochs
			maxTS               uint32 // highest ts sent, all epochs
			prevEpochHighestOut uint16
			prevEpochValid      bool
		)
		for len(ops) >= 4 {
			op := ops[:4]
			ops = ops[4:]
			now = now.Add(time.Duration(op[3]) * time.Millisecond)
			if op[0]&0x80 != 0 {
				s.Pause()
				if inEpoch {
					prevEpochHighestOut, prevEpochValid = highestOut, true
				}
				inEpoch = false
				if _, ok := s.Reverse(highestOut); ok {
					t.Fatalf("Reverse(%d) ok while paused", highestOut)
				}
				continue
			}
			inSeq += uint16(int8(op[1]))
			inTS += uint32(int32(int8(op[2])) * 100)

			if inEpoch {
				d := int16(inSeq - newestIn)
				if d > maxJump || d < -maxJump {
					prevEpochHighestOut, prevEpochValid = highestOut, true
					inEpoch = false
				}
			}
			out, outTS, ok := s.Rewrite(inSeq, inTS, now)
			if !inEpoch {
				if !ok {
					t.Fatalf("first packet of an epoch dropped")
				}
				if sent && out != highestOut+1 {
					t.Fatalf("epoch starts at seq %d, want %d", out, highestOut+1)
				}
				if sent && int32(outTS-maxTS) <= 0 {
					t.Fatalf("epoch starts at ts %d, not after %d", outTS, maxTS)
				}
				if !sent && (out != startSeq || outTS != startTS) {
					t.Fatalf("first packet = %d, %d; want %d, %d", out, outTS, startSeq, startTS)
				}
				if prevEpochValid {
					if _, ok := s.Reverse(prevEpochHighestOut); ok {
						t.Fatalf("Reverse(%d) ok for an earlier epoch", prevEpochHighestOut)
					}
				}
				inEpoch, sent = true, true
				seqOff, tsOff = out-inSeq, outTS-inTS
				newestIn, newestPos = inSeq, 0
				highestOut, maxTS = out, outTS
			} else {
				pos := newestPos + int64(int16(inSeq-newestIn))
				if ok != (pos >= 0) {
					t.Fatalf("Rewrite(%d) ok=%v at position %d in its epoch", inSeq, ok, pos)
				}
				if !ok {
					continue
				}
				if out-inSeq != seqOff || outTS-inTS != tsOff {
					t.Fatalf("offsets changed within an epoch")
				}
				if pos > newestPos {
					newestIn, newestPos, highestOut = inSeq, pos, out
				}
				if int32(outTS-maxTS) > 0 {
					maxTS = outTS
				}
			}
			if in, ok := s.Reverse(out); !ok || in != inSeq {
				t.Fatalf("Reverse(%d) = %d, %v; want %d", out, in, ok, inSeq)
			}
			if _, ok := s.Reverse(highestOut + 1); ok {
				t.Fatalf("Reverse(%d) ok for a seq not yet sent", highestOut+1)
			}
		}
	})
}

func BenchmarkRewrite(b *testing.B) {
	s := New(90000)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := s.Rewrite(uint16(i), uint32(i)*3000, now); !ok {
			b.Fatal("dropped")
		}
	}
}

func BenchmarkReverse(b *testing.B) {
	s := New(90000)
	now := time.Now()
	var out uint16
	for i := range 1000 {
		out, _, _ = s.Rewrite(uint16(i), uint32(i)*3000, now)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := s.Reverse(out - uint16(i%500)); !ok {
			b.Fatal("not found")
		}
	}
}

// Padding packets (bandwidth probes) take sequence numbers of their own
// after the newest packet: the numbering stays contiguous, a
// retransmission of an earlier packet keeps its number, and Reverse maps
// every media packet back and no padding packet.
func TestPad(t *testing.T) {
	s := New(90000, WithStart(100, 5000))
	now := time.Unix(1000, 0)
	if _, _, ok := s.Pad(); ok {
		t.Fatal("Pad before any packet")
	}
	want := uint16(100)
	sent := map[uint16]uint16{} // out → in
	var pads []uint16
	send := func(in uint16) {
		t.Helper()
		out, _, ok := s.Rewrite(in, uint32(in)*3000, now)
		if !ok || out != want {
			t.Fatalf("packet %d: out %d ok %v, want %d", in, out, ok, want)
		}
		sent[out] = in
		want++
	}
	pad := func() {
		t.Helper()
		out, ts, ok := s.Pad()
		if !ok || out != want {
			t.Fatalf("pad: out %d ok %v, want %d", out, ok, want)
		}
		if ts != 5000+4*3000 && ts != 5000+6*3000 {
			t.Fatalf("pad timestamp %d, want the newest packet's", ts)
		}
		pads = append(pads, out)
		want++
	}
	for in := uint16(0); in < 5; in++ {
		send(in)
	}
	pad()
	pad()
	send(5)
	send(6)
	pad()
	send(7)
	// A retransmission of packet 3 keeps its number.
	if out, _, ok := s.Rewrite(3, 3*3000, now); !ok || out != 103 {
		t.Fatalf("retransmitted 3: %d %v, want 103", out, ok)
	}
	for out, in := range sent {
		if got, ok := s.Reverse(out); !ok || got != in {
			t.Errorf("Reverse(%d) = %d %v, want %d", out, got, ok, in)
		}
	}
	for _, out := range pads {
		if got, ok := s.Reverse(out); ok {
			t.Errorf("Reverse of padding %d = %d", out, got)
		}
	}
	// A new epoch follows on after the padding.
	s.Pause()
	if out, _, ok := s.Rewrite(9000, 1, now.Add(time.Second)); !ok || out != want {
		t.Fatalf("next epoch starts at %d, want %d", out, want)
	}
}

// Padding in more places than are remembered: the oldest packets can no
// longer be mapped (and are not sent again), the newest still are.
func TestPadForgetsOldGaps(t *testing.T) {
	s := New(90000, WithStart(0, 0))
	now := time.Unix(1000, 0)
	for in := uint16(0); in < 2*maxGaps; in++ {
		if _, _, ok := s.Rewrite(in, 0, now); !ok {
			t.Fatal("packet refused")
		}
		s.Pad()
	}
	if _, ok := s.Reverse(0); ok {
		t.Error("the first packet still maps after its gap was dropped")
	}
	if _, _, ok := s.Rewrite(1, 0, now); ok {
		t.Error("an early packet rewritten with an unknown number")
	}
	newest := uint16(2*maxGaps - 1)
	out := uint16(newest) * 2 // each packet and its padding
	if in, ok := s.Reverse(out); !ok || in != newest {
		t.Errorf("Reverse(%d) = %d %v, want %d", out, in, ok, newest)
	}
}

// FuzzPad: with padding packets among the media, every packet that is
// newer than all before it, padding or media, takes the next sequence
// number; an earlier packet sent again keeps its number; Reverse maps
// media back and padding to nothing. Nothing panics.
func FuzzPad(f *testing.F) {
	f.Add([]byte{1, 1, 0x40, 1, 0x40, 0xff, 1, 0x80, 3})
	f.Add([]byte{0x40, 0x40, 1, 0x40, 0xfe, 0xfe, 0x40, 0x80, 0x80, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := New(90000, WithStart(65000, 0))
		now := t0
		in := uint16(500)
		type sent struct {
			in  uint16
			pad bool
		}
		outs := map[uint16]sent{}
		var newest, highest uint16
		started := false
		for _, op := range ops {
			switch {
			case op&0xc0 == 0x80: // pause: a new epoch next
				s.Pause()
				clear(outs)
				started = false
			case op&0xc0 == 0x40: // padding
				out, _, ok := s.Pad()
				if !ok {
					continue
				}
				if out != highest+1 {
					t.Fatalf("padding numbered %d after %d", out, highest)
				}
				highest = out
				outs[out] = sent{pad: true}
			default: // media: a step of -32..31 from the last
				in += uint16(int8(op<<2) >> 2)
				if d := int16(in - newest); started && (d > maxJump || d < -maxJump) {
					clear(outs) // the source restarted its numbering: a new epoch
					started = false
				}
				out, _, ok := s.Rewrite(in, 0, now)
				if !ok {
					continue
				}
				if !started || int16(in-newest) > 0 {
					if started && int16(in-newest) == 1 && out != highest+1 {
						t.Fatalf("packet %d numbered %d after %d", in, out, highest)
					}
					if !started || int16(out-highest) > 0 {
						highest = out
					}
					newest, started = in, true
				}
				if prev, seen := outs[out]; seen && (prev.pad || prev.in != in) {
					t.Fatalf("number %d given to %d, was %+v", out, in, prev)
				}
				outs[out] = sent{in: in}
			}
		}
		for out, p := range outs {
			got, ok := s.Reverse(out)
			if p.pad && ok {
				t.Fatalf("Reverse(%d) of padding = %d", out, got)
			}
			if !p.pad && ok && got != p.in {
				t.Fatalf("Reverse(%d) = %d, want %d", out, got, p.in)
			}
		}
	})
}
