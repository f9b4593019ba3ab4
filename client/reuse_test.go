package client_test

import (
	"context"
	"fmt"
	"github.com/lethe-rtc/lethe/internal/latetrack"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// reuseServer is a signaling server whose subscriber PeerConnection the
// test drives directly: it offers what the test puts on it, as Lethe's SFU
// does when tracks come and go (protocol 3.3).
type reuseServer struct {
	t        *testing.T
	srv      *httptest.Server
	url      string
	sub      *webrtc.PeerConnection
	answered chan struct{}

	wmu  sync.Mutex
	conn *websocket.Conn
	done chan struct{} // the session ended
}

func newReuseServer(t *testing.T) *reuseServer {
	t.Helper()
	api, err := client.NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	s := &reuseServer{t: t, answered: make(chan struct{}, 1), done: make(chan struct{})}
	if s.sub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	s.sub.OnICECandidate(func(c *webrtc.ICECandidate) {
		var init *webrtc.ICECandidateInit
		if c != nil {
			i := c.ToJSON()
			init = &i
		}
		s.send(signaling.TypeCandidate, 0, signaling.Candidate{Target: signaling.TargetSubscriber, Candidate: init})
	})
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.url = "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v1/signal"
	return s
}

func (s *reuseServer) close() {
	_ = s.sub.Close()
	s.srv.Close()
	<-s.done
}

func (s *reuseServer) send(typ string, id uint64, data any) {
	b, err := signaling.Encode(typ, id, data)
	if err != nil {
		s.t.Errorf("encode: %v", err)
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.conn != nil {
		_ = s.conn.WriteMessage(websocket.TextMessage, b)
	}
}

func (s *reuseServer) serve(w http.ResponseWriter, r *http.Request) {
	defer close(s.done)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	s.wmu.Lock()
	s.conn = conn
	s.wmu.Unlock()
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return
		}
		req, err := signaling.DecodeRequest(b)
		if err != nil {
			continue
		}
		switch body := req.Body.(type) {
		case *signaling.Join:
			s.send(signaling.TypeJoined, req.ID, signaling.Joined{ParticipantID: "PA_me",
				Room: signaling.RoomInfo{RoomID: body.RoomID, Participants: []signaling.ParticipantInfo{}}})
		case *signaling.SDP:
			if err := s.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body.SDP}); err != nil {
				s.t.Errorf("subscriber answer: %v", err)
			}
			s.send(signaling.TypeAck, req.ID, nil)
			s.answered <- struct{}{}
		case *signaling.Candidate:
			if body.Candidate != nil {
				_ = s.sub.AddICECandidate(*body.Candidate)
			}
		}
	}
}

// offer sends an offer of the subscriber PeerConnection as it now is and
// waits for the client's answer to be applied.
func (s *reuseServer) offer() {
	s.t.Helper()
	offer, err := s.sub.CreateOffer(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.sub.SetLocalDescription(offer); err != nil {
		s.t.Fatal(err)
	}
	s.send(signaling.TypeOffer, 0, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer.SDP})
	select {
	case <-s.answered:
	case <-time.After(10 * time.Second):
		s.t.Fatal("the client did not answer")
	}
}

