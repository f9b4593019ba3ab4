package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
)

// TestBrowserAdaptiveStream: lethe.js's adaptive stream as it reaches
// the wire. A page receives a Go client's camera; the trackSettings the
// page sends follow its tile: the rendered size (times
// devicePixelRatio), {paused: true} while the element cannot be seen,
// the size again once shown, the app's own wishes on top
// (setTrackSettings), each only when it changed, and the size again for
// the new tile after a rejoin. The server takes every
// one (no error reaches the page). Bad wishes are refused in the page,
// with nothing sent.
func TestBrowserAdaptiveStream(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	pub := s.join(t, "cam", 0, room)
	pub.publishAV(t, false, client.SourceOptions{KeyframeInterval: time.Second})

	uid := s.browserUser("viewer")
	pg := b.newPage(t, "viewer")
	pg.open(s.pageURL(s.token(uid), uid, room) + "&" + url.Values{"simulcast": {"0"}}.Encode())
	// Record what the page sends on its WebSocket, before it opens one.
	pg.mustEval(`(() => {
  window.sentSettings = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try { const m = JSON.parse(data); if (m.type === "trackSettings") sentSettings.push(m.data); } catch {}
    return send.call(this, data);
  };
  return true;
})()`, new(bool))
	pg.join(uid, room, false)
	pg.waitReceiving(pub.ParticipantID(), 5, true, 30*time.Second)

	var trackID string
	pg.mustEval(fmt.Sprintf(`[...letheDemo.room.participants.get(%q).tracks.values()].find((x) => x.kind === "video").trackId`, pub.ParticipantID()), &trackID)
	video := fmt.Sprintf(`document.querySelector('.tile[data-pid=%q]:not([data-tid]) video')`, pub.ParticipantID())
	var dpr float64
	pg.mustEval(`window.devicePixelRatio`, &dpr)
	style := func(css string) {
		t.Helper()
		pg.mustEval(fmt.Sprintf(`(() => { %s.style.cssText = %q; return true; })()`, video, css), new(bool))
	}
	sized := func(w, h int) string {
		return fmt.Sprintf("width:%.0fpx;height:%.0fpx", float64(w)/dpr, float64(h)/dpr)
	}

	// sent returns the page's trackSettings so far.
	sent := func() []map[string]any {
		t.Helper()
		var out []map[string]any
		pg.mustEval(`sentSettings`, &out)
		return out
	}
	// waitLast waits until the last trackSettings sent is want (as JSON).
	waitLast := func(what string, want map[string]any) {
		t.Helper()
		want["trackId"] = trackID
		wantJSON, _ := json.Marshal(want)
		deadline := time.Now().Add(10 * time.Second)
		var got []map[string]any
		for time.Now().Before(deadline) {
			got = sent()
			if len(got) > 0 {
				last, _ := json.Marshal(got[len(got)-1])
				if string(last) == string(wantJSON) {
					return
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s: the last trackSettings is not %s; sent: %v", what, wantJSON, got)
	}

	// The tile as the demo lays it out.
	var rect struct{ W, H float64 }
	pg.mustEval(fmt.Sprintf(`(() => { const r = %s.getBoundingClientRect(); return {W: r.width, H: r.height}; })()`, video), &rect)
	waitLast("the tile's own size", map[string]any{"width": int(rect.W*dpr + 0.5), "height": int(rect.H*dpr + 0.5)})

	style(sized(320, 180))
	waitLast("a 320×180 element", map[string]any{"width": 320, "height": 180})
	style("display:none")
	waitLast("a hidden element", map[string]any{"paused": true})
	style(sized(640, 360))
	waitLast("shown again at 640×360", map[string]any{"width": 640, "height": 360})

	// The app's wishes go over the element's; null takes them away.
	pg.mustEval(fmt.Sprintf(`letheDemo.room.setTrackSettings(%q, {maxLayer: 0, fps: 15}).then(() => true)`, trackID), new(bool))
	waitLast("setTrackSettings", map[string]any{"width": 640, "height": 360, "maxLayer": 0, "fps": 15})
	pg.mustEval(fmt.Sprintf(`letheDemo.room.setTrackSettings(%q, null).then(() => true)`, trackID), new(bool))
	waitLast("setTrackSettings(null)", map[string]any{"width": 640, "height": 360})

	// Refused in the page, nothing sent.
	before := len(sent())
	for _, bad := range []string{
		fmt.Sprintf(`letheDemo.room.setTrackSettings(%q, {maxLayer: 7})`, trackID),
		fmt.Sprintf(`letheDemo.room.setTrackSettings(%q, {width: -1})`, trackID),
		fmt.Sprintf(`letheDemo.room.setTrackSettings(%q, {paused: "yes"})`, trackID),
		`letheDemo.room.setTrackSettings("TR_nosuchtrack", {width: 320})`,
	} {
		var code int
		pg.mustEval(bad+`.then(() => 0, (e) => e.code ?? -1)`, &code)
		if code != 4 { // ErrState: a local error
			t.Errorf("%s: error code %d, want lethe.js's local 4", bad, code)
		}
	}

	if got := sent(); len(got) != before {
		t.Errorf("refused settings were sent: %v", got[before:])
	}

	// The WebSocket drops: the page rejoins, its new tile shows the
	// track, and the server hears the tile's size again.
	pg.mustEval(`letheDemo.room.socket.close(), true`, new(bool))
	pg.waitJS(`letheDemo.events.some(e => e.type === "reconnected")`, 30*time.Second)
	pg.waitReceiving(pub.ParticipantID(), 5, false, 30*time.Second)
	waitLast("the new tile after a rejoin", map[string]any{"width": int(rect.W*dpr + 0.5), "height": int(rect.H*dpr + 0.5)})

	// Each message differs from the one before: nothing is sent twice.
	// The first is a size: no pause while the element is laid out.
	all := sent()
	if all[0]["paused"] != nil {
		t.Errorf("the first trackSettings paused the track before its element was measured: %v", all[0])
	}
	for i := 1; i < len(all); i++ {
		a, _ := json.Marshal(all[i-1])
		b, _ := json.Marshal(all[i])
		if string(a) == string(b) {
			t.Errorf("trackSettings %s sent twice in a row", b)
		}
	}
	var errs int
	pg.mustEval(`letheDemo.events.filter((e) => e.type === "error").length`, &errs)
	if errs != 0 {
		t.Errorf("the server refused %d of the page's messages: %s", errs, pg.events())
	}
	t.Logf("%d trackSettings sent: %v", len(all), all)
}
