package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// fakeServer speaks just enough of the signaling protocol for the client's
// tests: join, publisher offer/answer through a real Pion PeerConnection,
// and every received track forwarded back on a server-offered subscriber
// PeerConnection. Its candidates are sent as soon as they are gathered, so
// some reach the client before the description they belong to.
type fakeServer struct {
	t   *testing.T
	api *webrtc.API
	srv *httptest.Server
	URL string

	// FloodEvents is how many participantJoined events follow joined.
	FloodEvents int
	// AfterJoined are messages (type and data) sent right after joined.
	AfterJoined []fakeMessage
	// ICEServers are the TURN relays joined names.
	ICEServers []signaling.ICEServer
	// OnTrackSettings answers trackSettings: an error code (0: ack) and
	// messages sent after the reply.
	OnTrackSettings func(signaling.TrackSettings) (signaling.Code, []fakeMessage)

	sessions sync.WaitGroup
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	api, err := client.NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, api: api}
	s.srv = httptest.NewServer(s) // listens on 127.0.0.1:0
	s.URL = "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v1/signal"
	return s
}

// Close stops the server and waits for its sessions.
func (s *fakeServer) Close() {
	s.srv.Close()
	s.sessions.Wait()
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/signal" || r.Header.Get("Origin") == "" {
		http.Error(w, "no", http.StatusForbidden)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.sessions.Add(1)
	defer s.sessions.Done()
	sess := &fakeSession{
		s:         s,
		conn:      conn,
		negotiate: make(chan *webrtc.TrackLocalStaticRTP, 8),
		answered:  make(chan struct{}, 1),
		closing:   make(chan struct{}),
		connected: make(chan struct{}),
	}
	sess.run()
}

// fakeMessage is a server message a fakeServer sends.
type fakeMessage struct {
	typ  string
	data any
}

type fakeSession struct {
	s    *fakeServer
	conn *websocket.Conn
	wmu  sync.Mutex

	pub, sub  *webrtc.PeerConnection
	negotiate chan *webrtc.TrackLocalStaticRTP
	answered  chan struct{}
	closing   chan struct{}
	connected chan struct{} // closed when the subscriber PC connects

	mu     sync.Mutex
	closed bool
	tracks int
	wg     sync.WaitGroup
}

func (f *fakeSession) send(typ string, id uint64, data any) {
	b, err := signaling.Encode(typ, id, data)
	if err != nil {
		f.s.t.Errorf("fake server: encode: %v", err)
		return
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_ = f.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = f.conn.WriteMessage(websocket.TextMessage, b)
}

// goTracked starts f unless the session is closing.
func (f *fakeSession) goTracked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

func (f *fakeSession) run() {
	defer f.shutdown()
	for {
		_, b, err := f.conn.ReadMessage()
		if err != nil {
			return
		}
		req, err := signaling.DecodeRequest(b)
		if err != nil {
			var ce *signaling.CodedError
			if errors.As(err, &ce) {
				f.send(signaling.TypeError, req.ID, signaling.Error{Code: ce.Code, Message: ce.Detail})
			}
			continue
		}
		if !f.handle(req) {
			return
		}
	}
}

func (f *fakeSession) handle(req signaling.Request) bool {
	switch body := req.Body.(type) {
	case *signaling.Join:
		if body.UserSig == "bad" {
			f.send(signaling.TypeError, req.ID, signaling.Error{Code: signaling.CodeTokenSignature, Message: "no"})
			return true
		}
		if err := f.setup(); err != nil {
			f.send(signaling.TypeError, req.ID, signaling.Error{Code: signaling.CodeInternal})
			return true
		}
		f.send(signaling.TypeJoined, req.ID, signaling.Joined{
			ParticipantID: "P1",
			Room:          signaling.RoomInfo{RoomID: body.RoomID, Participants: []signaling.ParticipantInfo{}},
			Server:        signaling.ServerInfo{Version: "fake", Enforced: true},
			IceServers:    f.s.ICEServers,
		})
		for _, m := range f.s.AfterJoined {
			f.send(m.typ, 0, m.data)
		}
		for i := range f.s.FloodEvents {
			f.send(signaling.TypeParticipantJoined, 0, signaling.ParticipantInfo{ParticipantID: fmt.Sprint("X", i)})
		}
	case *signaling.SDP:
		if req.Type == signaling.TypeOffer && body.Target == signaling.TargetPublisher && f.pub != nil {
			answer, err := answerOffer(f.pub, body.SDP)
			if err != nil {
				f.send(signaling.TypeError, req.ID, signaling.Error{Code: signaling.CodeBadSDP})
				return true
			}
			f.send(signaling.TypeAnswer, req.ID, signaling.SDP{Target: signaling.TargetPublisher, SDP: answer})
			return true
		}
		if req.Type == signaling.TypeAnswer && body.Target == signaling.TargetSubscriber && f.sub != nil {
			err := f.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body.SDP})
			if err != nil {
				f.send(signaling.TypeError, req.ID, signaling.Error{Code: signaling.CodeBadSDP})
				return true
			}
			f.send(signaling.TypeAck, req.ID, nil)
			select {
			case f.answered <- struct{}{}:
			default:
			}
			return true
		}
		f.send(signaling.TypeError, req.ID, signaling.Error{Code: signaling.CodeWrongState})
	case *signaling.TrackSettings:
		var code signaling.Code
		var after []fakeMessage
		if f.s.OnTrackSettings != nil {
			code, after = f.s.OnTrackSettings(*body)
		}
		if code != 0 {
			f.send(signaling.TypeError, req.ID, signaling.Error{Code: code, Message: "unknown track"})
		} else {
			f.send(signaling.TypeAck, req.ID, nil)
		}
		for _, m := range after {
			f.send(m.typ, 0, m.data)
		}
	case *signaling.Mute:
		if body.TrackID == "drop-connection" {
			return false // gone without a bye
		}
		f.send(signaling.TypeAck, req.ID, nil)
	case *signaling.Candidate:
		pc := f.pub
		if body.Target == signaling.TargetSubscriber {
			pc = f.sub
		}
		if pc != nil && body.Candidate != nil {
			if err := pc.AddICECandidate(*body.Candidate); err != nil {
				f.s.t.Errorf("fake server: %s candidate: %v", body.Target, err)
			}
		}
	default:
		switch req.Type {
		case signaling.TypePing:
			f.send(signaling.TypePong, req.ID, nil)
		case signaling.TypeLeave:
			f.send(signaling.TypeBye, 0, signaling.Bye{Reason: "left"})
			f.wmu.Lock()
			_ = f.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			f.wmu.Unlock()
			return false
		default: // subscribe, unsubscribe, mute
			f.send(signaling.TypeAck, req.ID, nil)
		}
	}
	return true
}

