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
