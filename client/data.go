package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/internal/datamsg"
	"github.com/lethe-rtc/lethe/signaling"
)

// Data messages (docs/protocol.md 3.12): a client that joins with
// signaling.Join.Data gets two data channels on its subscriber
// PeerConnection, negotiated with the server's ids, reliable (ordered)
// and lossy (unordered, never retransmitted). SendData frames a payload
// and sends it to the room or to named participants; OnData hears what
// the others send. Refusals come as events of type
// signaling.TypeDataRejected (*signaling.DataRejected).

// Errors of SendData.
var (
	ErrNoData        = errors.New("client: the join did not ask for data channels (signaling.Join.Data)")
	ErrDataTooLarge  = errors.New("client: data message over the server's size limit")
	ErrDataNotOpen   = errors.New("client: data channels not open")
	ErrDataMalformed = errors.New("client: data message cannot be framed")
)

// DataOptions say how SendData sends one message.
type DataOptions struct {
	Lossy bool     // unordered, never retransmitted: may be lost, never corrupted
	To    []string // participant ids (at most 16); none: the whole room
	Topic string   // at most 64 bytes of UTF-8, for the application
	Text  bool     // the payload is UTF-8 text (a string for a browser)
}

// DataMessage is a data message from another participant.
type DataMessage struct {
	From    string // its sender's participant id, as the server set it
	Topic   string
	Payload []byte // the handler's to keep
	Text    bool
	Private bool // addressed to this participant by name
	Lossy   bool // came on the lossy channel
}

// dataBufferHigh is the send buffer above which a reliable SendData waits
// for it to drain to dataBufferLow: the server drops messages to a
// receiver whose buffer is full, so a sender must not run far ahead.
const (
	dataBufferHigh = 1 << 20
	dataBufferLow  = 256 << 10
)

// dataChannels are the client's two data channels.
type dataChannels struct {
	open chan struct{} // closed once both are open

	mu     sync.Mutex
	ch     [2]*webrtc.DataChannel
	opened int
	info   *signaling.DataInfo // from joined
	onData func(DataMessage)
	low    chan struct{} // signalled when the reliable buffer drains
	pace   [2]pacer      // reliable sends: messages, bytes (joined's rates)
}

// pacer keeps reliable sends within one of the server's rates: a token
// bucket a little slower and shallower than the server's (9/10 of the
// rate, half a second deep), so that jitter on the way does not make the
// server refuse what the client let through. A zero rate is no limit.
type pacer struct {
	rate   float64 // per second
	tokens float64
	last   time.Time
}

