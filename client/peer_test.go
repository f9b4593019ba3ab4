package client

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/signaling"
)

// TestPeerCandidateQueues checks that remote candidates wait for the remote
// description and local ones for the SDP to be sent.
func TestPeerCandidateQueues(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	api, err := NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	remote, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = remote.Close() }()
	if _, err := remote.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	var (
		rmu         sync.Mutex
		remoteCands []webrtc.ICECandidateInit
	)
	gathered := webrtc.GatheringCompletePromise(remote)
	remote.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			rmu.Lock()
			remoteCands = append(remoteCands, c.ToJSON())
			rmu.Unlock()
		}
	})
	offer, err := remote.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	rmu.Lock()
	defer rmu.Unlock()
	if len(remoteCands) == 0 {
		t.Fatal("no loopback candidates gathered")
	}
	for _, c := range remoteCands {
		if !containsLoopback(c.Candidate) {
			t.Fatalf("non-loopback candidate %q", c.Candidate)
		}
	}

	var (
		mu   sync.Mutex
		sent []signaling.Candidate
	)
	p, err := newPeer(api, webrtc.Configuration{}, signaling.TargetSubscriber, func(c signaling.Candidate) {
		mu.Lock()
		sent = append(sent, c)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.pc.Close() }()
	for i := range remoteCands {
		if err := p.addRemoteCandidate(&remoteCands[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.addRemoteCandidate(nil); err != nil {
		t.Fatal(err)
	}
	if len(p.remoteQ) != len(remoteCands) {
		t.Fatalf("%d queued, want %d", len(p.remoteQ), len(remoteCands))
	}
	if err := p.setRemote(offer); err != nil {
		t.Fatal(err)
	}
	if len(p.remoteQ) != 0 {
		t.Fatal("queue not flushed")
	}

	localGathered := webrtc.GatheringCompletePromise(p.pc)
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-localGathered
	mu.Lock()
	early := len(sent)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("%d candidates sent before the SDP", early)
	}
	p.sdpSent()
	// The end-of-candidates callback may come just after the promise.
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(sent)
		done := n > 0 && sent[n-1].Candidate == nil
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no end of candidates after %d candidates", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) < 2 {
		t.Fatalf("sent %d candidates", len(sent))
	}
	for _, c := range sent {
		if c.Target != signaling.TargetSubscriber {
			t.Fatalf("target %q", c.Target)
		}
	}
	_ = p.pc.Close()
	_ = remote.Close()
	goleak.VerifyNone(t, leaks)
}

func containsLoopback(c string) bool {
	return slices.Contains(strings.Fields(c), "127.0.0.1")
}