// TestReusedMSection: the server removes a track, offers the m-section
// inactive twice (the SFU does whenever something else changes meanwhile),
// then sends a new track on it (same mid, new msid, new SSRC). The client
// must fire OnTrack for the new track and deliver its packets, every time,
// for audio and video alike.
func TestReusedMSection(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	s := newReuseServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type got struct {
		tr *webrtc.TrackRemote
		ch *client.Checker
	}
	var (
		mu      sync.Mutex
		tracks  = map[string]got{} // by track id
		readers sync.WaitGroup
	)
	c := dial(t, ctx, s.url, client.Options{})
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ch := client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
		mu.Lock()
		tracks[tr.ID()] = got{tr, ch}
		mu.Unlock()
		readers.Add(1)
		defer readers.Done()
		_ = ch.Run(ctx, tr)
	})
	join(t, ctx, c)

	// receives waits until the track with the given id carried 25 packets
	// with valid markers of a single stream.
	receives := func(id string) bool {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			g, ok := tracks[id]
			mu.Unlock()
			if ok {
				if st := g.ch.Stats(); st.Packets-st.BadMarkers >= 25 {
					return st.BadMarkers == 0 && st.Streams == 1
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	newTrack := func(kind string, n int) *client.Track {
		id, opts := fmt.Sprintf("TR_%s%d", kind, n), client.SourceOptions{MarkerStream: uint32(n + 1)}
		var tr *client.Track
		var err error
		if kind == "video" {
			tr, err = client.NewVP8Track(id, "PA_other", opts)
		} else {
			tr, err = client.NewOpusTrack(id, "PA_other", opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}

	const cycles = 4
	var senders []*webrtc.RTPSender
	var sources []*client.Track
	defer func() {
		for _, tr := range sources {
			tr.Close()
		}
	}()
	for n := range cycles {
		for i, kind := range []string{"audio", "video"} {
			tr := newTrack(kind, n)
			sources = append(sources, tr)
			if n == 0 { // sendonly, as the SFU's
				x, err := s.sub.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
				if err != nil {
					t.Fatal(err)
				}
				senders = append(senders, x.Sender())
			} else { // Pion's AddTrack takes the inactive transceiver
				sender, err := s.sub.AddTrack(tr)
				if err != nil {
					t.Fatal(err)
				}
				senders[i] = sender
			}
			s.offer()
			tr.Start(ctx)
		}
		if k := len(s.sub.GetTransceivers()); k != 2 {
			t.Fatalf("cycle %d: the server has %d transceivers, want its 2 reused", n, k)
		}
		for _, kind := range []string{"audio", "video"} {
			if id := fmt.Sprintf("TR_%s%d", kind, n); !receives(id) {
				t.Errorf("cycle %d: the client did not receive %s", n, id)
			}
		}
		for _, sender := range senders {
			if err := s.sub.RemoveTrack(sender); err != nil {
				t.Fatal(err)
			}
		}
		s.offer() // both m-sections turn inactive
		s.offer() // and stay so
	}
	mu.Lock()
	if len(tracks) != 2*cycles {
		t.Errorf("OnTrack fired for %d tracks, want %d", len(tracks), 2*cycles)
	}
	mu.Unlock()

	cancel()
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	readers.Wait()
	s.close()
	goleak.VerifyNone(t, leaks)
}

// TestLatePacketOfRemovedTrack: a packet of a removed track that arrives
// after the offer removing it was applied comes on an SSRC that offer no
// longer declares, and Pion makes up a track for it (on a new transceiver
// without a mid). The client must not hand such a track to OnTrack; the
// next real track on the m-section still arrives.
func TestLatePacketOfRemovedTrack(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	s := newReuseServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var (
		mu     sync.Mutex
		ids    []string
		reader sync.WaitGroup
	)
	c := dial(t, ctx, s.url, client.Options{})
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		mu.Lock()
		ids = append(ids, tr.ID())
		mu.Unlock()
		reader.Add(1)
		defer reader.Done()
		_ = client.NewChecker(client.CheckerOptions{}).Run(ctx, tr)
	})
	join(t, ctx, c)
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ids)
	}
	waitTracks := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(seen()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("OnTrack for %v, want %d tracks", seen(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first, err := client.NewOpusTrack("TR_first", "PA_other", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	late := latetrack.New(first)
	x, err := s.sub.AddTransceiverFromTrack(late, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	s.offer()
	first.Start(ctx)
	waitTracks(1)

	if err := s.sub.RemoveTrack(x.Sender()); err != nil {
		t.Fatal(err)
	}
	first.Close()
	s.offer() // the client no longer expects the first track's SSRC
	for seq := range uint16(5) {
		payload := make([]byte, 100)
		if err := client.PutMarker(payload, client.Marker{StreamID: 99, Seq: uint32(seq), SendTime: time.Now().UnixNano()}); err != nil {
			t.Fatal(err)
		}
		if err := late.WriteLate(1000+seq, payload); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if got := seen(); len(got) != 1 {
		t.Errorf("OnTrack fired for %q, want only TR_first: a late packet became a track", got)
	}

	second, err := client.NewOpusTrack("TR_second", "PA_other", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := s.sub.AddTrack(second); err != nil {
		t.Fatal(err)
	}
	s.offer()
	second.Start(ctx)
	waitTracks(2)
	if got := seen(); !slices.Contains(got, "TR_second") {
		t.Errorf("OnTrack fired for %q, want TR_second among them", got)
	}

	cancel()
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	reader.Wait()
	s.close()
	goleak.VerifyNone(t, leaks)
}
