package rewrite

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// maxJump is the largest distance, in packets, between an input sequence
// number and the newest one of the epoch that is still taken as the same
// stream. A larger jump either way means the source restarted its
// numbering without a Pause, and starts a new epoch, rather than leaving a
// huge gap or dropping every packet until the numbering catches up.
const maxJump = 1 << 14

// maxTSStep bounds the timestamp advance at the start of an epoch, so that
// after a very long pause the new timestamp is still ahead of the old one
// when compared modulo 2^32.
const maxTSStep = 1 << 30

// Stream rewrites the sequence numbers and timestamps of one outgoing RTP
// stream. Its methods are safe for concurrent use, so that a subscriber's
// writer may call Rewrite while its RTCP reader calls Reverse.
type Stream struct {
	clockRate uint64

	mu sync.Mutex

	// Output state across epochs.
	started bool      // a packet has been sent
	outNext uint64    // extended output seq of the next epoch's first packet
	lastTS  uint32    // highest output timestamp sent (modulo 2^32)
	lastAt  time.Time // wall time of the last packet sent

	// Current epoch; valid when inEpoch.
	inEpoch  bool
	inFirst  uint16 // input seq of the epoch's first packet
	inNewest uint16 // input seq of the newest packet of the epoch
	newest   int64  // position of inNewest relative to inFirst
	outFirst uint64 // extended output seq of the epoch's first packet
	tsOffset uint32 // output timestamp minus input timestamp

	// Padding packets of the epoch (Pad): each takes an output sequence
	// number of its own after the newest packet, so later packets are
	// numbered padded more. gaps records where, for Reverse and for
	// retransmissions of earlier packets; the oldest are dropped, and
	// what came before them can no longer be mapped.
	padded uint64 // padding packets so far in the epoch
	gaps   []gap  // in order of pos; at most maxGaps
	lost   bool   // gaps were dropped: positions before gaps[0] are unknown
}

// gap says that padded packets had been inserted, in all, after the
// packet at position pos.
type gap struct {
	pos    int64
	padded uint64
}

// maxGaps bounds the places of an epoch where padding went in that are
// remembered.
const maxGaps = 64

// Option configures a Stream.
type Option func(*Stream)

// WithStart fixes the sequence number and timestamp of the first packet
// sent, instead of random ones. It is meant for tests.
func WithStart(seq uint16, ts uint32) Option {
	return func(s *Stream) {
		s.outNext = uint64(seq)
		s.lastTS = ts
	}
}

