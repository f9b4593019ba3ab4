package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/netlab"
	"github.com/lethe-rtc/lethe/internal/turnrelay"
	"github.com/lethe-rtc/lethe/signaling"
)

// The TURN relay of the real server: clients that must (or are made to)
// go through it exchange media, and the path they use is a relay.

// TestTURNForcedRelayLoopback: two Go clients forced onto the relay, over
// loopback, publish and receive; every PeerConnection's selected local
// candidate is a relay candidate, and the relay's credentials came in
// joined.
func TestTURNForcedRelayLoopback(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	relayCall(t, s, client.Options{ForceRelay: true}, webrtc.ICECandidateTypeRelay)
	// NoRelay (loadtest's direct runs): the relay left out, a host path.
	relayCall(t, s, client.Options{NoRelay: true}, webrtc.ICECandidateTypeHost)
	if _, err := client.Dial(context.Background(), s.url, client.Options{NoRelay: true, ForceRelay: true}); err == nil {
		t.Error("Dial took NoRelay with ForceRelay")
	}
}

// TestTURNThroughUDPBlock: the client host's UDP toward the server is
// dropped by the firewall host between them. With forced relay the Go
// client reaches the relay over TCP and media flows through it; with UDP
// open again, the same client without forced relay takes a direct host
// path over UDP, though the relay is on offer.
func TestTURNThroughUDPBlock(t *testing.T) {
	lab := netlab.Enter(t, netlab.Options{})
	if lab == nil {
		return
	}
	leakCheck(t)
	s := startLabServer(t, lab, "--udp-host", lab.Server.Addr.String())
	api := labAPI(t)

	lab.BlockUDP(t)
	relayCall(t, s, client.Options{API: api, ForceRelay: true}, webrtc.ICECandidateTypeRelay)
	if lab.DroppedUDP(t) == 0 {
		t.Error("the firewall dropped no UDP: the block was not in the way")
	}

	lab.AllowUDP(t)
	relayCall(t, s, client.Options{API: api}, webrtc.ICECandidateTypeHost)
}

// relayCall joins a publisher and a subscriber with opts, checks media
// by marker at the subscriber, and that both clients' PeerConnections
// selected a local candidate of type want (over UDP for a host one).
func relayCall(t *testing.T, s *server, opts client.Options, want webrtc.ICECandidateType) {
	t.Helper()
	room := uint32(4000 + time.Now().UnixNano()%1000)
	pub, err := s.tryJoin(t, joinOpts{user: "turnpub", room: room, client: opts})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.tryJoin(t, joinOpts{user: "turnsub", room: room, client: opts})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*participant{pub, sub} {
		if len(p.joined.IceServers) == 0 || len(p.joined.IceServers[0].URLs) == 0 || p.joined.IceServers[0].Credential == "" {
			t.Fatalf("%s's joined has no TURN server: %+v", p.user, p.joined.IceServers)
		}
	}
	pub.publishAV(t, false, client.SourceOptions{})
	ch := sub.firstVideo(t)
	for deadline := time.Now().Add(20 * time.Second); ch.Stats().Packets < 50; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber got %d video packets", ch.Stats().Packets)
		}
	}
	if st := ch.Stats(); st.BadMarkers != 0 || st.Streams != 1 {
		t.Errorf("video: %d bad markers, %d marker streams", st.BadMarkers, st.Streams)
	}
	for _, pt := range []struct {
		p      *participant
		target signaling.Target
	}{{pub, signaling.TargetPublisher}, {sub, signaling.TargetSubscriber}} {
		pair, err := pt.p.SelectedCandidatePair(pt.target)
		if err != nil || pair == nil {
			t.Fatalf("%s's %s: no selected pair (%v)", pt.p.user, pt.target, err)
		}
		if pair.Local.Typ != want || (want == webrtc.ICECandidateTypeHost && pair.Local.Protocol != webrtc.ICEProtocolUDP) {
			t.Errorf("%s's %s goes %s/%s → %s, want a local %s candidate", pt.p.user, pt.target,
				pair.Local.Typ, pair.Local.Protocol, pair.Remote.Typ, want)
		}
	}
	_ = pub.Leave(ctxT(t, 5*time.Second))
	_ = sub.Leave(ctxT(t, 5*time.Second))
}

