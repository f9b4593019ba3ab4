package verify

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/lethe-rtc/lethe/signaling"
)

const (
	joinTimeout       = 15 * time.Second
	tracksTimeout     = 15 * time.Second
	leaveTimeout      = 2 * time.Second
	keyframeInterval  = 2 * time.Second
	publishersPerRoom = 2
)

// Video codecs of the rooms, in turn: VP8 only, H.264 only, both.
var roomCodecs = [][publishersPerRoom]string{{"vp8", "vp8"}, {"h264", "h264"}, {"vp8", "h264"}}

// Media counts what one volume run sent and received.
type Media struct {
	Rooms        int `json:"rooms"`
	Participants int `json:"participants"`
	// Tracks published, and tracks the participants received.
	Tracks         int `json:"tracks"`
	TracksReceived int `json:"tracksReceived"`
	// SentBytes are payload bytes the sources wrote; ReceivedBytes and
	// ReceivedPackets what came back through the server.
	SentBytes       uint64 `json:"sentBytes"`
	ReceivedBytes   uint64 `json:"receivedBytes"`
	ReceivedPackets uint64 `json:"receivedPackets"`
	// CanaryPackets are received payloads in which the Matcher found the
	// canary: the media the server handled did carry it.
	CanaryPackets uint64 `json:"canaryPackets"`
	// With E2EE: frames the participants decrypted, those in which the
	// canary was found (the media did carry it, end to end), and those
	// that did not decrypt.
	DecryptedFrames uint64 `json:"decryptedFrames,omitempty"`
	CanaryFrames    uint64 `json:"canaryFrames,omitempty"`
	DecryptFailures uint64 `json:"decryptFailures,omitempty"`
	// Screen says whether the sub-stream (screen share) was driven too.
	Screen string `json:"screen"`
}

// screenPublisher is a client that can publish a sub-stream; the client
// package does not offer it yet, and the verifier uses it once it does.
type screenPublisher interface {
	PublishScreen(ctx context.Context, tracks ...webrtc.TrackLocal) error
}

// receiver counts what one participant receives.
type receiver struct {
	tracks                 atomic.Int64
	packets, bytes, canary atomic.Uint64
	frames, canaryFrames   atomic.Uint64 // E2EE: decrypted
	failed                 atomic.Uint64 // E2EE: frames that did not decrypt
}

type participant struct {
	c      *client.Client
	tracks []*client.Track
	recv   receiver
	want   int // tracks it should receive
}

// session is the participants of one volume run.
type session struct {
	api    *webrtc.API
	m      *Matcher
	fill   []byte
	video  int
	audio  int
	parts  []*participant
	cancel context.CancelFunc
	srcCtx context.Context
	screen string
	plans  []roomPlan
	ring   *e2ee.Ring // E2EE on: the room secret, which the server never has
}

// roomPlan is one room of a run.
type roomPlan struct {
	id     uint32
	codecs [publishersPerRoom]string
	users  []string
	tokens []string
}

// randomRoom returns a random non-zero numeric room id.
func randomRoom() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint32(b[:]) & 0x7fffffff; id != 0 {
			return id
		}
	}
}

// randomUser returns prefix and a random suffix: a fresh user id.
func randomUser(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// planRooms lays out n rooms with fresh ids and users, and mints their
// tokens. With E2EE every room is VP8 only (H.264 has no E2EE layout).
func planRooms(ctx context.Context, srv *server, n int, e2eeOn bool) ([]roomPlan, error) {
	plans := make([]roomPlan, n)
	for i := range plans {
		p := &plans[i]
		p.id = randomRoom()
		p.codecs = roomCodecs[i%len(roomCodecs)]
		if e2eeOn {
			p.codecs = [publishersPerRoom]string{"vp8", "vp8"}
		}
		for range publishersPerRoom {
			u := randomUser("verify")
			tok, err := srv.token(ctx, u)
			if err != nil {
				return nil, err
			}
			p.users, p.tokens = append(p.users, u), append(p.tokens, tok)
		}
	}
	return plans, nil
}

func newSession(api *webrtc.API, m *Matcher, fill []byte, video, audio int, plans []roomPlan, ring *e2ee.Ring) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{api: api, m: m, fill: fill, video: video, audio: audio, plans: plans, ring: ring,
		srcCtx: ctx, cancel: cancel, screen: "not driven: the client cannot publish a sub-stream"}
}

