package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/lethe-rtc/lethe/signaling"
)

// An observer stays in a room while publishers come in turn: each joins,
// publishes audio and video, and goes, by leave or by losing its
// signaling connection; half of them come back (same user) as the next
// publisher. Every publisher's tracks reuse the m-sections that the last
// one's left on the observer's subscriber PeerConnection (protocol 3.3);
// the observer must receive each round's audio and video, told apart by
// the markers of the synthetic sources.
func TestObserverThroughPublisherTurnover(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	const room = 21
	obs := s.join(t, "observer", room, "")
	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		readers.Wait()
	})

	const rounds = 24
	var gotVideo, gotAudio int
	var uid string
	for i := range rounds {
		how := "leave"
		if i%2 == 0 {
			how = "drop" // and the same user rejoins next round
			uid = "pub" + fmt.Sprint(i/2) + "-" + rand.Text()[:10]
		}
		var proxy *dropProxy
		url := s.url
		if how == "drop" {
			proxy = newDropProxy(t, s.url)
			url = proxy.url
		}
		pub := joinAs(t, s, url, uid, room)
		video, audio := publishMarked(t, pub, uint32(1000+i), uint32(2000+i))

		// The observer's two new tracks, from this publisher.
		var vr, ar *markerReader
		deadline := time.After(10 * time.Second)
	wait:
		for vr == nil || ar == nil {
			select {
			case tr := <-obs.tracks:
				if tr.StreamID() != pub.ParticipantID() {
					t.Errorf("round %d: a track of %s arrived, want %s's", i, tr.StreamID(), pub.ParticipantID())
					continue
				}
				r := readMarkers(ctx, &readers, tr)
				if tr.Kind() == webrtc.RTPCodecTypeVideo {
					vr = r
				} else {
					ar = r
				}
			case <-deadline:
				break wait
			}
		}
		okV := vr != nil && vr.await(video.MarkerStream(), true)
		okA := ar != nil && ar.await(audio.MarkerStream(), false)
		if okV {
			gotVideo++
		}
		if okA {
			gotAudio++
		}
		if !okV || !okA {
			t.Errorf("round %d (%s): video %s; audio %s", i, how, vr, ar)
		}

		switch how {
		case "leave":
			if err := pub.Leave(ctxT(t, 5*time.Second)); err != nil {
				t.Fatalf("round %d: leave: %v", i, err)
			}
		case "drop":
			proxy.drop() // its PeerConnections stay open until it is closed
		}
		for range 2 {
			waitEvent(t, obs.Client, signaling.TypeTrackUnpublished, 15*time.Second, func(e client.Event) bool {
				return e.Data.(*signaling.TrackUnpublished).ParticipantID == pub.ParticipantID()
			})
		}
		for _, r := range []*markerReader{vr, ar} {
			if r == nil {
				continue
			}
			select {
			case <-r.done: // the observer's renegotiation ended it
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: the observer's track of the gone publisher did not end", i)
			}
		}
		_ = pub.Close()
	}
	t.Logf("the observer received video in %d of %d rounds, audio in %d", gotVideo, rounds, gotAudio)
}

// joinAs joins uid to room through url (the server's, or a proxy's).
func joinAs(t *testing.T, s *server, url, uid string, room uint32) *participant {
	t.Helper()
	c, err := client.Dial(ctxT(t, 10*time.Second), url, client.Options{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Join(ctxT(t, 10*time.Second), signaling.Join{
		SDKAppID: s.appID, UserID: uid, UserSig: s.token(uid), RoomID: room,
	}); err != nil {
		t.Fatalf("join %s: %v", uid, err)
	}
	return &participant{Client: c, uid: uid}
}

// publishMarked publishes a VP8 and an Opus track with the given marker
// stream ids, closed with the test.
func publishMarked(t *testing.T, p *participant, videoStream, audioStream uint32) (video, audio *client.Track) {
	t.Helper()
	video, err := client.NewVP8Track("cam", "stream", client.SourceOptions{MarkerStream: videoStream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = video.Close() })
	audio, err = client.NewOpusTrack("mic", "stream", client.SourceOptions{MarkerStream: audioStream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = audio.Close() })
	if err := p.Publish(ctxT(t, 10*time.Second), video, audio); err != nil {
		t.Fatalf("publish: %v", err)
	}
	video.Start(context.Background())
	audio.Start(context.Background())
	return video, audio
}

// markerReader reads a remote track until it ends, counting packets by
// marker stream id.
type markerReader struct {
	done chan struct{} // closed when the track has ended

	mu        sync.Mutex
	streams   map[uint32]int
	bad       int  // payloads without a valid marker
	firstKey  bool // the first packet starts a VP8 keyframe
	packets   int
	readError error
}

func readMarkers(ctx context.Context, wg *sync.WaitGroup, tr *webrtc.TrackRemote) *markerReader {
	r := &markerReader{done: make(chan struct{}), streams: make(map[uint32]int)}
	stop := context.AfterFunc(ctx, func() { _ = tr.SetReadDeadline(time.Unix(1, 0)) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop()
		defer close(r.done)
		var p rtp.Packet
		for {
			if err := readRTP(tr, &p); err != nil {
				if !errors.Is(err, io.EOF) {
					r.mu.Lock()
					r.readError = err
					r.mu.Unlock()
				}
				return
			}
			m, ok := client.ParseMarker(p.Payload)
			r.mu.Lock()
			if r.packets == 0 {
				r.firstKey = keyframe.VP8(p.Payload)
			}
			r.packets++
			if ok {
				r.streams[m.StreamID]++
			} else {
				r.bad++
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// await waits until the track carried enoughPackets of stream, and reports
// whether it did, with nothing but that stream, and for video starting
// at a keyframe.
func (r *markerReader) await(stream uint32, video bool) bool {
	const enoughPackets = 25
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n, others, bad, key := r.streams[stream], len(r.streams), r.bad, r.firstKey
		r.mu.Unlock()
		if n >= enoughPackets {
			return others == 1 && bad == 0 && (key || !video)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (r *markerReader) String() string {
	if r == nil {
		return "no track (OnTrack never fired)"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d packets, by marker stream %v, %d bad markers, first a keyframe: %v, read error: %v",
		r.packets, r.streams, r.bad, r.firstKey, r.readError)
}

// dropProxy relays one WebSocket connection to the server and can cut it
// without a close handshake, as a lost network does: the server sees the
// connection fail while the client's PeerConnections are still up.
type dropProxy struct {
	url string
	ln  net.Listener

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	addr := strings.TrimPrefix(target, "ws://")
	host, path, _ := strings.Cut(addr, "/")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{url: "ws://" + ln.Addr().String() + "/" + path, ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", host)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(out, in); out.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() {
		p.drop()
		p.wg.Wait()
	})
	return p
}

// drop cuts every relayed connection at once, with a reset.
func (p *dropProxy) drop() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
	p.conns = nil
}
