package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/signaling"
)

// Defaults of Options.
const (
	DefaultEventBuffer  = 256
	DefaultWriteTimeout = 5 * time.Second
	maxServerMessage    = 1 << 20 // a joined snapshot of a big room exceeds 64 KiB
	writeQueue          = 64
	handshakeTimeout    = 10 * time.Second
)

// refusalMessage is the message of a server's refusal before the upgrade
// ({"error":{"message":...}}, as Lethe's edge answers 421 and 503), or "".
// The dialer keeps at most 1 KiB of the body.
func refusalMessage(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<10)).Decode(&body) != nil {
		return ""
	}
	return body.Error.Message
}

// TypeLocalError is the Event type of a problem found by the client itself
// while handling a server message (a subscriber offer it could not apply,
// a message it could not parse); Data is the error.
const TypeLocalError = "localError"

// Log keys.
const (
	logKeyType   = "type"
	logKeyError  = "error"
	logKeyTarget = "target"
	logKeyWhy    = "why"
)

// Options configure Dial. The zero value suits a server on loopback.
type Options struct {
	// Header is sent with the WebSocket handshake (e.g. Origin).
	Header http.Header
	// API builds the PeerConnections; default a new NewLoopbackAPI().
	// Many clients in one process should share one.
	API *webrtc.API
	// Logger receives diagnostics (never SDP, tokens or user ids);
	// default discards.
	Logger *slog.Logger
	// Now reads the clock for Ping; default time.Now.
	Now func() time.Time
	// EventBuffer is the capacity of Events(); default DefaultEventBuffer.
	// Events that do not fit are dropped and counted (DroppedEvents).
	EventBuffer int
	// WriteTimeout bounds the write of one message; default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ICERestarts is how many times the client restarts the ICE of a
	// PeerConnection by itself (or asks the server to, for the
	// subscriber) before it connects again: when it has been disconnected
	// for ICERestartDelay, when it fails, and for the publisher when the
	// server asks. Default DefaultICERestarts; negative: never (RestartICE
	// still works).
	ICERestarts int
	// ICERestartDelay is how long a PeerConnection stays disconnected
	// before the client restarts it; default DefaultICERestartDelay.
	ICERestartDelay time.Duration
	// TLSConfig is used for wss:// URLs (e.g. RootCAs with a private CA);
	// nil: the system's roots.
	TLSConfig *tls.Config
	// ForceRelay makes the PeerConnections use the server's TURN relay
	// only (ICETransportPolicy relay), as a client whose network blocks
	// UDP would end up doing; it needs the iceServers of joined.
	ForceRelay bool
	// RelayTCP keeps only the relay's TCP URLs (TURN over TCP), as a
	// network that blocks all UDP leaves a client.
	RelayTCP bool
	// NoRelay leaves the server's TURN relays out: direct paths only, no
	// allocation made (a load generator measuring direct forwarding).
	NoRelay bool
}

// Event is a server message that is not the reply to a waiting request.
// Data holds the decoded body: *signaling.ParticipantInfo
// (participantJoined), *signaling.ParticipantLeft, *signaling.TrackPublished,
// *signaling.TrackUnpublished, *signaling.TrackMuted, *signaling.TrackPaused,
// *signaling.Speakers,
// *signaling.TrackLayer, *signaling.TrackLayers (a layered track's
// measured layers), *signaling.LayersWanted (already applied to the
// client's simulcast track, see PublishSimulcast), *signaling.Bye,
// *signaling.RestartICE (the server asked for, and the client has begun, a
// publisher ICE restart),
// *signaling.DataRejected (data messages the server dropped),
// *signaling.Error (ID set when it answers a request nobody waits for, such
// as the client's subscriber answer), an error (TypeLocalError), or
// json.RawMessage for types this client does not know.
type Event struct {
	Type string
	ID   uint64
	Data any
}