// start joins every participant, publishes and starts their media, and
// waits until each receives the others' tracks.
func (s *session) start(ctx context.Context, srv *server) error {
	for _, plan := range s.plans {
		for i, u := range plan.users {
			p, err := s.join(ctx, srv, plan.id, u, plan.tokens[i])
			if err != nil {
				return err
			}
			p.want = 2 * (publishersPerRoom - 1)
			if err := s.publish(ctx, p, plan.codecs[i], u); err != nil {
				return err
			}
			if i == 0 {
				if err := s.publishScreen(ctx, p, u); err != nil {
					return err
				}
			}
		}
	}
	deadline := time.Now().Add(tracksTimeout)
	for _, p := range s.parts {
		for p.recv.tracks.Load() < int64(p.want) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: a participant received %d of %d tracks within %s",
					ErrServer, p.recv.tracks.Load(), p.want, tracksTimeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func (s *session) join(ctx context.Context, srv *server, room uint32, user, tok string) (*participant, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	c, err := client.Dial(ctx, srv.url, client.Options{API: s.api})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServer, err)
	}
	p := &participant{c: c}
	s.parts = append(s.parts, p)
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.recv.tracks.Add(1)
		fr := s.frameReader(tr, &p.recv)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				if fr != nil {
					p.recv.failed.Add(fr.Stats().Failed)
				}
				return
			}
			p.recv.packets.Add(1)
			p.recv.bytes.Add(uint64(len(pkt.Payload)))
			if s.m.Contains(pkt.Payload) {
				p.recv.canary.Add(1)
			}
			if fr != nil {
				fr.Push(pkt)
			}
		}
	})
	if _, err := c.Join(ctx, signaling.Join{SDKAppID: srv.appID, UserID: user, UserSig: tok, RoomID: room}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServer, err)
	}
	return p, nil
}

// publish sends a video track of the codec and an Opus track, both
// filled with the canary.
func (s *session) publish(ctx context.Context, p *participant, codec, user string) error {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	newVideo := client.NewVP8Track
	if codec == "h264" {
		newVideo = client.NewH264Track
	}
	enc := s.encryptor(p)
	vopts := client.SourceOptions{Bitrate: s.video, Fill: s.fill, KeyframeInterval: keyframeInterval, E2EE: enc}
	v, err := newVideo("video-"+user, "stream-"+user, vopts)
	if err != nil {
		return err
	}
	a, err := client.NewOpusTrack("audio-"+user, "stream-"+user, client.SourceOptions{Bitrate: s.audio, Fill: s.fill, E2EE: enc})
	if err != nil {
		return err
	}
	if err := p.c.Publish(ctx, v, a); err != nil {
		return fmt.Errorf("%w: %w", ErrServer, err)
	}
	p.tracks = append(p.tracks, v, a)
	v.Start(s.srcCtx)
	a.Start(s.srcCtx)
	return nil
}

// publishScreen adds a VP8 sub-stream filled with the canary, where the
// client can publish one.
func (s *session) publishScreen(ctx context.Context, p *participant, user string) error {
	sp, ok := any(p.c).(screenPublisher)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	t, err := client.NewVP8Track("screen-"+user, "screen-"+user,
		client.SourceOptions{Bitrate: s.video, Fill: s.fill, KeyframeInterval: keyframeInterval, E2EE: s.encryptor(p)})
	if err != nil {
		return err
	}
	if err := sp.PublishScreen(ctx, t); err != nil {
		return fmt.Errorf("%w: screen: %w", ErrServer, err)
	}
	p.tracks = append(p.tracks, t)
	t.Start(s.srcCtx)
	s.screen = "driven"
	return nil
}

// stop ends the media and the participants, and returns the counts.
func (s *session) stop() Media {
	s.cancel()
	for _, p := range s.parts {
		for _, t := range p.tracks {
			_ = t.Close()
		}
	}
	for _, p := range s.parts {
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		_ = p.c.Leave(ctx)
		cancel()
		_ = p.c.Close()
	}
	m := Media{Rooms: len(s.plans), Participants: len(s.parts), Screen: s.screen}
	for _, p := range s.parts {
		m.Tracks += len(p.tracks)
		for _, t := range p.tracks {
			m.SentBytes += t.Stats().Bytes
		}
		m.TracksReceived += int(p.recv.tracks.Load())
		m.ReceivedBytes += p.recv.bytes.Load()
		m.ReceivedPackets += p.recv.packets.Load()
		m.CanaryPackets += p.recv.canary.Load()
		m.DecryptedFrames += p.recv.frames.Load()
		m.CanaryFrames += p.recv.canaryFrames.Load()
		m.DecryptFailures += p.recv.failed.Load()
	}
	return m
}
