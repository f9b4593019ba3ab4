package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDemo drives the demo page as two people would, in two real
// Chromiums: join, pick another camera, chat both ways and privately,
// mute (the other sees the badge), share a screen (a new tile on the
// other page), leave (the tile goes); a refused join shows its sentence.
// With LETHE_SCREENSHOT=docs/demo.png it saves the README's screenshot:
// two people, the chat, the speaker highlighted.
func TestBrowserDemo(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	room := newRoomName()
	// Alice's fake microphone plays a steady tone (a speaker; Chromium's
	// own fake one only beeps) and she has three fake cameras to pick from
	// (the second is a Y16 depth camera, which no encoder takes: she picks
	// the third, an MJPEG one).
	ab := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", writeTone(t)),
		chromedp.Flag("use-fake-device-for-media-stream", "device-count=3"))
	bb := newBrowser(t)
	alice, aliceID := s.joinPage(t, ab, "alice", room, true)
	bob, bobID := s.joinPage(t, bb, "bob", room, true)
	bob.waitReceiving(aliceID, 10, true, 30*time.Second)
	alice.waitReceiving(bobID, 10, true, 30*time.Second)
	for _, p := range []*page{alice, bob} {
		p.waitJS(`[...document.querySelectorAll(".tile video")].filter(v => v.videoWidth > 0).length === 2`, 15*time.Second)
		p.waitJS(`letheDemo.room._session?.data?.every(c => c.readyState === "open")`, 20*time.Second)
		p.waitJS(`!document.querySelector("#chat").hidden`, 5*time.Second)
	}

	// Chat: to the room both ways, typed into the form; text stays text.
	alice.chat(t, "", "Hi Bob, can you see my camera?")
	bob.waitChat(t, "Hi Bob, can you see my camera?", false)
	bob.chat(t, "", "Yes, and I hear you. <b>not bold</b>")
	alice.waitChat(t, "Yes, and I hear you. <b>not bold</b>", false)
	var tags int
	alice.mustEval(`document.querySelectorAll("#chat-log b").length - document.querySelectorAll("#chat-log .head b").length`, &tags)
	if tags != 0 {
		t.Errorf("a chat message's text was rendered as HTML (%d elements)", tags)
	}
	// Privately, to alice by name: she sees it marked private.
	bob.chat(t, aliceID, "Your slides next?")
	alice.waitChat(t, "Your slides next?", true)
	// With her chat closed, a message counts as unread; opening it clears the count.
	alice.click(t, "#chat-close")
	bob.chat(t, "", "Ready when you are.")
	alice.waitJS(`document.querySelector("#chat-unread").textContent === "1" && !document.querySelector("#chat-unread").hidden`, 10*time.Second)
	alice.click(t, "#chat-toggle")
	alice.waitJS(`document.querySelector("#chat-unread").hidden && !document.querySelector("#chat").hidden`, 5*time.Second)
	alice.waitChat(t, "Ready when you are.", false)

	// The speaker: alice's tone lights her tile on bob's page. Every tile
	// grades its connection. Then the README's screenshot, from bob's page.
	bob.waitJS(`document.querySelector('.tile.active-speaker[data-pid="`+aliceID+`"]:not([data-tid])')`, 20*time.Second)
	bob.waitJS(`[...document.querySelectorAll(".tile .quality")].every(q => q.dataset.q !== "unknown" && q.title.includes("rtt"))`, 10*time.Second)
	// The grading, on figures of its own: the worst one decides.
	for expr, want := range map[string]string{
		`{}`: "unknown", `{loss: 0, rtt: 0.02, jitter: 0.005, fps: 30}`: "good",
		`{loss: 0.05, rtt: 0.02}`: "fair", `{rtt: 0.6}`: "poor", `{jitter: 0.05}`: "fair",
		`{loss: 0, fps: 8}`: "fair", `{loss: 0, fps: 2}`: "poor", `{loss: 0.2, fps: 30}`: "poor",
	} {
		var got string
		bob.mustEval(`letheDemo.quality(`+expr+`)`, &got)
		if got != want {
			t.Errorf("quality(%s) = %s, want %s", expr, got, want)
		}
	}
	bob.mustEval(`document.activeElement?.blur(), true`, new(bool))
	bob.screenshot()

	// Device pickers: filled from enumerateDevices; picking the second
	// camera swaps the live track (the server sees the same track, bob
	// keeps decoding); the choice is remembered, and nothing else is.
	var cams int
	alice.mustEval(`document.querySelectorAll("#cam-select option").length`, &cams)
	if cams != 3 {
		t.Fatalf("alice's camera picker lists %d cameras, want 3", cams)
	}
	var trackBefore, trackAfter string
	alice.mustEval(`letheDemo.room.localTracks.find(t => t.kind === "video").trackId`, &trackBefore)
	var picked string
	alice.mustEval(`(() => { const s = document.querySelector("#cam-select");
	  const other = s.options[2]; s.value = other.value;
	  s.dispatchEvent(new Event("change")); return other.value; })()`, &picked)
	alice.waitJS(fmt.Sprintf(`letheDemo.room.localTracks.find(t => t.kind === "video").mediaStreamTrack.getSettings().deviceId === %q`, picked), 10*time.Second)
	alice.mustEval(`letheDemo.room.localTracks.find(t => t.kind === "video").trackId`, &trackAfter)
	if trackAfter != trackBefore {
		t.Errorf("after the camera switch alice's video is track %s, want %s (replaceTrack, no new track)", trackAfter, trackBefore)
	}
	bob.waitReceiving(aliceID, 10, false, 20*time.Second)
	var stored map[string]string
	alice.mustEval(`Object.fromEntries(Object.entries(localStorage))`, &stored)
	if stored["lethe.camera"] != picked {
		t.Errorf("localStorage holds %v, want lethe.camera = the picked camera", stored)
	}
	for k := range stored {
		if k != "lethe.camera" && k != "lethe.microphone" && k != "lethe.speaker" {
			t.Errorf("localStorage holds %q: only device choices belong there", k)
		}
	}

	// Mute: bob sees the badge on alice's tile, she on her own.
	alice.click(t, "#mic")
	bob.waitJS(`!document.querySelector('.tile[data-pid="`+aliceID+`"]:not([data-tid]) .mic-off').hidden`, 10*time.Second)
	alice.waitJS(`!document.querySelector(".tile.local .mic-off").hidden && document.querySelector("#mic").textContent === "Unmute mic"`, 5*time.Second)

	// Screen share, from the button (Chromium's fake capture stands in for
	// a screen): a tile of its own, first, on bob's page; alice sees hers.
	alice.click(t, "#screen")
	alice.waitJS(`letheDemo.room.localTracks.some(t => t.screen && t.trackId) && document.querySelector(".tile[data-self-screen]")`, 20*time.Second)
	bob.waitJS(`(() => { const el = document.querySelector('.tile.screen[data-pid="`+aliceID+`"][data-tid]');
	  return el && el.querySelector("video").videoWidth > 0 && document.querySelector("#tiles").firstElementChild.getBoundingClientRect().top >= el.getBoundingClientRect().top; })()`, 20*time.Second)
	alice.click(t, "#screen")
	bob.waitJS(`!document.querySelector(".tile.screen")`, 15*time.Second)
	alice.waitJS(`!document.querySelector(".tile[data-self-screen]") && document.querySelector("#screen").textContent === "Share screen"`, 5*time.Second)

	// Leave: alice is back in the lobby, her tile goes from bob's page.
	alice.click(t, "#leave")
	alice.waitJS(`!document.querySelector("#lobby").hidden && letheDemo.room === null`, 10*time.Second)
	bob.waitJS(`!document.querySelector('.tile[data-pid="`+aliceID+`"]') && document.querySelectorAll(".tile").length === 1`, 15*time.Second)

	// A data message the server refuses (to someone no longer in the
	// room: 4009) is said inline in the chat.
	bob.mustEval(fmt.Sprintf(`letheDemo.room.sendData("still there?", {topic: "chat", to: [%q]}).then(() => true)`, aliceID), new(bool))
	bob.waitJS(`document.querySelector('#chat-log li.notice[data-code="4009"]')?.textContent.includes("no longer in the room")`, 10*time.Second)

	// A refused join: a token whose signature is broken gets the 2001 sentence.
	uid := s.browserUser("mallory")
	tok := s.token(uid)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("lethe token did not mint a JWT")
	}
	flip := map[byte]byte{'A': 'B'}
	c, ok := flip[parts[2][0]]
	if !ok {
		c = 'A'
	}
	parts[2] = string(c) + parts[2][1:]
	mallory := bb.newPage(t, "mallory")
	mallory.open(s.pageURL(strings.Join(parts, "."), uid, room))
	mallory.click(t, "#join")
	mallory.waitJS(`document.querySelector("#lobby-error").dataset.code === "2001" && document.querySelector("#lobby-error").textContent.includes("signature")`, 15*time.Second)
	var shown string
	mallory.mustEval(`document.querySelector("#lobby-error").textContent`, &shown)
	t.Logf("a refused join shows: %s", shown)

	// The grid follows the room: 2 columns for 2 to 4 people, 3 up to 9,
	// as many as fit beyond; on a phone's width, 2 at most, and nothing
	// wider than the screen.
	columns := func() int {
		var n int
		bob.mustEval(`getComputedStyle(document.querySelector("#tiles")).gridTemplateColumns.split(" ").length`, &n)
		return n
	}
	var others []*participant
	for _, want := range []struct{ people, columns int }{{4, 2}, {9, 3}, {12, 0}} {
		for len(others)+1 < want.people {
			others = append(others, s.join(t, fmt.Sprint("guest", len(others)), 0, room))
		}
		bob.waitJS(fmt.Sprintf(`document.querySelectorAll(".tile").length === %d`, want.people), 15*time.Second)
		if got := columns(); want.columns > 0 && got != want.columns || want.columns == 0 && got <= 3 {
			t.Errorf("%d people: %d columns, want %d (0: more than 3)", want.people, got, want.columns)
		}
	}
	ctx, cancel := context.WithTimeout(bob.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	bob.waitJS(`getComputedStyle(document.querySelector("#tiles")).gridTemplateColumns.split(" ").length === 2 && document.documentElement.scrollWidth <= 390`, 5*time.Second)
	for _, o := range others {
		_ = o.Close()
	}

	bob.click(t, "#leave")
	bob.waitJS(`letheDemo.room === null`, 10*time.Second)
}