// Client is one participant's signaling connection and PeerConnections.
// Its methods are safe for concurrent use. Always call Close.
type Client struct {
	conn         *websocket.Conn
	api          *webrtc.API
	log          *slog.Logger
	now          func() time.Time
	writeTimeout time.Duration

	iceRestarts     int
	iceRestartDelay time.Duration
	forceRelay      bool
	relayTCP        bool

	nextID  atomic.Uint64
	writeq  chan []byte
	events  chan Event
	dropped atomic.Uint64

	pubMu     sync.Mutex // serializes publisher negotiations
	screenIDs []string   // guarded by pubMu: local track ids published as the sub-stream

	mu            sync.Mutex // guards the fields below
	pending       map[uint64]chan signaling.Envelope
	pub, sub      *peer
	onTrack       func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	participantID string
	permissions   signaling.Permissions
	iceServers    []webrtc.ICEServer         // the server's TURN relays, from joined
	noRelay       bool                       // Options.NoRelay
	trackIDs      map[string]string          // own client track id → server track id
	simulcast     map[string]*SimulcastTrack // own simulcast tracks by local track id
	bye           *signaling.Bye
	data          *dataChannels // with Join.Data (data.go)
	err           error
	closed        bool

	quit       chan struct{} // closed by Close
	done       chan struct{} // closed when the reader stops
	writerDone chan struct{}
	wg         sync.WaitGroup // every goroutine the client starts
}

// Dial connects to the signaling endpoint at url (ws://host/v1/signal, or
// wss:// when the server serves TLS).
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.NoRelay && (opts.ForceRelay || opts.RelayTCP) {
		return nil, errors.New("client: dial: NoRelay with ForceRelay or RelayTCP")
	}
	if opts.API == nil {
		api, err := NewLoopbackAPI()
		if err != nil {
			return nil, err
		}
		opts.API = api
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = DefaultEventBuffer
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.ICERestarts == 0 {
		opts.ICERestarts = DefaultICERestarts
	}
	if opts.ICERestartDelay <= 0 {
		opts.ICERestartDelay = DefaultICERestartDelay
	}
	d := websocket.Dialer{HandshakeTimeout: handshakeTimeout, TLSClientConfig: opts.TLSConfig}
	conn, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		if resp != nil {
			if msg := refusalMessage(resp); msg != "" {
				return nil, fmt.Errorf("client: dial: %w (HTTP %d: %s)", err, resp.StatusCode, msg)
			}
			return nil, fmt.Errorf("client: dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	conn.SetReadLimit(maxServerMessage)
	c := &Client{
		conn:         conn,
		api:          opts.API,
		log:          opts.Logger,
		now:          opts.Now,
		writeTimeout: opts.WriteTimeout,
		writeq:       make(chan []byte, writeQueue),
		events:       make(chan Event, opts.EventBuffer),
		pending:      make(map[uint64]chan signaling.Envelope),
		trackIDs:     make(map[string]string),
		simulcast:    make(map[string]*SimulcastTrack),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		writerDone:   make(chan struct{}),
	}
	c.iceRestarts, c.iceRestartDelay = opts.ICERestarts, opts.ICERestartDelay
	c.forceRelay, c.relayTCP, c.noRelay = opts.ForceRelay, opts.RelayTCP, opts.NoRelay
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// Events delivers server events. It is closed when the connection ends.
// A consumer that falls behind loses events, counted by DroppedEvents; it
// never stalls the connection.
func (c *Client) Events() <-chan Event { return c.events }

// DroppedEvents counts events lost because Events() was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// Done is closed when the signaling connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is up. Afterwards it is ErrClosed after
// Close, an error matching ErrBye (and, for a non-zero code,
// *signaling.CodedError) after the server's bye, or the connection error.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Request sends a message of type typ with a fresh id and waits for the
// reply with that id, which it returns. When the reply is an error message
// the error is also returned as a *signaling.CodedError.
func (c *Client) Request(ctx context.Context, typ string, data any) (signaling.Envelope, error) {
	return c.call(ctx, typ, data, nil)
}

// SendRaw sends b as one text message, unchanged.
func (c *Client) SendRaw(b []byte) error {
	return c.send(context.Background(), append([]byte(nil), b...))
}

// call is Request that runs sent after the message is queued, before the
// wait for the reply.
func (c *Client) call(ctx context.Context, typ string, data any, sent func()) (signaling.Envelope, error) {
	id := c.nextID.Add(1)
	b, err := signaling.Encode(typ, id, data)
	if err != nil {
		return signaling.Envelope{}, fmt.Errorf("client: encode %s: %w", typ, err)
	}
	ch := make(chan signaling.Envelope, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return signaling.Envelope{}, ErrClosed
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.send(ctx, b); err != nil {
		return signaling.Envelope{}, err
	}
	if sent != nil {
		sent()
	}
	select {
	case env := <-ch:
		if env.Type == signaling.TypeError {
			return env, replyError(env)
		}
		return env, nil
	case <-ctx.Done():
		return signaling.Envelope{}, ctx.Err()
	case <-c.done:
		return signaling.Envelope{}, c.Err()
	}
}

// replyError turns an error message into a *signaling.CodedError.
func replyError(env signaling.Envelope) error {
	var e signaling.Error
	if err := json.Unmarshal(env.Data, &e); err != nil {
		return fmt.Errorf("%w: undecodable error message", ErrUnexpectedReply)
	}
	return &signaling.CodedError{Code: e.Code, Detail: e.Message}
}

// send queues one message for the writer.
func (c *Client) send(ctx context.Context, b []byte) error {
	select {
	case c.writeq <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	case <-c.quit:
		return ErrClosed
	}
}

func (c *Client) sendCandidate(cand signaling.Candidate) {
	b, err := signaling.Encode(signaling.TypeCandidate, 0, cand)
	if err != nil {
		c.log.Warn("client: encode candidate", logKeyError, err)
		return
	}
	_ = c.send(context.Background(), b) // fails only once the connection is gone
}

func (c *Client) writeLoop() {
	defer c.wg.Done()
	defer close(c.writerDone)
	for {
		select {
		case b := <-c.writeq:
			// Deadlines are network time, not the injected clock.
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				c.log.Warn("client: write", logKeyError, err)
				_ = c.conn.Close() // the reader then stops too
				return
			}
		case <-c.quit:
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		case <-c.done:
			return
		}
	}
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.finish(err)
			return
		}
		var env signaling.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			c.localError(fmt.Errorf("client: server message: %w", err))
			continue
		}
		c.dispatch(env)
	}
}

