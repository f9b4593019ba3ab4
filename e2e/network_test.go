package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/netlab"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/webrtc/v4"
)

// Tests about what crosses a network: the server on a host of its own
// (internal/netlab), behind a 1:1 NAT or a firewall that drops UDP, and
// the clients on another.

// startLabServer runs lethe serve on the lab's server host, signaling on
// every address of that host in plain HTTP (--insecure-http: as behind a
// TLS-terminating proxy), and points s.url at lab.Public.
func startLabServer(t *testing.T, lab *netlab.Lab, args ...string) *server {
	t.Helper()
	s := startServerWith(t, filepath.Join(t.TempDir(), "data"), func(a ...string) *exec.Cmd {
		return lab.Server.Command(context.Background(), lethePath, a...)
	}, nil, append([]string{"--listen", "0.0.0.0:0", "--insecure-http", "--udp-port", "0", "--allowed-hosts", lab.Public.String()}, args...)...)
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	s.url = "ws://" + net.JoinHostPort(lab.Public.String(), u.Port()) + "/v1/signal"
	return s
}

// realAPI is a Go client's API on the lab's client host: its own
// (non-loopback) addresses, UDP and TCP.
func realAPI(t *testing.T) *webrtc.API {
	t.Helper()
	api, err := client.NewAPI(client.APIConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// callThrough joins a subscriber and a publisher of marked audio and video
// to room with api, and returns once the subscriber has received both
// tracks, intact.
func callThrough(t *testing.T, s *server, api *webrtc.API, room uint32) (pub, sub *participant) {
	t.Helper()
	opts := client.Options{API: api}
	sub, err := s.tryJoin(t, joinOpts{user: "sub", room: room, client: opts})
	if err != nil {
		t.Fatalf("join sub: %v", err)
	}
	if pub, err = s.tryJoin(t, joinOpts{user: "pub", room: room, client: opts}); err != nil {
		t.Fatalf("join pub: %v", err)
	}
	publishMarked(t, pub, 1, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	readers := map[webrtc.RTPCodecType]*markerReader{}
	for len(readers) < 2 {
		select {
		case tr := <-sub.tracks:
			readers[tr.Kind()] = readMarkers(ctx, &wg, tr)
		case <-time.After(20 * time.Second):
			t.Fatalf("the subscriber received %d of 2 tracks", len(readers))
		}
	}
	if v := readers[webrtc.RTPCodecTypeVideo]; !v.await(1, true) {
		t.Fatalf("video: %s", v)
	}
	if a := readers[webrtc.RTPCodecTypeAudio]; !a.await(2, false) {
		t.Fatalf("audio: %s", a)
	}
	return pub, sub
}

// selected returns the pair p's PeerConnection toward target sends on.
func selected(t *testing.T, p *participant, target signaling.Target) *webrtc.ICECandidatePair {
	t.Helper()
	pair, err := p.SelectedCandidatePair(target)
	if err != nil || pair == nil {
		t.Fatalf("%s %s: no selected pair: %v", p.user, target, err)
	}
	return pair
}

// (a) The server is behind a 1:1 NAT, on 0.0.0.0: advertising the public
// address (--public-ip), it is reached there and only there; without it,
// its candidates name its private address, which the client cannot reach.
func TestPublicAddressBehindNAT(t *testing.T) {
	lab := netlab.Enter(t, netlab.Options{NAT: true})
	if lab == nil {
		return
	}
	leakCheck(t)
	api := realAPI(t)
	public := lab.Public.String()
	// The client is behind a NAT of its own too, as clients are: nothing
	// reaches it that it did not start (so the server's own checks toward
	// it cannot open a path that its candidates do not).
	lab.Firewall.NFT(t, fmt.Sprintf(`table ip client_nat {
	chain forward { type filter hook forward priority filter; oifname %q ct direction original drop; }
}
`, lab.Firewall.Link))

	s := startLabServer(t, lab, "--udp-host", "0.0.0.0", "--public-ip", public)
	if !strings.Contains(s.stdout.String(), "(advertised: udp "+public+":") {
		t.Errorf("the banner does not say what is advertised:\n%s", s.stdout.String())
	}
	pub, sub := callThrough(t, s, api, 7001)
	for _, m := range sub.joined.Server.Media {
		if host, _, _ := net.SplitHostPort(m.Address); host != public {
			t.Errorf("joined.server.media has %s %s, want the public address only", m.Protocol, m.Address)
		}
	}
	if len(sub.joined.Server.Media) != 2 {
		t.Errorf("joined.server.media = %+v, want udp and tcp on %s", sub.joined.Server.Media, public)
	}
	for _, c := range []struct {
		p      *participant
		target signaling.Target
	}{{pub, signaling.TargetPublisher}, {sub, signaling.TargetSubscriber}} {
		if pair := selected(t, c.p, c.target); pair.Remote.Address != public || pair.Remote.Protocol != webrtc.ICEProtocolUDP {
			t.Errorf("%s: selected pair toward %s %s, want udp %s", c.target, pair.Remote.Protocol, pair.Remote.Address, public)
		}
	}
	_ = pub.Close()
	_ = sub.Close()
	s.stop()

	// Without --public-ip: the private address only, and no connection.
	s = startLabServer(t, lab, "--udp-host", "0.0.0.0")
	p, err := s.tryJoin(t, joinOpts{user: "lost", room: 7002, client: client.Options{API: api}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.joined.Server.Media {
		if host, _, _ := net.SplitHostPort(m.Address); host != lab.Server.Addr.String() {
			t.Errorf("joined.server.media has %s %s, want the server's private address %s", m.Protocol, m.Address, lab.Server.Addr)
		}
	}
	publishMarked(t, p, 3, 4)
	// ICE checks to the private address go nowhere: nothing is selected in
	// ten seconds (on the way in, every pair succeeded in well under one).
	for range 50 {
		if pair, _ := p.SelectedCandidatePair(signaling.TargetPublisher); pair != nil {
			t.Fatalf("connected to %s %s without --public-ip", pair.Remote.Protocol, pair.Remote.Address)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pageProtocolJS is the protocol of the local candidate of a PeerConnection's
// selected pair ("" while none), through getStats.
const pageProtocolJS = `(async (pc) => {
  if (!pc) return "";
  const rep = await pc.getStats();
  for (const r of rep.values()) {
    if (r.type !== "transport" || !r.selectedCandidatePairId) continue;
    const pair = rep.get(r.selectedCandidatePairId);
    const local = pair && rep.get(pair.localCandidateId);
    return local ? local.protocol : "";
  }
  return "";
})(letheDemo.room?.%s)`

// pageProtocols waits until both of pg's PeerConnections have selected a
// pair and returns their protocols.
func pageProtocols(t *testing.T, pg *page) (pub, sub string) {
	t.Helper()
	for range 100 {
		pg.mustEval(fmt.Sprintf(pageProtocolJS, "publisherPC"), &pub)
		pg.mustEval(fmt.Sprintf(pageProtocolJS, "subscriberPC"), &sub)
		if pub != "" && sub != "" {
			return pub, sub
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: no selected pair (publisher %q, subscriber %q)", pg.name, pub, sub)
	return "", ""
}

// browserCall has two pages in a fresh room: one publishes its camera,
// the other decodes it. It returns the receiving page's protocols, and
// closes both pages.
func browserCall(t *testing.T, s *server, b *browser) (pub, sub string) {
	t.Helper()
	room := newRoomName()
	alice, aliceID := s.joinPage(t, b, "alice", room, true)
	bob, _ := s.joinPage(t, b, "bob", room, true)
	bob.waitReceiving(aliceID, 10, true, 30*time.Second)
	pub, sub = pageProtocols(t, bob)
	if p, _ := pageProtocols(t, alice); p != pub {
		t.Errorf("alice publishes over %s, bob over %s", p, pub)
	}
	alice.closePage()
	bob.closePage()
	return pub, sub
}

// (b) The firewall drops UDP: the Go client and Chromium still reach the
// server, over ICE-TCP, and exchange media. With UDP open again, fresh
// connections of the same clients take UDP.
func TestICETCPWhenUDPBlocked(t *testing.T) {
	lab := netlab.Enter(t, netlab.Options{})
	if lab == nil {
		return
	}
	leakCheck(t)
	_, err := os.Stat(chromiumPath)
	withBrowser := err == nil
	if !withBrowser && os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is missing", chromiumPath)
	}
	api := realAPI(t)
	s := startLabServer(t, lab, "--udp-host", "0.0.0.0", "--turn=false") // ICE-TCP alone: the relay would carry the call too
	var b *browser
	if withBrowser {
		// The page is on a test host's address: let it be resolved, and
		// be a secure context (getUserMedia), as HTTPS would make it.
		origin := strings.Replace(strings.TrimSuffix(s.url, "/v1/signal"), "ws://", "http://", 1)
		b = newBrowser(t, reach(t, origin)...)
	}

	check := func(want webrtc.ICEProtocol, room uint32) {
		t.Helper()
		pub, sub := callThrough(t, s, api, room)
		for _, c := range []struct {
			p      *participant
			target signaling.Target
		}{{pub, signaling.TargetPublisher}, {sub, signaling.TargetSubscriber}} {
			if pair := selected(t, c.p, c.target); pair.Local.Protocol != want {
				t.Errorf("Go client, %s: selected %s pair %s -> %s, want %s", c.target, pair.Local.Protocol,
					pair.Local.Address, pair.Remote.Address, want)
			}
		}
		_ = pub.Close()
		_ = sub.Close()
		if b == nil {
			t.Log("no Chromium: the browser half is skipped")
			return
		}
		if p, s := browserCall(t, s, b); p != want.String() || s != want.String() {
			t.Errorf("Chromium: publisher over %q, subscriber over %q, want %s", p, s, want)
		}
	}

	lab.BlockUDP(t)
	check(webrtc.ICEProtocolTCP, 7101)
	if lab.DroppedUDP(t) == 0 {
		t.Error("the firewall dropped no UDP: the clients did not try it first")
	}
	lab.AllowUDP(t)
	check(webrtc.ICEProtocolUDP, 7102)
}

// (c) Bad media addresses are refused at start with a clear error, and
// nothing is left running: no worker outlives the refusal.
func TestBadMediaAddressesRefused(t *testing.T) {
	leakCheck(t)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	_, udpPort, _ := net.SplitHostPort(udp.LocalAddr().String())
	_, tcpPort, _ := net.SplitHostPort(tcp.Addr().String())
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"public IP not an IP", []string{"--public-ip", "lethe.example"}, `--public-ip "lethe.example": not a unicast IP address`},
		{"public IP unspecified", []string{"--public-ip", "192.0.2.1,0.0.0.0"}, `--public-ip "0.0.0.0": not a unicast IP address`},
		{"media host a name", []string{"--udp-host", "localhost"}, `--udp-host "localhost": not an IP address`},
		{"include list on one address", []string{"--ice-interfaces", "eth0"}, "narrow an unspecified --udp-host"},
		{"bad prefix", []string{"--udp-host", "0.0.0.0", "--ice-ips", "10.0.0.0/33"}, `"10.0.0.0/33": not an address prefix`},
		{"UDP port in use", []string{"--udp-port", udpPort}, "media socket: listen udp4 127.0.0.1:" + udpPort},
		{"TCP port in use", []string{"--ice-tcp-port", tcpPort}, "ice-tcp listener: listen tcp4 127.0.0.1:" + tcpPort},
		// A TURN server already on the host (coturn on 3478, say).
		{"TURN port in use", []string{"--turn-port", udpPort}, "TURN socket: listen udp 127.0.0.1:" + udpPort + ": bind: address already in use"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--udp-port", "0"}, c.args...)
			out, err := exec.Command(lethePath, args...).CombinedOutput()
			if err == nil {
				t.Fatalf("serve started:\n%s", out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("serve's error does not say %q:\n%s", c.want, out)
			}
			if strings.Contains(string(out), "signaling:") {
				t.Errorf("serve printed its banner before failing:\n%s", out)
			}
			if pids := processesWith(t, dataDir); len(pids) > 0 {
				t.Errorf("processes left running with the data dir: %v", pids)
			}
		})
	}
}

// processesWith lists the processes whose command line mentions s.
func processesWith(t *testing.T, s string) []string {
	t.Helper()
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}