// need fills the bucket up to now and reports how long to wait before it
// holds n (0: it does).
func (p *pacer) need(now time.Time, n float64) time.Duration {
	if p.rate <= 0 {
		return 0
	}
	depth := max(p.rate/2, n)
	if p.last.IsZero() {
		p.tokens = depth
	} else if now.After(p.last) {
		p.tokens = min(depth, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	if now.After(p.last) {
		p.last = now
	}
	if p.tokens >= n {
		return 0
	}
	return time.Duration((n - p.tokens) / p.rate * float64(time.Second))
}

func (p *pacer) take(n float64) {
	if p.rate > 0 {
		p.tokens -= n
	}
}

// enableData makes the subscriber PeerConnection, once made, carry data
// channels.
func (c *Client) enableData() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data == nil {
		c.data = &dataChannels{open: make(chan struct{}), low: make(chan struct{}, 1)}
	}
}

// setDataInfo records what joined says of data messages.
func (c *Client) setDataInfo(info *signaling.DataInfo) {
	c.mu.Lock()
	d := c.data
	c.mu.Unlock()
	if d != nil && info != nil {
		d.mu.Lock()
		d.info = info
		d.pace[0].rate = 0.9 * float64(info.MessageRate)
		d.pace[1].rate = 0.9 * float64(info.ByteRate)
		d.mu.Unlock()
	}
}

// OnData sets the handler of data messages. It runs on the channel's
// reader, one message at a time in the order they came: it must return
// quickly.
func (c *Client) OnData(f func(DataMessage)) {
	c.enableData()
	c.mu.Lock()
	d := c.data
	c.mu.Unlock()
	d.mu.Lock()
	d.onData = f
	d.mu.Unlock()
}

// attachData creates the negotiated data channels on p, the subscriber
// PeerConnection being made. Called with c.mu held.
func (c *Client) attachDataLocked(p *peer) error {
	d := c.data
	if d == nil {
		return nil
	}
	negotiated, unordered, none := true, false, uint16(0)
	ids := [2]uint16{signaling.DataReliableID, signaling.DataLossyID}
	inits := [2]webrtc.DataChannelInit{
		{Negotiated: &negotiated, ID: &ids[0]},
		{Negotiated: &negotiated, ID: &ids[1], Ordered: &unordered, MaxRetransmits: &none},
	}
	labels := [2]string{signaling.DataReliableLabel, signaling.DataLossyLabel}
	for mode := range inits {
		dc, err := p.pc.CreateDataChannel(labels[mode], &inits[mode])
		if err != nil {
			return fmt.Errorf("client: data channel: %w", err)
		}
		lossy := mode == 1
		dc.OnOpen(func() {
			d.mu.Lock()
			d.opened++
			if d.opened == 2 {
				close(d.open)
			}
			d.mu.Unlock()
		})
		dc.OnMessage(func(m webrtc.DataChannelMessage) { d.receive(m.Data, lossy) })
		if !lossy {
			dc.SetBufferedAmountLowThreshold(dataBufferLow)
			dc.OnBufferedAmountLow(func() {
				select {
				case d.low <- struct{}{}:
				default:
				}
			})
		}
		d.ch[mode] = dc
	}
	return nil
}

func (d *dataChannels) receive(frame []byte, lossy bool) {
	var m datamsg.Message
	if datamsg.Parse(frame, &m) != nil {
		return // not the server's framing: nothing to hand on
	}
	d.mu.Lock()
	f := d.onData
	d.mu.Unlock()
	if f == nil {
		return
	}
	f(DataMessage{
		From: string(m.Sender), Topic: string(m.Topic), Payload: append([]byte(nil), m.Payload...),
		Text: m.Text(), Private: m.Private(), Lossy: lossy,
	})
}

// WaitData returns once the data channels are open.
func (c *Client) WaitData(ctx context.Context) error {
	c.mu.Lock()
	d := c.data
	c.mu.Unlock()
	if d == nil {
		return ErrNoData
	}
	select {
	case <-d.open:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrDataNotOpen, ctx.Err())
	case <-c.done:
		return ErrClosed
	}
}

// SendData sends payload to the room, or to opts.To, once the data
// channels are open. A reliable message waits, until ctx ends, for the
// participant's rates (joined's data) to allow it and for the channel's
// send buffer to drain below 1 MiB; a lossy one never waits. A message
// the server refuses (its rates, the grant) is dropped there and reported
// as a signaling.TypeDataRejected event.
func (c *Client) SendData(ctx context.Context, payload []byte, opts DataOptions) error {
	if err := c.WaitData(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	d := c.data
	c.mu.Unlock()
	d.mu.Lock()
	info := d.info
	d.mu.Unlock()
	if info != nil && info.MaxMessage > 0 && len(payload) > info.MaxMessage {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrDataTooLarge, len(payload), info.MaxMessage)
	}
	var flags byte
	if opts.Text {
		flags |= datamsg.FlagText
	}
	frame, err := datamsg.AppendSend(make([]byte, 0, datamsg.MaxHeader+len(payload)), flags, opts.Topic, opts.To, payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataMalformed, err)
	}
	mode := 0
	if opts.Lossy {
		mode = 1
	}
	dc := d.ch[mode]
	if !opts.Lossy {
		if err := c.pace(ctx, d, len(payload)); err != nil {
			return err
		}
	}
	for !opts.Lossy && dc.BufferedAmount() > dataBufferHigh {
		select {
		case <-d.low:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		}
	}
	if err := dc.Send(frame); err != nil {
		return fmt.Errorf("client: send data: %w", err)
	}
	return nil
}

// pace waits until a reliable message of size bytes fits both rates.
func (c *Client) pace(ctx context.Context, d *dataChannels, size int) error {
	for {
		d.mu.Lock()
		now := c.now()
		wait := max(d.pace[0].need(now, 1), d.pace[1].need(now, float64(size)))
		if wait == 0 {
			d.pace[0].take(1)
			d.pace[1].take(float64(size))
		}
		d.mu.Unlock()
		if wait == 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.done:
			t.Stop()
			return ErrClosed
		}
	}
}