// finish records why the connection ended and wakes everyone waiting.
func (c *Client) finish(cause error) {
	c.mu.Lock()
	switch {
	case c.err != nil:
	case c.closed:
		c.err = ErrClosed
	case c.bye != nil && c.bye.Code != 0:
		c.err = fmt.Errorf("%w: %w", ErrBye, &signaling.CodedError{Code: c.bye.Code, Detail: c.bye.Reason})
	case c.bye != nil:
		c.err = ErrBye
	default:
		c.err = fmt.Errorf("client: connection: %w", cause)
	}
	c.mu.Unlock()
	close(c.done)
}

// dispatch handles one server message on the reader goroutine. Nothing in
// it waits for another message or for the Events consumer.
func (c *Client) dispatch(env signaling.Envelope) {
	if env.ID != 0 {
		c.mu.Lock()
		ch, ok := c.pending[env.ID]
		delete(c.pending, env.ID)
		c.mu.Unlock()
		if ok {
			c.onReply(env)
			ch <- env // buffered; one reply per id
			return
		}
		switch env.Type {
		case signaling.TypeJoined, signaling.TypeAnswer, signaling.TypeAck, signaling.TypePong, signaling.TypeRoleSwitched:
			return // a late reply nobody waits for any more
		}
	}
	switch env.Type {
	case signaling.TypeOffer:
		if err := c.onOffer(env.Data); err != nil {
			c.localError(err)
		}
	case signaling.TypeCandidate:
		if err := c.onCandidate(env.Data); err != nil {
			c.localError(err)
		}
	case signaling.TypeRestartICE:
		c.onRestartICE(env)
	default:
		c.onEvent(env)
	}
}

