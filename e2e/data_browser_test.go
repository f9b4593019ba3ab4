package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lethe-rtc/lethe/client"
)

// TestBrowserData: data messages between the demo page (lethe.js, its
// chat panel) in a real Chromium and a Go client, both ways, text and
// bytes, to the room and by name; lethe.js refuses an oversized one.
func TestBrowserData(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	pg, pageID := s.joinPage(t, b, "chatter", room, false)
	pg.waitJS(`letheDemo.room._session?.data?.every(c => c.readyState === "open")`, 20*time.Second)
	var ok bool
	pg.mustEval(`(window.gotData = [], letheDemo.room.addEventListener("data", e => gotData.push({from: e.detail.from, topic: e.detail.topic,
		text: e.detail.text, private: e.detail.private, lossy: e.detail.lossy,
		data: e.detail.text ? e.detail.data : Array.from(e.detail.data)})), true)`, &ok)

	gp, err := s.tryJoin(t, joinOpts{user: "goclient", strRoom: room, data: true})
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox{}
	gp.OnData(in.add)
	if err := gp.WaitData(ctxT(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}

	// Go → page: the chat panel shows it. Until the server has both ends
	// open, a message may find nobody: send until one is shown.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := gp.SendData(ctxT(t, 5*time.Second), []byte("hello from go"), client.DataOptions{Topic: "chat", Text: true}); err != nil {
			t.Fatal(err)
		}
		var shown bool
		pg.mustEval(`[...document.querySelectorAll("#chat-log li")].some(li => li.textContent.includes("hello from go"))`, &shown)
		if shown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed the Go client's chat message; events: %s", pg.events())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Bytes, by name, and lossy.
	if err := gp.SendData(ctxT(t, 5*time.Second), []byte{0, 1, 2, 255}, client.DataOptions{Topic: "bin", To: []string{pageID}}); err != nil {
		t.Fatal(err)
	}
	if err := gp.SendData(ctxT(t, 5*time.Second), []byte("lossy"), client.DataOptions{Topic: "lossy", Text: true, Lossy: true}); err != nil {
		t.Fatal(err)
	}
	goID := gp.joined.ParticipantID
	pg.waitJS(fmt.Sprintf(`gotData.some(m => m.topic === "bin" && m.from === %q && m.private && !m.text && m.data.join() === "0,1,2,255")`, goID), 10*time.Second)
	pg.waitJS(`gotData.some(m => m.topic === "lossy" && m.lossy && m.text && m.data === "lossy")`, 10*time.Second)

	// Page → Go: typed into the chat form, and bytes from lethe.js.
	ctx, cancel := context.WithTimeout(pg.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#chat-text"), "hello from chromium"), chromedp.Click(chromedp.CSS("#chat-send"))); err != nil {
		t.Fatal(err)
	}
	pg.mustEval(fmt.Sprintf(`letheDemo.room.sendData(new Uint8Array([9, 8, 7]), {topic: "bin", to: [%q]}).then(() => true)`, goID), &ok)
	waitCount(t, "the page's messages", 10*time.Second, func() int {
		return in.count(func(m client.DataMessage) bool {
			return m.From == pageID && (m.Topic == "chat" && m.Text && string(m.Payload) == "hello from chromium" && !m.Private ||
				m.Topic == "bin" && !m.Text && bytes.Equal(m.Payload, []byte{9, 8, 7}) && m.Private)
		})
	}, 2)

	// lethe.js refuses an oversized message itself (4006).
	var code int
	pg.mustEval(`letheDemo.room.sendData("x".repeat(16385)).then(() => 0, e => e.code)`, &code)
	if code != 4006 {
		t.Fatalf("oversized sendData: code %d, want 4006", code)
	}
}
