package sfu

import (
	"errors"
	"io"
	"testing"

	"github.com/pion/transport/v5/packetio"
)

func TestSRTPBuffers(t *testing.T) {
	t.Parallel()
	overs := 0
	f := &srtpBuffers{declared: func() []uint32 { return []uint32{0, 5} }, over: func() { overs++ }}

	// RTCP about a declared SSRC is kept, up to rtcpBufferSize.
	kept := f.factory(packetio.RTCPBufferPacket, 5)
	pkt := make([]byte, 100)
	n := 0
	for {
		if _, err := kept.Write(pkt); err != nil {
			if !errors.Is(err, packetio.ErrFull) {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	if n*len(pkt) > rtcpBufferSize || n*len(pkt) < rtcpBufferSize/2 {
		t.Errorf("an RTCP stream kept %d bytes, want about %d", n*len(pkt), rtcpBufferSize)
	}
	if got, err := kept.Read(make([]byte, 200)); err != nil || got != len(pkt) {
		t.Errorf("Read = %d, %v", got, err)
	}

	// RTCP about another SSRC is not kept.
	dropped := f.factory(packetio.RTCPBufferPacket, 6)
	for range 1000 {
		if _, err := dropped.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	if f.live.Load() != 2 {
		t.Errorf("%d RTCP streams live, want 2", f.live.Load())
	}
	_ = dropped.Close()
	_ = dropped.Close()
	if _, err := dropped.Read(pkt); err != io.EOF {
		t.Errorf("Read of a closed discarding stream: %v", err)
	}
	_ = kept.Close()
	if f.live.Load() != 0 {
		t.Errorf("%d RTCP streams live after closing both, want 0", f.live.Load())
	}

	// RTP streams are not counted; the RTCP streams beyond the cap are,
	// and call over once.
	_ = f.factory(packetio.RTPBufferPacket, 6)
	for range maxRTCPStreams + 10 {
		_ = f.factory(packetio.RTCPBufferPacket, 7)
	}
	if overs != 1 {
		t.Errorf("over ran %d times, want once", overs)
	}
}

// TestSentSSRCs: toward a subscriber, RTCP is kept for the SSRCs of bound
// senders only; a sender that stops takes its SSRC out, so that the
// reports its receiver still sends about it are dropped, not kept until
// the PeerConnection closes.
func TestSentSSRCs(t *testing.T) {
	t.Parallel()
	var s sentSSRCs
	f := &srtpBuffers{declared: s.list}
	for _, ssrc := range []uint32{30, 10, 20, 10} {
		s.bind(ssrc, true)
	}
	if got := s.list(); len(got) != 3 || got[0] != 10 || got[1] != 20 || got[2] != 30 {
		t.Fatalf("after binding 30, 10, 20, 10: %v", got)
	}
	held := s.list()
	s.bind(20, false)
	s.bind(99, false) // never bound
	if got := s.list(); len(got) != 2 || got[0] != 10 || got[1] != 30 {
		t.Fatalf("after unbinding 20 and 99: %v", got)
	}
	if len(held) != 3 || held[1] != 20 {
		t.Errorf("a list handed out changed: %v", held)
	}
	if _, ok := f.factory(packetio.RTCPBufferPacket, 10).(*counted); !ok {
		t.Error("RTCP about a bound sender's SSRC is not kept")
	}
	if _, ok := f.factory(packetio.RTCPBufferPacket, 20).(*discard); !ok {
		t.Error("RTCP about a stopped sender's SSRC is kept")
	}
}
