package sfu

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/internal/datamsg"
	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
)

// Data messages (docs/protocol.md 3.12). A participant that joins with
// ParticipantConfig.Data gets two data channels on its subscriber
// PeerConnection, the one the SFU offers and every participant has
// (anchor or audience): the SFU creates them, negotiated (no DCEP round
// trip), and the client creates the same two with the same ids. The
// subscriber PeerConnection is renegotiated on every track change and ICE
// restart, which keep its DTLS and so its SCTP association; the m-section
// of the data channels stays in every later offer.
//
// Each channel has one reader goroutine, reading in place from Pion's
// detached channel (no goroutine or allocation per message of Pion's
// callbacks). A message is checked (grant, framing, size, the sender's
// rates, its room's rate), given the sender's participant id, and written
// to every receiver's channel of the same mode, skipping a receiver whose
// SCTP send buffer already holds DataConfig.ReceiverBuffer: a slow
// receiver loses messages (counted, DataStats), it never holds memory
// without bound nor slows the sender or the others. Nothing of a message
// is logged, kept or queued beyond Pion's SCTP send buffer.

// The two data channels, by SCTP stream id and label.
const (
	DataReliableID    uint16 = 0
	DataLossyID       uint16 = 1
	DataReliableLabel        = "lethe-reliable" // ordered, retransmitted
	DataLossyLabel           = "lethe-lossy"    // unordered, never retransmitted
)

const (
	modeReliable = iota
	modeLossy
	nModes
)

// Errors a sender hears of its refused data messages (DataEvents).
var (
	ErrDataTooLarge    = errors.New("sfu: data message over the size limit")
	ErrDataRate        = errors.New("sfu: data messages beyond the participant's rate")
	ErrDataRoomRate    = errors.New("sfu: data messages beyond the room's rate")
	ErrDataNotAllowed  = errors.New("sfu: the participant may not send data messages")
	ErrDataMalformed   = errors.New("sfu: data message malformed")
	ErrDataUnknownPeer = errors.New("sfu: data message addressed to a participant not in the room")
)

// dataReasons are the refusals, in the order of dataPeer.notices.
var dataReasons = [...]error{ErrDataTooLarge, ErrDataRate, ErrDataRoomRate, ErrDataNotAllowed, ErrDataMalformed, ErrDataUnknownPeer}

// DataEvents is what an Events implementation also implements to hear
// that data messages its participant sent were refused: at once for the
// first of each reason, then at most once a second per reason, dropped
// counting the refusals since the last call (this one included). Never
// with the message's content.
type DataEvents interface {
	DataRejected(reason error, dropped int)
}

// dataNoticeInterval is the least time between two DataRejected calls of
// one reason for one participant.
const dataNoticeInterval = time.Second

// DataConfig limits data messages (docs/protocol.md 3.12): the most
// payload bytes of one message (default 16384, at most MaxDataMessage);
// what one participant may send per second, in messages (default 50) and
// payload bytes (default 256 KiB), and all of a room's participants
// together in payload bytes (default 1 MiB), each over one second (a
// second's worth in a burst); a negative rate lifts it. A receiver whose
// SCTP send buffer on a channel holds ReceiverBuffer bytes (default 2 MiB)
// loses the messages relayed to it meanwhile: one that carries the room's
// rate never does, as long as the buffer holds more than a second of it.
type DataConfig struct {
	MaxMessage     int
	MessageRate    int
	ByteRate       int
	RoomByteRate   int
	ReceiverBuffer int
}

// MaxDataMessage is the highest DataConfig.MaxMessage.
const MaxDataMessage = 65536