func (c *Client) onEvent(env signaling.Envelope) {
	var data any
	switch env.Type {
	case signaling.TypeParticipants:
		c.onParticipants(env)
		return
	case signaling.TypeParticipantJoined, signaling.TypeParticipantUpdated:
		data = new(signaling.ParticipantInfo)
	case signaling.TypeParticipantLeft:
		data = new(signaling.ParticipantLeft)
	case signaling.TypeTrackPublished:
		data = new(signaling.TrackPublished)
	case signaling.TypeTrackUnpublished:
		data = new(signaling.TrackUnpublished)
	case signaling.TypeTrackMuted:
		data = new(signaling.TrackMuted)
	case signaling.TypeTrackPaused:
		data = new(signaling.TrackPaused)
	case signaling.TypeSpeakers:
		data = new(signaling.Speakers)
	case signaling.TypeTrackLayer:
		data = new(signaling.TrackLayer)
	case signaling.TypeTrackLayers:
		data = new(signaling.TrackLayers)
	case signaling.TypeLayersWanted:
		data = new(signaling.LayersWanted)
	case signaling.TypeBye:
		data = new(signaling.Bye)
	case signaling.TypeError:
		data = new(signaling.Error)
	case signaling.TypeDataRejected:
		data = new(signaling.DataRejected)
	default:
		c.emit(Event{Type: env.Type, ID: env.ID, Data: env.Data})
		return
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		c.localError(fmt.Errorf("client: %s: %w", env.Type, err))
		return
	}
	c.mu.Lock()
	switch d := data.(type) {
	case *signaling.TrackPublished:
		if d.Track.ParticipantID == c.participantID && d.Track.ClientTrackID != "" {
			c.trackIDs[d.Track.ClientTrackID] = d.Track.TrackID
		}
	case *signaling.TrackUnpublished:
		for k, v := range c.trackIDs {
			if v == d.TrackID && d.ParticipantID == c.participantID {
				delete(c.trackIDs, k)
				delete(c.simulcast, k)
			}
		}
	case *signaling.LayersWanted:
		if t := c.ownSimulcastLocked(d.TrackID, d.ClientTrackID); t != nil {
			t.setLayersWanted(d.Layers) // atomics only: fine under c.mu
		}
	case *signaling.Bye:
		c.bye = d
	}
	c.mu.Unlock()
	c.emit(Event{Type: env.Type, ID: env.ID, Data: data})
}

// ownSimulcastLocked finds one of this client's simulcast tracks by its
// local id or, failing that, by the server's id. The caller holds c.mu.
func (c *Client) ownSimulcastLocked(serverID, localID string) *SimulcastTrack {
	if t := c.simulcast[localID]; t != nil {
		return t
	}
	for local, id := range c.trackIDs {
		if id == serverID {
			return c.simulcast[local]
		}
	}
	return nil
}

// onParticipants emits a participants message as the events it stands
// for: participantLeft for each that left, then participantJoined, then
// participantUpdated, so a consumer sees one kind of event either way.
func (c *Client) onParticipants(env signaling.Envelope) {
	var p signaling.Participants
	if err := json.Unmarshal(env.Data, &p); err != nil {
		c.localError(fmt.Errorf("client: %s: %w", env.Type, err))
		return
	}
	for _, id := range p.Left {
		c.emit(Event{Type: signaling.TypeParticipantLeft, Data: &signaling.ParticipantLeft{ParticipantID: id}})
	}
	for i := range p.Joined {
		c.emit(Event{Type: signaling.TypeParticipantJoined, Data: &p.Joined[i]})
	}
	for i := range p.Updated {
		c.emit(Event{Type: signaling.TypeParticipantUpdated, Data: &p.Updated[i]})
	}
}

func (c *Client) localError(err error) {
	c.log.Warn("client: server message not handled", logKeyError, err)
	c.emit(Event{Type: TypeLocalError, Data: err})
}

// emit never blocks: a full channel drops the event and counts it.
func (c *Client) emit(e Event) {
	select {
	case c.events <- e:
	default:
		if c.dropped.Add(1) == 1 {
			c.log.Warn("client: events dropped: consumer too slow", logKeyType, e.Type)
		}
	}
}

// Close leaves abruptly: it closes both PeerConnections and the WebSocket
// and waits for every goroutine the client started, OnTrack handlers
// included (so a handler must not call Close). Idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	peers := []*peer{c.pub, c.sub}
	c.mu.Unlock()

	close(c.quit)
	var errs []error
	for _, p := range peers {
		if p != nil {
			if err := p.pc.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	<-c.writerDone // the close frame is out
	_ = c.conn.Close()
	c.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("client: close: %w", err)
	}
	return nil
}

// goTracked runs f on a goroutine Close waits for, unless closed.
func (c *Client) goTracked(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}