// New returns a Stream for a codec with the given RTP clock rate in Hz
// (90000 for video, 48000 for Opus). The first sequence number and
// timestamp are random, as RFC 3550 recommends, unless WithStart is given.
func New(clockRate uint32, opts ...Option) *Stream {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails, see crypto/rand.Read
	s := &Stream{
		clockRate: uint64(clockRate),
		outNext:   uint64(binary.BigEndian.Uint16(b[0:])),
		lastTS:    binary.BigEndian.Uint32(b[2:]),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Rewrite maps the sequence number and timestamp of an incoming packet to
// those to send; now is the current wall time, which the caller may read
// once per batch of packets. It returns ok=false for a packet that belongs
// before the current epoch and must not be sent. A seq more than 16384
// away from the newest of the epoch, either way, is taken as a restart of
// the source's numbering and starts a new epoch, as after Pause.
func (s *Stream) Rewrite(seq uint16, ts uint32, now time.Time) (outSeq uint16, outTS uint32, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var pos int64
	if s.inEpoch {
		pos = s.newest + int64(int16(seq-s.inNewest))
		if d := pos - s.newest; d > maxJump || d < -maxJump {
			s.end()
		}
	}
	if !s.inEpoch {
		s.begin(seq, ts, now)
		pos = 0
	}
	if pos < 0 {
		return 0, 0, false
	}
	if pos > s.newest {
		s.newest = pos
		s.inNewest = seq
	}
	extra, known := s.paddedBefore(pos)
	if !known {
		return 0, 0, false
	}
	outSeq = uint16(s.outFirst + uint64(pos) + extra)
	outTS = ts + s.tsOffset
	if int32(outTS-s.lastTS) > 0 {
		s.lastTS = outTS
	}
	s.lastAt = now
	return outSeq, outTS, true
}

// begin starts an epoch whose first packet has seq and ts.
func (s *Stream) begin(seq uint16, ts uint32, now time.Time) {
	first := s.lastTS
	if s.started {
		first += s.ticks(now.Sub(s.lastAt))
	}
	s.started = true
	s.inEpoch = true
	s.inFirst = seq
	s.inNewest = seq
	s.newest = 0
	s.outFirst = s.outNext
	s.tsOffset = first - ts
	s.lastTS = first
	s.padded, s.gaps, s.lost = 0, s.gaps[:0], false
}

// paddedBefore returns how many padding packets were numbered before the
// packet at pos, and false when that is no longer known.
func (s *Stream) paddedBefore(pos int64) (uint64, bool) {
	for i := len(s.gaps) - 1; i >= 0; i-- {
		if pos > s.gaps[i].pos {
			return s.gaps[i].padded, true
		}
	}
	return 0, !s.lost
}

// Pad returns the sequence number and timestamp of a padding-only packet
// to send now, after the newest packet of the epoch (a bandwidth probe);
// later packets are numbered after it. ok is false when no epoch has
// begun: there is nothing to pad after yet.
func (s *Stream) Pad() (outSeq uint16, outTS uint32, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inEpoch {
		return 0, 0, false
	}
	s.padded++
	if n := len(s.gaps); n > 0 && s.gaps[n-1].pos == s.newest {
		s.gaps[n-1].padded = s.padded
	} else {
		if n == maxGaps {
			copy(s.gaps, s.gaps[1:])
			s.gaps = s.gaps[:n-1]
			s.lost = true
		}
		s.gaps = append(s.gaps, gap{pos: s.newest, padded: s.padded})
	}
	return uint16(s.outFirst + uint64(s.newest) + s.padded), s.lastTS, true
}

// ticks converts a wall-clock duration to clock ticks, at least 1 and at
// most maxTSStep.
func (s *Stream) ticks(d time.Duration) uint32 {
	if d <= 0 {
		return 1
	}
	sec := uint64(d / time.Second)
	if sec >= maxTSStep {
		return maxTSStep
	}
	t := sec*s.clockRate + uint64(d%time.Second)*s.clockRate/uint64(time.Second)
	switch {
	case t < 1:
		return 1
	case t > maxTSStep:
		return maxTSStep
	}
	return uint32(t)
}

// Pause ends the current epoch: the next packet, whatever its sequence
// number, starts a new one. Call it when the source is muted, paused or
// replaced (a simulcast layer switch, another publisher).
func (s *Stream) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end()
}

// end closes the current epoch, if any.
func (s *Stream) end() {
	if s.inEpoch {
		s.outNext = s.outFirst + uint64(s.newest) + s.padded + 1
		s.inEpoch = false
	}
}

// Reverse maps an output sequence number, as named in a receiver's NACK,
// back to the input sequence number it was rewritten from. It returns
// ok=false if outSeq was not sent in the current epoch: it belongs to an
// earlier epoch (whose source may be gone), is not sent yet, or the stream
// is paused.
func (s *Stream) Reverse(outSeq uint16) (inSeq uint16, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inEpoch {
		return 0, false
	}
	// The distance from the newest packet's output number, then the
	// position it stands for, segment by segment back through the gaps.
	newestOut := s.outFirst + uint64(s.newest) + s.padded
	d := s.newest + int64(s.padded) + int64(int16(outSeq-uint16(newestOut)))
	for i := len(s.gaps); i >= 0; i-- {
		padded, lo := uint64(0), int64(-1)
		if i > 0 {
			padded, lo = s.gaps[i-1].padded, s.gaps[i-1].pos
		} else if s.lost {
			return 0, false
		}
		pos := d - int64(padded)
		hi := s.newest
		if i < len(s.gaps) {
			hi = s.gaps[i].pos
		}
		switch {
		case pos > hi:
			return 0, false // a padding packet's number
		case pos > lo:
			if pos < 0 {
				return 0, false
			}
			return s.inFirst + uint16(pos), true
		}
	}
	return 0, false
}
