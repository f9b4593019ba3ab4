package sfu_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// lossyConn is the SFU's media socket with a deterministic loss of video
// RTP in one direction: every 15th packet of the first video stream seen
// (RTP of more than 300 bytes), each sequence number at most once, so
// that its retransmission gets through.
type lossyConn struct {
	net.PacketConn
	dropOut, dropIn bool
	n, dropped      atomic.Int64

	mu      sync.Mutex
	primary uint32
	gone    map[uint16]bool
}

func (c *lossyConn) drop(b []byte) bool {
	if len(b) <= 300 || b[0]>>6 != 2 || (b[1]&0x7f >= 64 && b[1]&0x7f <= 95) {
		return false // not video RTP
	}
	ssrc, seq := binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint16(b[2:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.primary == 0 {
		c.primary, c.gone = ssrc, make(map[uint16]bool)
	}
	if ssrc != c.primary || c.gone[seq] || c.n.Add(1)%15 != 0 {
		return false
	}
	c.gone[seq] = true
	c.dropped.Add(1)
	return true
}

func (c *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.dropOut && c.drop(b) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.dropIn || !c.drop(b[:n]) {
			return n, addr, err
		}
	}
}

// publisherAPI is the client API plus transport-wide sequence numbers on
// what it sends, as browsers do, so that the SFU has TWCC to answer.
func publisherAPI(t *testing.T) *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// Packets lost between the SFU and a subscriber are recovered from the
// SFU's cache (NACK → retransmission); packets lost between a publisher
// and the SFU are asked for again by the SFU (NACK toward the publisher).
// Either way the subscriber ends up with every packet. The publisher also
// gets receiver reports and TWCC feedback from the SFU.
func TestLossRecovery(t *testing.T) {
	for _, tc := range []struct {
		name            string
		dropOut, dropIn bool
	}{
		{"SFU to subscriber", true, false},
		{"publisher to SFU", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			var conn *lossyConn
			s, api, stop := startSFU(t, func(udp *net.UDPConn) net.PacketConn {
				conn = &lossyConn{PacketConn: udp, dropOut: tc.dropOut, dropIn: tc.dropIn}
				return conn
			})
			defer stop()
			sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia})
			defer sub.shutdown()
			pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
			defer pub.shutdown()

			video, err := client.NewVP8Track("cam", "stream", client.SourceOptions{Bitrate: 1_000_000})
			if err != nil {
				t.Fatal(err)
			}
			defer video.Close()
			pub.publish(publisherAPI(t), video)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			video.Start(ctx)

			var id string
			waitFor(t, "TrackPublished", func() bool {
				return sub.ev.with(func(r *recorder) bool {
					if len(r.published) > 0 {
						id = r.published[0].ID
					}
					return id != ""
				})
			})
			waitFor(t, "media", func() bool { rx := sub.track(id); return rx != nil && rx.count() > 300 })
			waitFor(t, "losses", func() bool { return conn.dropped.Load() >= 10 })
			cancel() // stop sending; let the last repairs arrive (slowly on a loaded machine)
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if sub.track(id).checker.Stats().Lost == 0 {
					break
				}
			}

			st := sub.track(id).checker.Stats()
			// Loss toward the subscriber is repaired from the SFU's own cache:
			// nothing may remain. Loss from the publisher is repaired by the
			// publisher answering the SFU's NACKs; Pion's publisher now and
			// then leaves one of ~20 unanswered (seen in about one run in
			// seven), so that case allows one in ten — without upstream
			// NACKs every drop would remain.
			allowed := uint64(0)
			if tc.dropIn {
				allowed = uint64(conn.dropped.Load()) / 10
			}
			if st.Lost > allowed || st.BadMarkers != 0 {
				t.Errorf("subscriber: %d lost (allowed %d), %d bad markers after %d drops; stats %+v",
					st.Lost, allowed, st.BadMarkers, conn.dropped.Load(), s.Stats())
			}
			sst := s.Stats()
			if tc.dropOut && (sst.NACKsIn == 0 || sst.Retransmitted == 0) {
				t.Errorf("no NACKs answered from the cache: %+v", sst)
			}
			for _, typ := range []string{"*rtcp.ReceiverReport", "*rtcp.TransportLayerCC"} {
				if _, ok := pub.rtcpIn.Load(typ); !ok {
					t.Errorf("publisher never received %s", typ)
				}
			}
			if _, ok := pub.rtcpIn.Load("*rtcp.TransportLayerNack"); tc.dropIn && !ok {
				t.Error("the SFU never NACKed the publisher")
			}
			t.Logf("dropped %d, stats %+v", conn.dropped.Load(), sst)
		})
	}
}