// SetDefaults gives the zero fields of c their defaults.
func (c *DataConfig) SetDefaults() {
	for _, f := range []struct {
		v   *int
		def int
	}{{&c.MaxMessage, 16384}, {&c.MessageRate, 50}, {&c.ByteRate, 256 << 10}, {&c.RoomByteRate, 1 << 20}, {&c.ReceiverBuffer, 2 << 20}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
}

// Validate reports limits that cannot work.
func (c *DataConfig) Validate() error {
	switch {
	case c.MaxMessage < 1 || c.MaxMessage > MaxDataMessage:
		return errors.New("sfu: config: Data.MaxMessage must be 1..65536 bytes")
	case c.ReceiverBuffer < 1:
		return errors.New("sfu: config: Data.ReceiverBuffer must be positive")
	}
	return nil
}

// DataStats counts data messages since the SFU started.
type DataStats struct {
	Received  uint64 // accepted from senders
	Delivered uint64 // written to a receiver's channel
	// Messages not written to a receiver: its SCTP send buffer was full
	// (a slow receiver), its channel was not open yet, or Pion's write
	// failed (the receiver is leaving).
	DroppedSlow, DroppedNotOpen, DroppedWriteError uint64
	// Messages refused from their senders, by reason.
	RejectedTooLarge, RejectedRate, RejectedRoomRate, RejectedNotAllowed, RejectedMalformed, RejectedUnknownPeer uint64
}

type dataCounters struct {
	received, delivered, slow, notOpen, writeError atomic.Uint64
	rejected                                       [len(dataReasons)]atomic.Uint64
}

// DataStats returns the data message counters.
func (s *SFU) DataStats() DataStats { return s.data.stats() }

func (c *dataCounters) stats() DataStats {
	return DataStats{
		Received: c.received.Load(), Delivered: c.delivered.Load(),
		DroppedSlow: c.slow.Load(), DroppedNotOpen: c.notOpen.Load(), DroppedWriteError: c.writeError.Load(),
		RejectedTooLarge: c.rejected[0].Load(), RejectedRate: c.rejected[1].Load(), RejectedRoomRate: c.rejected[2].Load(),
		RejectedNotAllowed: c.rejected[3].Load(), RejectedMalformed: c.rejected[4].Load(), RejectedUnknownPeer: c.rejected[5].Load(),
	}
}

// dataWriter is a receiver's open channel, as the relay uses it: Pion's
// detached channel and its send buffer.
type dataWriter interface {
	WriteDataChannel(p []byte, isString bool) (int, error)
	BufferedAmount() uint64
}

type dataOut struct{ w dataWriter }

// pionChannel is an open channel of Pion's.
type pionChannel struct {
	datachannel.ReadWriteCloser
	dc *webrtc.DataChannel
}

func (c pionChannel) BufferedAmount() uint64 { return c.dc.BufferedAmount() }

// dataLimits are the SFU's limits on data messages.
type dataLimits struct {
	maxMessage     int
	receiverBuffer uint64
	now            func() time.Time
}

// dataRoom is a room's participants with data channels, a copy-on-write
// list read once per message, and the room's rate.
type dataRoom struct {
	peers atomic.Pointer[[]*dataPeer]

	mu    sync.Mutex // guards the list's changes and bytes
	bytes bucket
}

func (r *dataRoom) add(d *dataPeer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d.gone || d.listed {
		return
	}
	d.listed = true
	var old []*dataPeer
	if p := r.peers.Load(); p != nil {
		old = *p
	}
	next := make([]*dataPeer, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	r.peers.Store(&next)
}

func (r *dataRoom) remove(d *dataPeer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.gone = true
	p := r.peers.Load()
	if p == nil || !d.listed {
		return
	}
	next := make([]*dataPeer, 0, len(*p))
	for _, o := range *p {
		if o != d {
			next = append(next, o)
		}
	}
	r.peers.Store(&next)
}

// takeBytes takes n bytes of the room's rate at now, if it holds them.
func (r *dataRoom) takeBytes(now int64, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes.take(now, int64(n))
}

// dataPeer is one participant's data channels and what limits its
// sending.
type dataPeer struct {
	id       string
	send     bool      // its grant: may send
	room     *dataRoom // set, under its Participant's mu, when a channel first opens
	lim      *dataLimits
	counters *dataCounters
	ev       DataEvents // nil: its Events hears nothing of refusals

	dc  [nModes]*webrtc.DataChannel
	out [nModes]atomic.Pointer[dataOut] // set when the channel opens

	mu      sync.Mutex // guards the buckets and notices
	msgs    bucket
	bytes   bucket
	notices [len(dataReasons)]struct {
		last    int64 // unix nanoseconds of the last notice; 0: none
		pending int   // refusals since
	}

	// guarded by room.mu
	listed, gone bool
}

// dataSettings sets a subscriber template's SCTP up for data messages:
// detached channels, and the largest message a client may send the
// SFU, a frame's header and payload at most, as a=max-message-size.
func dataSettings(se *webrtc.SettingEngine, cfg *Config) {
	se.DetachDataChannels()
	se.SetSCTPMaxMessageSize(uint32(cfg.Data.MaxMessage + datamsg.MaxHeader))
}

// openData creates p's two negotiated data channels on its subscriber
// PeerConnection; they open once the client has answered an offer that
// carries them and SCTP has connected.
func (p *Participant) openData() error {
	d := &dataPeer{
		id: p.id, send: !p.cfg.DataDenied, lim: &p.s.dataLim, counters: &p.s.data,
		msgs: newBucket(p.s.cfg.Data.MessageRate), bytes: newBucket(p.s.cfg.Data.ByteRate),
	}
	d.ev, _ = p.ev.(DataEvents)
	negotiated, ordered, none := true, false, uint16(0)
	inits := [nModes]struct {
		label string
		init  webrtc.DataChannelInit
	}{
		{DataReliableLabel, webrtc.DataChannelInit{Negotiated: &negotiated, ID: ptr(DataReliableID)}},
		{DataLossyLabel, webrtc.DataChannelInit{Negotiated: &negotiated, ID: ptr(DataLossyID), Ordered: &ordered, MaxRetransmits: &none}},
	}
	for mode, c := range inits {
		dc, err := p.sub.CreateDataChannel(c.label, &c.init)
		if err != nil {
			return err
		}
		d.dc[mode] = dc
		dc.OnOpen(func() { p.dataOpened(d, mode, dc) })
	}
	p.data = d
	return nil
}

func ptr[T any](v T) *T { return &v }

// dataOpened starts reading a channel that has opened, unless p has
// closed.
func (p *Participant) dataOpened(d *dataPeer, mode int, dc *webrtc.DataChannel) {
	rw, err := dc.Detach()
	if err != nil {
		return
	}
	// Under mu, so that p cannot close in between: the reader is counted
	// in the SFU's wait group while p's own count is still held.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = rw.Close()
		return
	}
	d.out[mode].Store(&dataOut{pionChannel{rw, dc}})
	if d.room == nil { // the first channel to open; the reader of the other reads it
		d.room = &p.room.data
	}
	d.room.add(d)
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		d.readLoop(mode, rw)
	}()
}

