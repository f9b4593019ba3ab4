package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// ICE restarts against the real server: a Go client publishes, another
// receives, and the network between them and the media worker changes
// under them. As root, the tests run in a network namespace of their own
// (with only lo) and cut UDP there with nftables; otherwise they skip.

// needNetns skips unless the test can run as root, moves it into a fresh
// network namespace, and reports whether the caller should go on (false:
// it already ran there).
func needNetns(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test cuts UDP with nftables in a network namespace of its own")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and nft is missing: install Debian's nftables package")
		}
		t.Skip("nft not found (apt-get install nftables)")
	}
	if os.Getenv(browserNetnsEnv) != "" {
		return true
	}
	runInNetns(t)
	return false
}

// firewall is an nftables table of the test's network namespace, whose
// output chain every loopback packet passes once.
type firewall struct {
	t *testing.T
}

const nftTable = "lethe_test"

func newFirewall(t *testing.T) *firewall {
	t.Helper()
	if os.Getenv(browserNetnsEnv) == "" {
		t.Fatal("newFirewall outside the test's network namespace")
	}
	f := &firewall{t: t}
	f.nft("add", "table", "inet", nftTable)
	f.nft("add", "chain", "inet", nftTable, "out", "{ type filter hook output priority 0; policy accept; }")
	t.Cleanup(func() { f.nft("delete", "table", "inet", nftTable) })
	return f
}

func (f *firewall) nft(args ...string) {
	f.t.Helper()
	if out, err := exec.Command("nft", args...).CombinedOutput(); err != nil {
		f.t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// drop drops UDP to (and with both, also from) the given ports.
func (f *firewall) drop(ports []int, both bool) {
	f.t.Helper()
	set := make([]string, len(ports))
	for i, p := range ports {
		set[i] = strconv.Itoa(p)
	}
	list := "{ " + strings.Join(set, ", ") + " }"
	f.nft("add", "rule", "inet", nftTable, "out", "udp", "dport", list, "drop")
	if both {
		f.nft("add", "rule", "inet", nftTable, "out", "udp", "sport", list, "drop")
	}
}

// dropAll drops every UDP packet: no socket, old or new, gets through.
func (f *firewall) dropAll() {
	f.t.Helper()
	f.nft("add", "rule", "inet", nftTable, "out", "meta", "l4proto", "udp", "drop")
}

var workerUDPRE = regexp.MustCompile(`media udp [0-9.]+:(\d+)`)

// workerPort is the media UDP port of the server's worker 0.
func (s *server) workerPort(t *testing.T) int {
	t.Helper()
	m := workerUDPRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no worker media port in the server's output:\n%s", s.stdout.String())
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

// udpPortsBut lists the local ports of every UDP socket of the network
// namespace except skip: here, the clients' ICE sockets.
func udpPortsBut(t *testing.T, skip int) []int {
	t.Helper()
	seen := map[int]bool{}
	var out []int
	for _, file := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[0] == "sl" {
				continue
			}
			_, hex, ok := strings.Cut(fields[1], ":")
			p, err := strconv.ParseUint(hex, 16, 16)
			if !ok || err != nil || int(p) == skip || seen[int(p)] {
				continue
			}
			seen[int(p)] = true
			out = append(out, int(p))
		}
		f.Close()
	}
	if len(out) == 0 {
		t.Fatal("no client UDP socket found")
	}
	return out
}

// rtpLog reads one remote track and keeps, per packet, what a receiver
// can check across an outage.
type rtpLog struct {
	tr   *webrtc.TrackRemote
	mu   sync.Mutex
	pkts []loggedPacket
	err  error // why reading stopped
	done chan struct{}
}

type loggedPacket struct {
	seq    uint16
	ssrc   uint32
	pt     uint8
	marked bool
	mseq   uint32
}

func logTrack(t *testing.T, tr *webrtc.TrackRemote) *rtpLog {
	l := &rtpLog{tr: tr, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				return
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			m, ok := client.ParseMarker(p.Payload)
			l.mu.Lock()
			l.pkts = append(l.pkts, loggedPacket{seq: p.SequenceNumber, ssrc: p.SSRC, pt: p.PayloadType, marked: ok, mseq: m.Seq})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = tr.SetReadDeadline(time.Unix(1, 0))
		<-l.done
	})
	return l
}

