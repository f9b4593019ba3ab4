package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/e2ee"
)

// TestE2EEBrowser runs end-to-end encryption (protocol.md §3.13) in a real
// headless Chromium against the real server: lethe-e2ee.js and the Go
// package agree on the shared test vectors; two pages with the same
// passphrase decode each other's video and audio; a page with another
// passphrase receives the packets and decodes nothing; a Go client with
// the key decrypts a page's frames, and a page decodes the Go client's
// encrypted frames.
func TestE2EEBrowser(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	t.Run("Vectors", testE2EEVectors)
	t.Run("Pages", testE2EEPages)
	t.Run("GoClient", testE2EEGoClient)
}

// e2eePassphrase is the room secret of the tests' E2EE pages.
const e2eePassphrase = "lethe e2ee browser test: a passphrase the server never sees"

// joinPageE2EE is joinPage with the demo page's E2EE box ticked and
// passphrase typed in.
func (s *server) joinPageE2EE(t *testing.T, b *browser, name, room, passphrase string, publish bool) (*page, string) {
	t.Helper()
	uid := s.browserUser(name)
	p := b.newPage(t, name)
	p.open(s.pageURL(s.token(uid), uid, room))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#e2ee")),
		chromedp.SetValue(chromedp.CSS("#passphrase"), passphrase)); err != nil {
		t.Fatalf("%s: e2ee form: %v", name, err)
	}
	p.join(uid, room, publish)
	var on bool
	p.mustEval(`!!letheDemo.room.e2ee`, &on)
	if !on {
		t.Fatalf("%s: the room has no E2EE", name)
	}
	return p, p.participantID()
}

// testE2EEVectors: lethe-e2ee.js decrypts e2ee/testdata/vectors.json and,
// given the same IV, encrypts to the same bytes as the Go package.
func testE2EEVectors(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	pg := b.newPage(t, "vectors")
	pg.open(s.httpBase() + "/")
	raw, err := os.ReadFile("../e2ee/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var res []struct {
		Name      string `json:"name"`
		Decrypted bool   `json:"decrypted"`
		Encrypted bool   `json:"encrypted"`
		Clear     int    `json:"clear"`
		Tampered  string `json:"tampered"`
	}
	pg.mustEval(`(async (vs) => {
	  const m = await import("/lethe-e2ee.js");
	  const hex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
	  const toHex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
	  const out = [];
	  for (const v of vs) {
	    const ring = new m.KeyRing();
	    await ring.setSecret(v.keyIndex, v.secret);
	    const key = await ring.key(v.keyIndex, v.participant);
	    const enc = hex(v.encrypted);
	    const plain = await m.decryptFrame((i) => ring.key(i, v.participant), enc);
	    const iv = new Uint8Array(12);
	    iv.set(hex(v.salt), 0);
	    new DataView(iv.buffer).setBigUint64(4, BigInt(v.counter));
	    const again = await m.encryptFrame(key, v.keyIndex, iv, v.codec, hex(v.plain));
	    const bad = enc.slice(); bad[Math.floor(bad.length / 2)] ^= 1;
	    let tampered = "decrypted";
	    try { await m.decryptFrame((i) => ring.key(i, v.participant), bad); } catch (e) { tampered = e.message; }
	    out.push({name: v.name, decrypted: toHex(plain) === v.plain, encrypted: toHex(again) === v.encrypted,
	      clear: m.clearLen(v.codec, hex(v.plain)), tampered});
	  }
	  return out;
	})(`+string(raw)+`)`, &res)
	if len(res) == 0 {
		t.Fatal("no vectors checked")
	}
	for _, r := range res {
		if !r.Decrypted || !r.Encrypted || r.Tampered != "auth" {
			t.Errorf("vector %s: %+v", r.Name, r)
		}
	}
	t.Logf("lethe-e2ee.js on the shared vectors: %+v", res)

	// The browser's cost per frame (a figure for docs/performance.md,
	// never asserted): WebCrypto AES-GCM of a 1,250-byte VP8 inter frame,
	// encrypted and decrypted one after the other as the transforms do.
	var cost struct{ Encrypt, Decrypt float64 }
	pg.mustEval(`(async () => {
	  const m = await import("/lethe-e2ee.js");
	  const ring = new m.KeyRing();
	  await ring.setSecret(0, "bench");
	  const key = await ring.key(0, "p");
	  const frame = new Uint8Array(1250); frame[0] = 0x51;
	  const iv = new Uint8Array(12), n = 500, encs = [];
	  let t = performance.now();
	  for (let i = 0; i < n; i++) { iv[11] = i; encs.push(await m.encryptFrame(key, 0, iv.slice(), "video/VP8", frame)); }
	  const enc = (performance.now() - t) / n;
	  t = performance.now();
	  for (const e of encs) await m.decryptFrame(() => key, e);
	  return {Encrypt: enc * 1000, Decrypt: (performance.now() - t) / n * 1000};
	})()`, &cost)
	t.Logf("lethe-e2ee.js, 1,250-byte frame: encrypt %.0f µs, decrypt %.0f µs (WebCrypto, awaited one by one)", cost.Encrypt, cost.Decrypt)
}