// closeData takes p out of its room's data list. Its channels close with
// its subscriber PeerConnection, which ends their readers.
func (p *Participant) closeData() {
	if p.data == nil {
		return
	}
	p.mu.Lock()
	r := p.data.room
	p.mu.Unlock()
	if r != nil {
		r.remove(p.data)
	}
}

// drainBuffers hold a message that does not fit a reader's buffer, to
// drop it: as large as SCTP's receive buffer, which bounds a message.
var drainBuffers = sync.Pool{New: func() any { b := make([]byte, sctpReceiveBuffer); return &b }}

// sctpReceiveBuffer is Pion's SCTP receive buffer (pion/sctp
// initialRecvBufSize), the most a reassembled message can hold.
const sctpReceiveBuffer = 1024 * 1024

// readLoop relays what one channel brings until it closes.
func (d *dataPeer) readLoop(mode int, rw datachannel.ReadWriteCloser) {
	buf := make([]byte, d.lim.maxMessage+datamsg.MaxHeader)
	out := make([]byte, 0, len(buf))
	for {
		n, _, err := rw.ReadDataChannel(buf)
		if errors.Is(err, io.ErrShortBuffer) {
			// Larger than a client may send (a=max-message-size): read
			// whole and dropped, or, if even that fails, the channel is
			// closed.
			big := drainBuffers.Get().(*[]byte)
			_, _, err = rw.ReadDataChannel(*big)
			drainBuffers.Put(big)
			if err != nil {
				_ = rw.Close()
				return
			}
			d.reject(ErrDataTooLarge)
			continue
		}
		if err != nil {
			return
		}
		out = d.relay(mode, buf[:n], out)
	}
}

