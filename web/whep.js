// A minimal WHEP player (docs/whip.md): it offers to receive one video and
// one audio track, POSTs the offer to /v1/whep with the token of the URL
// fragment, shows what comes, and DELETEs the session when the page goes.
// window.whep exposes the PeerConnection and the session's state for tests.

const status = document.getElementById("status");
const video = document.getElementById("video");
const whep = { state: "starting", error: "", location: "", pc: null };
window.whep = whep;

function say(state, error = "") {
  whep.state = state;
  whep.error = error;
  status.textContent = error ? `${state}: ${error}` : state;
}

async function play() {
  const f = new URLSearchParams(location.hash.slice(1));
  const token = f.get("token");
  if (!token) {
    say("idle", "no token in the URL fragment");
    return;
  }
  const q = new URLSearchParams();
  for (const k of ["room", "strRoom", "participant"]) {
    if (f.get(k)) q.set(k, f.get(k));
  }
  const pc = new RTCPeerConnection();
  whep.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  video.srcObject = stream;
  pc.ontrack = (e) => stream.addTrack(e.track);
  pc.onconnectionstatechange = () => say(pc.connectionState);
  await pc.setLocalDescription(await pc.createOffer());
  // Wait for the candidates (at most 2 s): one request, no trickle.
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 2000);
  });
  const resp = await fetch("/v1/whep?" + q, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: "Bearer " + token },
    body: pc.localDescription.sdp,
  });
  if (resp.status !== 201) {
    say("refused", `${resp.status} ${(await resp.text()).trim()}`);
    pc.close();
    return;
  }
  whep.location = resp.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  say("connecting");
  addEventListener("pagehide", () => {
    fetch(whep.location, { method: "DELETE", headers: { Authorization: "Bearer " + token }, keepalive: true });
  });
}

play().catch((e) => say("failed", String(e)));
