package e2e

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/netlab"
)

// TestBrowserSVC: Chromium publishes its fake camera as one VP9 encoding
// with scalabilityMode L3T3_KEY at 1280×720 (the demo page's #codec=vp9).
// One Chromium subscriber decodes the top spatial layer (getStats
// frameWidth 1280); another, asking for 320×180 through trackSettings,
// the lowest (frameWidth 320). Neither stops decoding or sees a
// corrupted frame. The server runs without downlink estimation
// (--no-bwe): what is checked is the layer selection, not the estimator
// on loopback.
func TestBrowserSVC(t *testing.T) {
	lab := netlab.Enter(t, netlab.Options{})
	if lab == nil {
		return
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s is missing", chromiumPath)
		}
		t.Skipf("browser tests skipped: %s not found", chromiumPath)
	}
	leakCheck(t)
	s := startLabServer(t, lab, "--udp-host", lab.Server.Addr.String(), "--turn=false", "--no-bwe")
	origin := strings.Replace(strings.TrimSuffix(s.url, "/v1/signal"), "ws://", "http://", 1)
	e := &simEnv{lab: lab, s: s, b: newBrowser(t, reach(t, origin)...)}
	room := newRoomName()

	pub, pubID := e.joinPage(t, "pub", room, true, url.Values{"codec": {"vp9"}})
	var got struct {
		Codec, Mode string
		Encodings   int
		Simulcast   bool
	}
	pub.mustEval(`(() => {
  const lt = letheDemo.room.localTracks.find((x) => x.kind === "video");
  const p = lt._transceiver.sender.getParameters();
  const sdp = letheDemo.room.publisherPC.localDescription.sdp;
  const m = sdp.split("m=video")[1] ?? "";
  const pt = (m.match(/^ \d+ \S+ (\d+)/) ?? [])[1];
  return {Codec: (m.match(new RegExp("a=rtpmap:" + pt + " ([^/]+)")) ?? [])[1] ?? "",
    Mode: p.encodings[0]?.scalabilityMode ?? "", Encodings: p.encodings.length, Simulcast: /a=simulcast/.test(sdp)};
})()`, &got)
	if got.Codec != "VP9" || got.Mode != "L3T3_KEY" || got.Encodings != 1 || got.Simulcast {
		t.Fatalf("the publisher offers %+v, want VP9 first, one encoding with L3T3_KEY, no simulcast", got)
	}

	noAdapt := url.Values{"adaptive": {"0"}} // the settings alone decide: no element sizes
	topPg, _ := e.joinPage(t, "top", room, false, noAdapt)
	smallPg, _ := e.joinPage(t, "small", room, false, noAdapt)
	top, small := newWatch(topPg, pubID), newWatch(smallPg, pubID)
	until(t, 60*time.Second, "decoding", small, func(r received) bool { return r.FramesDecoded > 0 }, top)
	var trackID string
	smallPg.mustEval(fmt.Sprintf(`[...letheDemo.room.participants.get(%q).tracks.values()].find((x) => x.kind === "video").trackId`, pubID), &trackID)
	smallPg.mustEval(fmt.Sprintf(`letheDemo.room.setTrackSettings(%q, {width: 320, height: 180}).then(() => true)`, trackID), new(bool))

	until(t, 60*time.Second, "the top spatial layer", top, func(r received) bool { return r.FrameWidth >= topWidth }, small)
	until(t, 60*time.Second, "the lowest spatial layer", small, func(r received) bool { return r.FrameWidth > 0 && r.FrameWidth <= lowWidth }, top)
	top.reset()
	small.reset()
	before := [2]int{top.last.FramesDecoded, small.last.FramesDecoded}
	hold(t, 10*time.Second, "each on its layer", top, func(r received) bool { return r.FrameWidth >= topWidth }, small)
	if r := small.poll(); r.FrameWidth > lowWidth {
		t.Errorf("small: frameWidth %d, want %d", r.FrameWidth, lowWidth)
	}
	for i, w := range []*watch{top, small} {
		if w.last.FramesDecoded < before[i]+100 {
			t.Errorf("%s: %d frames decoded in 10 s", w.p.name, w.last.FramesDecoded-before[i])
		}
		decodesSmoothly(t, w, 2*time.Second)
	}
	t.Logf("top %+v; small %+v; small's events %s", top.last, small.last, smallPg.events())
}