// relay checks one frame from d and writes it to its receivers; it
// returns out, the buffer it framed into, for the next.
func (d *dataPeer) relay(mode int, frame, out []byte) []byte {
	if !d.send {
		d.reject(ErrDataNotAllowed)
		return out
	}
	var m datamsg.Message
	if datamsg.Parse(frame, &m) != nil || len(m.Sender) != 0 || m.Private() {
		d.reject(ErrDataMalformed)
		return out
	}
	if len(m.Payload) > d.lim.maxMessage {
		d.reject(ErrDataTooLarge)
		return out
	}
	now := d.lim.now().UnixNano()
	d.mu.Lock()
	ok := d.msgs.has(now, 1) && d.bytes.has(now, int64(len(m.Payload)))
	if ok {
		d.msgs.take(now, 1)
		d.bytes.take(now, int64(len(m.Payload)))
	}
	d.mu.Unlock()
	if !ok {
		d.reject(ErrDataRate)
		return out
	}
	if !d.room.takeBytes(now, len(m.Payload)) {
		d.reject(ErrDataRoomRate)
		return out
	}
	d.counters.received.Add(1)
	flags := m.Flags
	if m.NTo > 0 {
		flags |= datamsg.FlagPrivate
	}
	out = datamsg.AppendRelay(out[:0], flags, d.id, m.Topic, m.Payload)
	var found uint32
	if peers := d.room.peers.Load(); peers != nil {
		for _, r := range *peers {
			if r == d {
				continue
			}
			if m.NTo > 0 {
				i := m.ToIndex(r.id)
				if i < 0 {
					continue
				}
				found |= 1 << i
			}
			d.deliver(r, mode, out)
		}
	}
	if m.NTo > 0 && found != 1<<m.NTo-1 {
		d.reject(ErrDataUnknownPeer)
	}
	return out
}

// deliver writes frame to r's channel of mode, unless r cannot take it.
func (d *dataPeer) deliver(r *dataPeer, mode int, frame []byte) {
	o := r.out[mode].Load()
	switch {
	case o == nil:
		d.counters.notOpen.Add(1)
	case o.w.BufferedAmount() >= d.lim.receiverBuffer:
		d.counters.slow.Add(1)
	default:
		if _, err := o.w.WriteDataChannel(frame, false); err != nil {
			d.counters.writeError.Add(1)
			return
		}
		d.counters.delivered.Add(1)
	}
}

// reject counts a refused message and tells d's participant, at once for
// the first of its reason, then at most once per dataNoticeInterval.
func (d *dataPeer) reject(reason error) {
	i := 0
	for i < len(dataReasons)-1 && dataReasons[i] != reason {
		i++
	}
	d.counters.rejected[i].Add(1)
	if d.ev == nil {
		return
	}
	now := d.lim.now().UnixNano()
	d.mu.Lock()
	n := &d.notices[i]
	n.pending++
	due := n.last == 0 || now-n.last >= int64(dataNoticeInterval)
	dropped := n.pending
	if due {
		n.last, n.pending = now, 0
	}
	d.mu.Unlock()
	if due {
		d.ev.DataRejected(reason, dropped)
	}
}

// DataLimits are the limits on one participant's data messages, for its
// client: payload bytes of one message, messages and payload bytes it
// may send per second (0: no limit).
type DataLimits struct {
	MaxMessage, MessageRate, ByteRate int
}

// DataLimits returns the limits on p's data messages.
func (p *Participant) DataLimits() DataLimits {
	c := &p.s.cfg
	return DataLimits{MaxMessage: c.Data.MaxMessage, MessageRate: max(c.Data.MessageRate, 0), ByteRate: max(c.Data.ByteRate, 0)}
}