func (l *rtpLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pkts)
}

func (l *rtpLog) ended() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// waitCount waits until the log holds more than n packets and returns when
// it did.
func (l *rtpLog) waitCount(t *testing.T, what string, n int, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for l.count() <= n {
		if err := l.ended(); err != nil {
			t.Fatalf("%s: the track ended: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d packets, none more within %v", what, n, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// continuous checks that the track ran on across the outage as a receiver
// sees it: one SSRC and payload type, every marked packet's sequence
// number at one distance from its marker's (the server rewrites with one
// offset; an outage only takes packets away). It returns how many of the
// publisher's packets never arrived.
func (l *rtpLog) continuous(t *testing.T, what string) (missing int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var first *loggedPacket
	seen := map[uint32]bool{}
	var lo, hi uint32
	for i := range l.pkts {
		p := &l.pkts[i]
		if !p.marked {
			continue
		}
		if first == nil {
			first, lo, hi = p, p.mseq, p.mseq
		}
		if p.ssrc != first.ssrc || p.pt != first.pt {
			t.Errorf("%s: SSRC or payload type changed (%#x/%d -> %#x/%d)", what, first.ssrc, first.pt, p.ssrc, p.pt)
			return 0
		}
		if p.seq-uint16(p.mseq) != first.seq-uint16(first.mseq) {
			t.Errorf("%s: sequence number %d for marker %d: the numbering jumped", what, p.seq, p.mseq)
			return 0
		}
		seen[p.mseq] = true
		lo, hi = min(lo, p.mseq), max(hi, p.mseq)
	}
	if first == nil {
		t.Errorf("%s: no marked packet", what)
		return 0
	}
	return int(hi-lo+1) - len(seen)
}

// restartCall is a publisher and a receiver of its audio and video.
type restartCall struct {
	s            *server
	pub, sub     *participant
	video, audio *rtpLog
}

// newRestartCall starts a call whose clients have opts.
func newRestartCall(t *testing.T, s *server, opts client.Options) *restartCall {
	t.Helper()
	room := uint32(time.Now().UnixNano()%1_000_000 + 1)
	c := &restartCall{s: s}
	var err error
	if c.sub, err = s.tryJoin(t, joinOpts{user: "sub", room: room, client: opts}); err != nil {
		t.Fatal(err)
	}
	if c.pub, err = s.tryJoin(t, joinOpts{user: "pub", room: room, client: opts}); err != nil {
		t.Fatal(err)
	}
	c.pub.publishAV(t, false, client.SourceOptions{KeyframeInterval: time.Second})
	for c.video == nil || c.audio == nil {
		select {
		case tr := <-c.sub.tracks:
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				c.video = logTrack(t, tr)
			} else {
				c.audio = logTrack(t, tr)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the receiver got no tracks")
		}
	}
	c.video.waitCount(t, "video", 60, 10*time.Second)
	c.audio.waitCount(t, "audio", 60, 10*time.Second)
	if p, s := c.ports(t); p == 0 || s == 0 {
		t.Fatal("a PeerConnection has no selected pair while media flows")
	}
	return c
}

// ports returns the local ports the clients' PeerConnections send from,
// 0 for one without a selected pair (during a restart's checks).
func (c *restartCall) ports(t *testing.T) (pub, sub int) {
	t.Helper()
	port := func(p *participant, target signaling.Target) int {
		pair, err := p.SelectedCandidatePair(target)
		if err != nil {
			t.Fatalf("%s's %s: %v", p.user, target, err)
		}
		if pair == nil {
			return 0
		}
		return int(pair.Local.Port)
	}
	return port(c.pub, signaling.TargetPublisher), port(c.sub, signaling.TargetSubscriber)
}

// restarted checks that both PeerConnections now send from other ports
// than before: they restarted ICE (Pion gathers new sockets for it).
func (c *restartCall) restarted(t *testing.T, pub, sub int) {
	t.Helper()
	waitFor := func(what string, f func() bool) {
		for deadline := time.Now().Add(5 * time.Second); !f(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s still sends from the port it had before", what)
				return
			}
		}
	}
	waitFor("the publisher", func() bool { p, _ := c.ports(t); return p != 0 && p != pub })
	waitFor("the receiver", func() bool { _, s := c.ports(t); return s != 0 && s != sub })
}

// check holds the call to what an ICE restart promises: nobody rejoined
// or was removed, no track was replaced, and both tracks ran on.
func (c *restartCall) check(t *testing.T) {
	t.Helper()
	for _, p := range []*participant{c.pub, c.sub} {
		if err := p.Err(); err != nil {
			t.Errorf("%s's session ended: %v", p.user, err)
		}
	}
	select {
	case tr := <-c.sub.tracks:
		t.Errorf("the receiver got a new %s track", tr.Kind())
	default:
	}
	for what, l := range map[string]*rtpLog{"video": c.video, "audio": c.audio} {
		if err := l.ended(); err != nil {
			t.Errorf("%s ended: %v", what, err)
		}
		t.Logf("%s: %d of the publisher's packets missing", what, l.continuous(t, what))
	}
drain:
	for {
		select {
		case e := <-c.sub.Events():
			if e.Type == signaling.TypeParticipantLeft || e.Type == signaling.TypeTrackUnpublished {
				t.Errorf("the receiver saw %s", e.Type)
			}
		default:
			break drain
		}
	}
}

// The clients' network changes: every UDP socket they had stops working,
// both ways, for good (as when a laptop moves from one network to
// another). The server notices its PeerConnections disconnected, restarts
// the receiver's subscriber ICE with a new offer and asks the publisher to
// restart its own; both clients gather new sockets, and media resumes on
// the same tracks with no rejoin, well before the 13 s after which the
// server would remove them. The clients' own restarts are put off past the
// end of the test, so that the server's are what brings them back.
func TestICERestartAfterPathChange(t *testing.T) {
	if !needNetns(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	c := newRestartCall(t, s, client.Options{ICERestartDelay: time.Minute})
	fw := newFirewall(t)
	pubPort, subPort := c.ports(t)
	nV, nA := c.video.count(), c.audio.count()
	fw.drop(udpPortsBut(t, s.workerPort(t)), true)
	cut := time.Now()
	waitEvent(t, c.pub.Client, signaling.TypeRestartICE, 10*time.Second, nil)
	asked := time.Since(cut)
	back := c.video.waitCount(t, "video", nV, 12*time.Second)
	c.audio.waitCount(t, "audio", nA, 5*time.Second)
	c.video.waitCount(t, "video", c.video.count()+60, 5*time.Second)
	time.Sleep(500 * time.Millisecond) // let NACKs repair what they can
	c.restarted(t, pubPort, subPort)
	c.check(t)
	t.Logf("the server asked for a publisher restart %v after the cut; video back %v after it",
		asked.Round(time.Millisecond), back.Sub(cut).Round(time.Millisecond))
}

// Only what the server sends is lost (to the clients' sockets), so the
// server still hears both clients and has no reason to act: each client
// notices by itself that it hears nothing, restarts its publisher's ICE or
// asks the server to restart its subscriber's, and media resumes.
func TestClientICERestartWhenItHearsNothing(t *testing.T) {
	if !needNetns(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	c := newRestartCall(t, s, client.Options{})
	fw := newFirewall(t)
	pubPort, subPort := c.ports(t)
	nV := c.video.count()
	fw.drop(udpPortsBut(t, s.workerPort(t)), false)
	cut := time.Now()
	// Pion's client turns disconnected after 5 s, and restarts 2 s later.
	back := c.video.waitCount(t, "video", nV, 15*time.Second)
	c.video.waitCount(t, "video", c.video.count()+60, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	c.restarted(t, pubPort, subPort)
	c.check(t)
	for e := range drainEvents(c.pub.Client) {
		if e.Type == signaling.TypeRestartICE {
			t.Error("the server asked for a restart although it heard the publisher")
		}
	}
	t.Logf("video back %v after the cut", back.Sub(cut).Round(time.Millisecond))
}

// A path that never comes back: the restarts cannot help, and the server
// still removes the participants (bye 4003) when their PeerConnections
// have not connected again --ice-failed-timeout after they went
// disconnected, not later for the restarts it tried.
func TestICERestartGivesUp(t *testing.T) {
	if !needNetns(t) {
		return
	}
	leakCheck(t)
	s := startServer(t, "--ice-failed-timeout", "4s")
	c := newRestartCall(t, s, client.Options{})
	fw := newFirewall(t)
	fw.dropAll()
	cut := time.Now()
	for _, p := range []*participant{c.pub, c.sub} {
		select {
		case <-p.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("%s is still in the room 15 s after the cut", p.user)
		}
		took := time.Since(cut)
		var ce *signaling.CodedError
		if err := p.Err(); !errors.Is(err, client.ErrBye) || !errors.As(err, &ce) || ce.Code != signaling.CodeMediaFailed {
			t.Errorf("%s ended with %v, want bye 4003", p.user, err)
		}
		// Disconnected 3-4 s after the cut (silence is checked every
		// second; the last packet came just before it), restarted 2 s
		// later, removed 4 s after disconnected: 7-8 s. Without the
		// deadline the restart's checks would fail 3+4 s after it was
		// made, at 12 s or later.
		if took < 6*time.Second || took > 10*time.Second {
			t.Errorf("%s removed %v after the cut, want 7-8 s", p.user, took)
		}
		t.Logf("%s removed %v after the cut", p.user, took.Round(time.Millisecond))
	}
}

// drainEvents returns the events c has queued.
func drainEvents(c *client.Client) func(func(client.Event) bool) {
	return func(yield func(client.Event) bool) {
		for {
			select {
			case e := <-c.Events():
				if !yield(e) {
					return
				}
			default:
				return
			}
		}
	}
}

// A client restarts ICE on purpose, on both of its PeerConnections (the
// network is fine): its publisher by an offer with new credentials, its
// subscriber by asking the server. Media goes on, on the same tracks.
func TestClientICERestart(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	c := newRestartCall(t, s, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sub.RestartICE(ctx, signaling.TargetPublisher); !errors.Is(err, client.ErrNotNegotiated) {
		t.Errorf("restart of a publisher that never offered: %v, want ErrNotNegotiated", err)
	}
	for _, step := range []struct {
		who    *participant
		target signaling.Target
	}{{c.pub, signaling.TargetPublisher}, {c.sub, signaling.TargetSubscriber}, {c.pub, signaling.TargetPublisher}} {
		pubPort, subPort := c.ports(t)
		n := c.video.count()
		if err := step.who.RestartICE(ctx, step.target); err != nil {
			t.Fatalf("%s: restart the %s: %v", step.who.user, step.target, err)
		}
		c.video.waitCount(t, fmt.Sprint("video after the ", step.target, " restart"), n+60, 10*time.Second)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			p, s := c.ports(t)
			if step.target == signaling.TargetPublisher && p != 0 && p != pubPort ||
				step.target == signaling.TargetSubscriber && s != 0 && s != subPort {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s still sends from its old port: no restart", step.target)
			}
		}
	}
	c.check(t)
}
