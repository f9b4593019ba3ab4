package client

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// NewLoopbackAPI returns a Pion API for talking to a server on the same
// machine: loopback UDP4 host candidates only, no mDNS, no STUN or TURN,
// Pion's default codecs and default interceptors (NACK, RTCP reports,
// TWCC, stats), so the client retransmits, reports and answers PLI. Its
// ICE turns disconnected after 3 s without a packet, checked every
// second, as the server's does (Pion's defaults: 5 s, every 2 s), so that
// the client's own ICE restarts come about as soon as the server's.
func NewLoopbackAPI() (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.SetICETimeouts(3*time.Second, 25*time.Second, time.Second)
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })

	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("loopback api: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("loopback api: interceptors: %w", err)
	}
	return webrtc.NewAPI(
		webrtc.WithSettingEngine(se),
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(ir),
	), nil
}