// audioJS sums what the page's decoders made of the audio received from
// a participant: samples, and energy (Chromium's fake microphone beeps).
const audioJS = `(async (pid) => {
  const room = letheDemo.room;
  const rep = await room.subscriberPC.getStats();
  const mids = new Set();
  for (const p of room.participants.values()) for (const t of p.tracks.values()) if (t.mid != null && t.participantId === pid && t.kind === "audio") mids.add(t.mid);
  let samples = 0, energy = 0, packets = 0;
  for (const r of rep.values()) {
    if (r.type !== "inbound-rtp" || r.kind !== "audio" || !mids.has(r.mid)) continue;
    samples += r.totalSamplesReceived ?? 0; energy += r.totalAudioEnergy ?? 0; packets += r.packetsReceived ?? 0;
  }
  return {samples, energy, packets};
})(%q)`

type audioIn struct {
	Samples int     `json:"samples"`
	Energy  float64 `json:"energy"`
	Packets int     `json:"packets"`
}

// hearsAudio waits until the page has decoded audio with energy from pid.
func (p *page) hearsAudio(pid string, d time.Duration) audioIn {
	p.t.Helper()
	var a audioIn
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p.mustEval(fmt.Sprintf(audioJS, pid), &a)
		if a.Samples > 0 && a.Energy > 0 {
			return a
		}
		time.Sleep(300 * time.Millisecond)
	}
	p.t.Fatalf("%s: no audio with energy decoded from %s within %v: %+v; events %s", p.name, pid, d, a, p.events())
	return a
}

// testE2EEPages: alice and bob share the passphrase and see and hear
// each other; carol has another one: her page receives their packets,
// decodes none of their frames, and says so (e2eeerror "auth").
func testE2EEPages(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	alice, aliceID := s.joinPageE2EE(t, b, "alice", room, e2eePassphrase, true)
	bob, bobID := s.joinPageE2EE(t, b, "bob", room, e2eePassphrase, true)
	carol, _ := s.joinPageE2EE(t, b, "carol", room, "not the passphrase", false)

	video := bob.waitReceiving(aliceID, 10, true, 30*time.Second)
	if len(video) == 0 || video[0].Mime != "video/VP8" {
		t.Errorf("bob receives alice's video as %+v, want VP8 (E2EE sends VP8 only)", video)
	}
	alice.waitReceiving(bobID, 10, true, 30*time.Second)
	t.Logf("bob hears alice: %+v", bob.hearsAudio(aliceID, 15*time.Second))
	alice.hearsAudio(bobID, 15*time.Second)

	carol.waitJS(`letheDemo.events.some(e => e.type === "e2eeerror" && e.reason === "auth" && e.kind === "video")`, 20*time.Second)
	carol.waitJS(`letheDemo.events.some(e => e.type === "e2eeerror" && e.reason === "auth" && e.kind === "audio")`, 10*time.Second)
	// The demo page says so: a lock on the tiles that decrypt, a warning
	// on those that do not, and the header's badge.
	bob.waitJS(`(() => { const b = document.querySelector('.tile[data-pid=`+jsString(aliceID)+`]:not([data-tid]) .e2ee');
	  return b && !b.hidden && !b.classList.contains("bad") && !document.querySelector("#e2ee-badge").hidden; })()`, 10*time.Second)
	carol.waitJS(`document.querySelector('.tile[data-pid=`+jsString(aliceID)+`]:not([data-tid]) .e2ee.bad')?.textContent.includes("cannot decrypt")`, 10*time.Second)
	time.Sleep(2 * time.Second)
	var packets, frames int
	for _, in := range carol.inbound() {
		if in.ParticipantID == aliceID || in.ParticipantID == bobID {
			packets += in.PacketsReceived
			if in.Kind == "video" {
				frames += in.FramesDecoded
			}
		}
	}
	if packets < 100 || frames != 0 {
		t.Errorf("carol (wrong passphrase): %d packets received, %d frames decoded; want packets and no frame", packets, frames)
	}
	var a audioIn
	carol.mustEval(fmt.Sprintf(audioJS, aliceID), &a)
	if a.Energy != 0 {
		t.Errorf("carol (wrong passphrase) decoded audio of energy %v from alice", a.Energy)
	}
	t.Logf("carol: %d packets, %d frames decoded, audio %+v", packets, frames, a)

	// Rotation: both set a second secret at index 1, then alice sends
	// with it; bob goes on decoding her, and carol, without index 1, now
	// reports "nokey".
	var ok bool
	var errsBefore int
	bob.mustEval(`letheDemo.events.filter(e => e.type === "e2eeerror").length`, &errsBefore)
	for _, pg := range []*page{alice, bob} {
		pg.mustEval(`letheDemo.room.setE2EEKey("the second secret", 1, false).then(() => true)`, &ok)
	}
	alice.mustEval(`letheDemo.room.setE2EEKeyIndex(1).then(() => true)`, &ok)
	bob.waitReceiving(aliceID, 20, true, 20*time.Second)
	alice.waitReceiving(bobID, 10, true, 20*time.Second)
	carol.waitJS(`letheDemo.events.some(e => e.type === "e2eeerror" && e.reason === "nokey" && e.participantId === `+jsString(aliceID)+`)`, 20*time.Second)
	var errs int
	bob.mustEval(`letheDemo.events.filter(e => e.type === "e2eeerror").length`, &errs)
	if errs != errsBefore {
		t.Errorf("bob had %d e2eeerror events across the rotation: %s", errs-errsBefore, bob.events())
	}
}