func answerOffer(pc *webrtc.PeerConnection, sdp string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	return answer.SDP, nil
}

func (f *fakeSession) setup() error {
	var err error
	if f.pub, err = f.s.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return err
	}
	if f.sub, err = f.s.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return err
	}
	for target, pc := range map[signaling.Target]*webrtc.PeerConnection{
		signaling.TargetPublisher: f.pub, signaling.TargetSubscriber: f.sub,
	} {
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			var init *webrtc.ICECandidateInit
			if c != nil {
				i := c.ToJSON()
				init = &i
			}
			f.send(signaling.TypeCandidate, 0, signaling.Candidate{Target: target, Candidate: init})
		})
	}
	var once sync.Once
	f.sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(f.connected) })
		}
	})
	f.pub.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		f.goTracked(func() { f.forward(remote) })
	})
	f.goTracked(f.renegotiate)
	return nil
}

// forward announces a received track, queues it for the subscriber PC and
// copies its packets there.
func (f *fakeSession) forward(remote *webrtc.TrackRemote) {
	f.mu.Lock()
	f.tracks++
	id := fmt.Sprint("T", f.tracks)
	f.mu.Unlock()
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, id, "P1")
	if err != nil {
		f.s.t.Errorf("fake server: local track: %v", err)
		return
	}
	f.send(signaling.TypeTrackPublished, 0, signaling.TrackPublished{Track: signaling.TrackInfo{
		TrackID: id, ParticipantID: "P1", Kind: remote.Kind().String(),
		Codec: remote.Codec().MimeType, ClientTrackID: remote.ID(),
	}})
	select {
	case f.negotiate <- local:
	case <-f.closing:
		return
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		if _, err := local.Write(buf[:n]); err != nil {
			return
		}
	}
}

// renegotiate adds each new track to the subscriber PC with a fresh offer,
// one at a time, then asks the publisher for a keyframe once the
// subscriber is connected, as an SFU does for a new subscriber.
func (f *fakeSession) renegotiate() {
	for {
		var local *webrtc.TrackLocalStaticRTP
		select {
		case local = <-f.negotiate:
		case <-f.closing:
			return
		}
		sender, err := f.sub.AddTrack(local)
		if err != nil {
			f.s.t.Errorf("fake server: add track: %v", err)
			return
		}
		f.goTracked(func() {
			for {
				if _, _, err := sender.ReadRTCP(); err != nil {
					return
				}
			}
		})
		offer, err := f.sub.CreateOffer(nil)
		if err == nil {
			err = f.sub.SetLocalDescription(offer)
		}
		if err != nil {
			f.s.t.Errorf("fake server: subscriber offer: %v", err)
			return
		}
		f.send(signaling.TypeOffer, 0, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer.SDP})
		for _, wait := range []<-chan struct{}{f.answered, f.connected} {
			select {
			case <-wait:
			case <-f.closing:
				return
			}
		}
		if local.Kind() == webrtc.RTPCodecTypeVideo {
			for _, r := range f.pub.GetReceivers() {
				if t := r.Track(); t != nil && t.Kind() == webrtc.RTPCodecTypeVideo {
					_ = f.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
				}
			}
		}
	}
}

func (f *fakeSession) shutdown() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	close(f.closing)
	for _, pc := range []*webrtc.PeerConnection{f.pub, f.sub} {
		if pc != nil {
			_ = pc.Close()
		}
	}
	_ = f.conn.Close()
	f.wg.Wait()
}

// mustJSON is for test failure messages.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