// click presses an element of the page, as a person would (a user
// gesture, which getDisplayMedia needs).
func (p *page) click(t *testing.T, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("%s: click %s: %v", p.name, sel, err)
	}
}

// chat types a message into the chat form, to a participant (by id) or,
// with to empty, to the room, and waits until the page shows it sent.
func (p *page) chat(t *testing.T, to, text string) {
	t.Helper()
	var ok bool
	p.mustEval(fmt.Sprintf(`(() => { const s = document.querySelector("#chat-to"); s.value = %q; return s.value === %q; })()`, to, to), &ok)
	if !ok {
		t.Fatalf("%s: %q is not in the chat's list of people", p.name, to)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#chat-text"), text), chromedp.Click(chromedp.CSS("#chat-send"))); err != nil {
		t.Fatalf("%s: chat: %v", p.name, err)
	}
	p.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#chat-log li.mine .text")].some(e => e.textContent === %q)`, text), 10*time.Second)
}

// waitChat waits until the page's chat shows a message from someone else
// with this text (marked private, or not).
func (p *page) waitChat(t *testing.T, text string, private bool) {
	t.Helper()
	p.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#chat-log li:not(.mine)")].some(li => li.querySelector(".text")?.textContent === %q && li.classList.contains("private") === %v)`, text, private), 15*time.Second)
}