// jsString quotes s for JavaScript.
func jsString(s string) string { return fmt.Sprintf("%q", s) }

// testE2EEGoClient: a Go client with the passphrase decrypts a page's
// frames (valid VP8 keyframe headers of a size the page sends) and its
// audio; the page decodes the Go client's encrypted synthetic VP8 and
// hears its Opus (the synthetic Opus is silence: packets then).
func testE2EEGoClient(t *testing.T) {
	leakCheck(t)
	ring, err := e2ee.NewRingWith([]byte(e2eePassphrase))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	pg, pageID := s.joinPageE2EE(t, b, "camera", room, e2eePassphrase, true)
	gc := s.join(t, "goe2ee", 0, room)

	// Go → page: encrypted synthetic VP8 and Opus.
	enc := ring.NewEncryptor(gc.ParticipantID())
	v, err := client.NewVP8Track("video-goe2ee", "stream-goe2ee", client.SourceOptions{KeyframeInterval: time.Second, E2EE: enc})
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.NewOpusTrack("audio-goe2ee", "stream-goe2ee", client.SourceOptions{E2EE: enc})
	if err != nil {
		t.Fatal(err)
	}
	if err := gc.Publish(ctxT(t, 10*time.Second), v, a); err != nil {
		t.Fatal(err)
	}
	srcCtx, stopSrc := context.WithCancel(context.Background())
	v.Start(srcCtx)
	a.Start(srcCtx)
	t.Cleanup(func() { stopSrc(); _ = v.Close(); _ = a.Close() })

	// Page → Go: decrypt what the page sends.
	type result struct {
		kind string
		st   client.FrameStats
		err  error
	}
	results := make(chan result, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := 0
	for got < 2 {
		select {
		case tr := <-gc.tracks:
			if tr.StreamID() != pageID {
				t.Fatalf("Go client got a track of %s, want the page's %s", tr.StreamID(), pageID)
			}
			got++
			fr, err := client.NewFrameReader(ring, tr.StreamID(), tr.Codec().MimeType)
			if err != nil {
				t.Fatalf("%s: %v", tr.Codec().MimeType, err)
			}
			go func() {
				rctx, rcancel := context.WithTimeout(ctx, 6*time.Second)
				defer rcancel()
				err := fr.Run(rctx, tr)
				if err == context.DeadlineExceeded {
					err = nil
				}
				results <- result{kind: tr.Kind().String(), st: fr.Stats(), err: err}
			}()
		case <-time.After(20 * time.Second):
			t.Fatalf("Go client received %d of 2 tracks from the page", got)
		}
	}
	var sizes []struct{ W, H int }
	pg.mustEval(`(async () => {
	  const rep = await letheDemo.room.publisherPC.getStats();
	  return [...rep.values()].filter((r) => r.type === "outbound-rtp" && r.kind === "video" && r.frameWidth)
	    .map((r) => ({W: r.frameWidth, H: r.frameHeight}));
	})()`, &sizes)
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v", r.kind, r.err)
		}
		if r.st.Decrypted < 20 || r.st.Failed > r.st.Frames/10 {
			t.Errorf("%s from the page: %+v, want frames decrypted", r.kind, r.st)
		}
		if r.kind == "video" {
			ok := false
			for _, sz := range sizes {
				ok = ok || (sz.W == r.st.Width && sz.H == r.st.Height)
			}
			if r.st.Keyframes == 0 || !ok {
				t.Errorf("page's video: %d keyframes decrypted, last %dx%d; the page sends %+v", r.st.Keyframes, r.st.Width, r.st.Height, sizes)
			}
		}
		t.Logf("Go client decrypts the page's %s: %+v", r.kind, r.st)
	}

	video := pg.waitReceiving(gc.ParticipantID(), 10, true, 30*time.Second)
	if len(video) == 0 || !strings.EqualFold(video[0].Mime, webrtc.MimeTypeVP8) {
		t.Errorf("page receives the Go client's video as %+v", video)
	}
	pg.mustEval(`letheDemo.events.filter(e => e.type === "e2eeerror").length`, &got)
	t.Logf("page decodes the Go client's encrypted VP8: %+v; e2eeerror events %d", video, got)
	if vs := v.Stats(); vs.Frames == 0 {
		t.Error("the Go client sent no frame")
	}
}