// labAPI is the Go client's API for the client host of a lab: its own
// (non-loopback) addresses, over UDP only: the relay's TCP is TURN's,
// not ICE-TCP's.
func labAPI(t *testing.T) *webrtc.API {
	t.Helper()
	api, err := client.NewAPI(client.APIConfig{Transport: client.TransportUDP})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// TestTURNBrowserThroughUDPBlock: headless Chromium on the client host,
// the firewall dropping UDP. Forced onto the relay (lethe.js
// iceTransportPolicy "relay"), the page reaches it over TCP, decodes a
// relayed Go client's marked video and sends its camera back through it;
// both its PeerConnections' selected local candidates are relay
// candidates over TCP. With UDP open again, a page without the option
// takes a direct UDP host path.
func TestTURNBrowserThroughUDPBlock(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s is missing", chromiumPath)
		}
		t.Skipf("%s not found", chromiumPath)
	}
	lab := netlab.Enter(t, netlab.Options{})
	if lab == nil {
		return
	}
	leakCheck(t)
	s := startLabServer(t, lab, "--udp-host", lab.Server.Addr.String())
	b := newBrowser(t, reach(t, strings.Replace(strings.TrimSuffix(s.url, "/v1/signal"), "ws://", "http://", 1))...)
	room := newRoomName()

	lab.BlockUDP(t)
	gopub, err := s.tryJoin(t, joinOpts{user: "gorelay", strRoom: room, client: client.Options{API: labAPI(t), ForceRelay: true}})
	if err != nil {
		t.Fatal(err)
	}
	gopub.publishAV(t, false, client.SourceOptions{})

	uid := s.browserUser("relayed")
	pg := b.newPage(t, "relayed")
	pg.open(s.pageURL(s.token(uid), uid, room) + "&relay=1")
	pg.join(uid, room, true)
	pg.waitReceiving(gopub.ParticipantID(), 30, true, 40*time.Second)
	ch := gopub.firstVideo(t) // the page's camera, through the relay both ways
	for deadline := time.Now().Add(30 * time.Second); ch.Stats().Packets < 50; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the Go client got %d video packets from the page", ch.Stats().Packets)
		}
	}
	for _, side := range []string{"publisherPC", "subscriberPC"} {
		if got := pg.selectedLocal(side); got != "relay/tcp" {
			t.Errorf("the relayed page's %s uses a local %s candidate, want relay/tcp", side, got)
		}
	}
	if lab.DroppedUDP(t) == 0 {
		t.Error("the firewall dropped no UDP: the block was not in the way")
	}
	pg.closePage()

	lab.AllowUDP(t)
	uid = s.browserUser("direct")
	direct := b.newPage(t, "direct")
	direct.open(s.pageURL(s.token(uid), uid, room))
	direct.join(uid, room, false)
	direct.waitReceiving(gopub.ParticipantID(), 30, true, 40*time.Second)
	if got := direct.selectedLocal("subscriberPC"); got != "host/udp" {
		t.Errorf("with UDP open the page's subscriber uses a local %s candidate, want host/udp", got)
	}
}

// selectedLocal is "type/protocol" of the local candidate of the selected
// pair of the page's PeerConnection pc ("publisherPC" or "subscriberPC"),
// e.g. "relay/tcp" (for a relay: the protocol to the TURN server).
func (p *page) selectedLocal(pc string) string {
	p.t.Helper()
	var out string
	p.mustEval(`(async () => {
  const pc = letheDemo.room?.`+pc+`;
  if (!pc) return "no PeerConnection";
  const rep = await pc.getStats();
  for (const t of rep.values()) {
    if (t.type !== "transport" || !t.selectedCandidatePairId) continue;
    const pair = rep.get(t.selectedCandidatePairId);
    const local = pair && rep.get(pair.localCandidateId);
    if (local) return local.candidateType + "/" + (local.candidateType === "relay" ? local.relayProtocol : local.protocol);
  }
  return "none selected";
})()`, &out)
	return out
}

// TestTURNSecretNotInProc: the relay's secret is in no worker's (nor the
// server's) command line or environment, which /proc shows to the host's
// other users: no argument and no variable makes the credential that
// joined carries. Nor does the credential appear in the server's output.
func TestTURNSecretNotInProc(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	p := s.join(t, "secret", 4999, "")
	if len(p.joined.IceServers) == 0 {
		t.Fatal("no iceServers in joined")
	}
	is := p.joined.IceServers[0]
	s.keepSecret(is.Credential)
	pids := append(s.workerPIDs(), s.cmd.Process.Pid)
	if len(pids) < 2 {
		t.Fatal("no worker found")
	}
	for _, pid := range pids {
		for _, f := range []string{"cmdline", "environ"} {
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
			if errors.Is(err, fs.ErrPermission) && os.Geteuid() != 0 {
				t.Skipf("needs root: the worker is not dumpable, its %s unreadable to its own user", f)
			}
			if err != nil {
				t.Fatalf("%d %s: %v", pid, f, err)
			}
			for _, v := range strings.Split(string(raw), "\x00") {
				_, val, _ := strings.Cut(v, "=") // a variable's value, or an argument's after --flag=
				for _, cand := range []string{v, val} {
					if cand != "" && turnrelay.Credential([]byte(cand), is.Username) == is.Credential {
						t.Errorf("process %d's %s holds the TURN secret", pid, f)
					}
				}
			}
		}
	}
}
