package worker

import (
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/internal/turnrelay"
	"github.com/lethe-rtc/lethe/signaling"
)

// A joined carries the relay of the worker with credentials for that
// session, which work until the session ends and not after.
func TestHostRelayCredentialsLiveWithSession(t *testing.T) {
	t.Parallel()
	media, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	l, err := listenRelay(netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := turnrelay.NewSecret()
	r, err := l.start(secret, media.LocalAddr().(*net.UDPAddr).AddrPort(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join, WithRelay(r))
	h.sendFrame(t, ipc.OpOpen, 7, testOpen(70, "alice"))
	env := h.expect(t, 7, signaling.TypeJoined, 70)
	<-calls
	var joined signaling.Joined
	if err := json.Unmarshal(env.Data, &joined); err != nil {
		t.Fatal(err)
	}
	if len(joined.IceServers) != 1 {
		t.Fatalf("iceServers %+v, want one", joined.IceServers)
	}
	is := joined.IceServers[0]
	wantURLs := []string{
		"turn:127.0.0.1:" + port(l.udp.LocalAddr()) + "?transport=udp",
		"turn:127.0.0.1:" + port(l.tcp.Addr()) + "?transport=tcp",
	}
	if !slices.Equal(is.URLs, wantURLs) {
		t.Errorf("urls %q, want %q", is.URLs, wantURLs)
	}
	if !strings.HasSuffix(is.Username, ":7") || is.Credential != turnrelay.Credential(secret, is.Username) {
		t.Errorf("username %q is not expiry:7, or its credential is not the secret's", is.Username)
	}

	allocate := func() error {
		tc, err := net.Dial("tcp4", l.tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn := turn.NewSTUNConn(tc)
		defer conn.Close()
		cl, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: l.tcp.Addr().String(), TURNServerAddr: l.tcp.Addr().String(), Conn: conn,
			Username: is.Username, Password: is.Credential, Realm: turnrelay.DefaultRealm,
			LoggerFactory: &logging.DefaultLoggerFactory{DefaultLogLevel: logging.LogLevelDisabled}, RTO: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Listen(); err != nil {
			t.Fatal(err)
		}
		relayed, err := cl.Allocate()
		if err != nil {
			return err
		}
		defer relayed.Close()
		return cl.CreatePermission(media.LocalAddr())
	}
	if err := allocate(); err != nil {
		t.Fatalf("the session's credentials: %v", err)
	}
	h.request(t, 7, msg(signaling.TypeLeave, 0, nil))
	h.expectEnd(t, 7, signaling.CodeOK)
	waitUntil(t, func() bool { return r.Stats().Live == 0 }, "the session's allocations closed")
	if err := allocate(); err == nil {
		t.Fatal("the credentials of an ended session still allocate")
	}
}

func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func waitUntil(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPlanRelay(t *testing.T) {
	t.Parallel()
	locals := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}, nil
	}
	ap := netip.MustParseAddrPort
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		media   string
		public  []string
		peers   []netip.AddrPort
		aliases []turnrelay.Alias
		relayIP netip.Addr
		hosts   []netip.Addr
		err     string
	}{
		{name: "loopback", media: "127.0.0.1:7882",
			peers: []netip.AddrPort{ap("127.0.0.1:7882")}, relayIP: a("127.0.0.1"), hosts: []netip.Addr{a("127.0.0.1")}},
		{name: "one interface behind a 1:1 NAT", media: "10.0.0.5:7882", public: []string{"198.51.100.10"},
			peers:   []netip.AddrPort{ap("10.0.0.5:7882"), ap("198.51.100.10:7882")},
			aliases: []turnrelay.Alias{{Public: a("198.51.100.10"), Local: a("10.0.0.5")}},
			relayIP: a("198.51.100.10"), hosts: []netip.Addr{a("198.51.100.10")}},
		{name: "all IPv4 interfaces", media: "0.0.0.0:7882",
			peers:   []netip.AddrPort{ap("127.0.0.1:7882"), ap("10.0.0.5:7882")},
			relayIP: a("127.0.0.1"), hosts: []netip.Addr{a("10.0.0.5")}},
		{name: "every interface, and a public IPv6", media: "[::]:7882", public: []string{"2001:db8::1"},
			peers: []netip.AddrPort{ap("127.0.0.1:7882"), ap("10.0.0.5:7882"), ap("[fd00::5]:7882"), ap("[2001:db8::1]:7882")},
			// The IPv6 public address is the IPv6 local one's.
			aliases: []turnrelay.Alias{{Public: a("2001:db8::1"), Local: a("fd00::5")}},
			relayIP: a("127.0.0.1"), hosts: []netip.Addr{a("2001:db8::1")}},
		{name: "not an IP", media: "10.0.0.5:7882", public: []string{"example.com"}, err: "not an IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planRelay(ap(tc.media), tc.public, locals)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.peers, tc.peers) || !slices.Equal(p.aliases, tc.aliases) || p.relayIP != tc.relayIP || !slices.Equal(p.hosts, tc.hosts) {
				t.Errorf("plan %+v\nwant peers %v aliases %v relay %v hosts %v", p, tc.peers, tc.aliases, tc.relayIP, tc.hosts)
			}
		})
	}
}
