// app.js — Lethe's demo page: join a room, see and hear everyone, mute,
// share a screen, watch who speaks and how the connection is doing.
// Everything it does with the server goes through lethe.js.
import { Room, LetheError, parseRoom, validName } from "/lethe.js";

const $ = (id) => document.getElementById(id);

// window.letheDemo is for people poking at the page (and for the browser tests).
const demo = { room: null, events: [], dev: false, simulcast: true, svc: null, adaptive: true };
window.letheDemo = demo;

let statsTimer = null;
let creds = null; // {userSig, app, pmk} from the URL fragment or the paste box

function record(type, detail = {}) {
  demo.events.push({ type, at: Date.now(), ...detail });
  if (demo.events.length > 500) demo.events.shift();
}

// ---- the lobby ------------------------------------------------------------

async function init() {
  try {
    const r = await fetch("/config.json", { cache: "no-store" });
    demo.dev = r.ok && (await r.json()).dev === true;
  } catch { demo.dev = false; }
  readFragment();
  const manual = !!creds;
  $("token-box").hidden = demo.dev && !manual;
  $("dev-note").hidden = !demo.dev || manual;
  $("join-form").addEventListener("submit", (e) => { e.preventDefault(); join(); });
  $("leave").addEventListener("click", () => demo.room?.leave());
  $("chat-form").addEventListener("submit", (e) => { e.preventDefault(); sendChat(); });
  $("mic").addEventListener("click", () => toggleMute("audio", $("mic"), "Mute mic", "Unmute mic"));
  $("cam").addEventListener("click", () => toggleMute("video", $("cam"), "Stop camera", "Start camera"));
  $("screen").addEventListener("click", toggleScreen);
  $("toggle-stats").addEventListener("click", () => {
    const on = document.body.classList.toggle("hide-stats");
    $("toggle-stats").setAttribute("aria-pressed", String(!on));
  });
  window.addEventListener("pagehide", () => { demo.room?.leave(); });
  document.body.dataset.ready = "1";
}

// readFragment takes #token=...&app=...[&pmk=...&room=...&user=...] and
// removes it from the address bar, so the token is not left in history.
function readFragment() {
  if (location.hash.length < 2) return;
  const f = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, "", location.pathname + location.search);
  demo.relay = f.get("relay") === "1"; // #relay=1: the server's TURN relay only
  // #simulcast=0: the camera as one encoding; #adaptive=0: no element sizes
  // sent (each subscriber gets the best its downlink carries).
  demo.simulcast = f.get("simulcast") !== "0";
  // #codec=vp9: the camera as one VP9 encoding with SVC layers (L3T3_KEY).
  demo.svc = f.get("codec") === "vp9" ? "L3T3_KEY" : null;
  demo.adaptive = f.get("adaptive") !== "0";
  const token = f.get("token");
  if (!token) return;
  creds = { userSig: token, app: f.get("app") || "", pmk: f.get("pmk") || "" };
  $("token").value = token;
  $("pmk").value = creds.pmk;
  // A JWT's payload names the user, the app and maybe the room: fill them in.
  const claims = jwtClaims(token);
  $("app").value = creds.app || (claims?.sdkappid ? String(claims.sdkappid) : "");
  const user = f.get("user") || claims?.sub;
  const room = f.get("room") || claims?.strRoomId || (claims?.roomId ? String(claims.roomId) : "");
  if (user) $("name").value = user;
  if (room) $("room").value = room;
}

function jwtClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
  } catch {
    return null;
  }
}

async function joinParams(name, roomText) {
  const token = $("token").value.trim();
  if (token) {
    const app = Number($("app").value.trim());
    if (!Number.isInteger(app) || app < 1 || app > 4294967295) throw new Error("SDKAppID must be a number");
    return { sdkAppId: app, userId: name, userSig: token, privateMapKey: $("pmk").value.trim() || undefined, ...parseRoom(roomText) };
  }
  if (!demo.dev) throw new Error("paste a token (this server is not in dev mode)");
  const q = new URLSearchParams({ user: name, room: roomText });
  const r = await fetch("/v1/dev/token?" + q, { cache: "no-store" });
  if (!r.ok) throw new Error(`dev token: ${r.status} ${(await r.text()).trim()}`);
  const t = await r.json();
  const room = t.roomId ? { roomId: t.roomId } : { strRoomId: t.strRoomId };
  return { sdkAppId: t.sdkAppId, userId: t.userId, userSig: t.userSig, privateMapKey: t.privateMapKey || undefined, ...room };
}

async function join() {
  $("lobby-error").textContent = "";
  const name = $("name").value.trim().replace(/\s+/g, "_");
  const roomText = $("room").value.trim();
  if (!validName(name)) { $("lobby-error").textContent = "Name: 1-64 characters, no spaces."; return; }
  if (!validName(roomText)) { $("lobby-error").textContent = "Room: 1-64 characters, no spaces."; return; }
  $("join").disabled = true;
  try {
    const params = { ...(await joinParams(name, roomText)), data: true }; // the chat
    const opts = { simulcast: demo.simulcast, svc: demo.svc, adaptiveStream: demo.adaptive };
    if (demo.relay) opts.iceTransportPolicy = "relay";
    if ($("e2ee").checked) {
      const passphrase = $("passphrase").value;
      if (!passphrase) throw new Error("End-to-end encryption needs a passphrase");
      opts.e2ee = { passphrase };
    }
    const room = new Room(opts);
    demo.room = room;
    wire(room, name);
    await room.join(params);
    $("lobby").hidden = true;
    $("call").hidden = false;
    addLocalTile(name);
    if ($("publish").checked && room.permissions?.send?.length !== 0) await publishCamera(room);
    statsTimer = setInterval(updateStats, 1000);
  } catch (err) {
    $("lobby-error").textContent = describe(err);
    record("joinfailed", { code: err.code ?? null });
    demo.room = null;
  } finally {
    $("join").disabled = false;
  }
}

async function publishCamera(room) {
  const send = room.permissions?.send ?? ["audio", "video"];
  const want = { audio: send.includes("audio"), video: send.includes("video") };
  try {
    await room.publishCamera(want);
  } catch (err) {
    if (want.video && want.audio) {
      try { await room.publishCamera({ audio: true, video: false }); } catch { /* receive only */ }
    }
    $("call-error").textContent = "Camera/microphone: " + describe(err);
  }
  refreshLocalTile();
}

function describe(err) {
  if (err instanceof LetheError) return `${err.message} (${err.code})`;
  return err?.message || String(err);
}

// ---- room events → tiles ---------------------------------------------------

function wire(room, name) {
  room.addEventListener("statechange", (e) => {
    const { state, reason } = e.detail;
    const st = $("status");
    st.dataset.state = state;
    st.textContent = state + (reason && state !== "joined" ? ` — ${reason}` : "");
    record("statechange", { state });
  });
  room.addEventListener("connectionstatechange", (e) => {
    const c = e.detail;
    $("conn").textContent = `signal: ${c.signal} · publisher: ${c.publisher} · subscriber: ${c.subscriber}`;
  });
  room.addEventListener("joined", (e) => {
    const s = e.detail.server;
    $("server").textContent = `Lethe ${s.version}` + (s.enforced ? " · media worker locked down" : " · NOT ENFORCED: " + (s.warnings || []).join("; "));
    record("joined", { participantId: e.detail.participantId });
  });
  room.addEventListener("participantjoined", (e) => {
    addRemoteTile(e.detail.participant);
    record("participantjoined", { participantId: e.detail.participant.participantId });
  });
  room.addEventListener("participantleft", (e) => {
    const p = e.detail.participant;
    document.querySelectorAll(`[data-pid="${p.participantId}"]`).forEach((el) => el.remove());
    record("participantleft", { participantId: p.participantId });
  });
  room.addEventListener("tracksubscribed", (e) => {
    const { track, participant } = e.detail;
    if (track.screen) addScreenTile(participant, track);
    else refreshRemoteTile(participant);
    record("tracksubscribed", { participantId: participant.participantId, trackId: track.trackId, kind: track.kind });
  });
  room.addEventListener("trackunsubscribed", (e) => {
    const { track, participant } = e.detail;
    document.querySelector(`[data-tid="${track.trackId}"]`)?.remove();
    if (participant) refreshRemoteTile(participant);
    record("trackunsubscribed", { participantId: track.participantId, trackId: track.trackId, kind: track.kind });
  });
  room.addEventListener("trackpublished", (e) => record("trackpublished", { participantId: e.detail.participant.participantId, trackId: e.detail.track.trackId, kind: e.detail.track.kind, screen: e.detail.track.screen }));
  room.addEventListener("localtrackpublished", (e) => record("localtrackpublished", { trackId: e.detail.track.trackId, kind: e.detail.track.kind, screen: e.detail.track.screen }));
  room.addEventListener("trackmuted", (e) => {
    const { participant } = e.detail;
    if (participant) refreshRemoteTile(participant);
    else refreshLocalTile();
    record("trackmuted", { trackId: e.detail.track.trackId, muted: e.detail.muted });
  });
  room.addEventListener("trackpaused", (e) => {
    refreshRemoteTile(e.detail.participant);
    record("trackpaused", { trackId: e.detail.track.trackId, reason: e.detail.reason });
  });
  room.addEventListener("trackresumed", (e) => {
    refreshRemoteTile(e.detail.participant);
    record("trackresumed", { trackId: e.detail.track.trackId });
  });
  room.addEventListener("e2eeerror", (e) => record("e2eeerror", { participantId: e.detail.participantId, kind: e.detail.kind, reason: e.detail.reason, count: e.detail.count }));
  // Who speaks, as the server says (from the audio levels in everyone's
  // packets): each speaker's tile lights up, the loudest one most.
  room.addEventListener("speakers", (e) => {
    const list = e.detail.speakers;
    document.querySelectorAll(".tile.speaking").forEach((el) => el.classList.remove("speaking", "active-speaker"));
    list.forEach((s, i) => {
      const el = s.local ? document.querySelector(".tile.local") : document.querySelector(`.tile[data-pid="${s.participantId}"]:not([data-tid])`);
      el?.classList.add("speaking");
      if (i === 0) el?.classList.add("active-speaker");
    });
    record("speakers", { speakers: list.map((s) => ({ participantId: s.participantId, local: s.local, level: s.level })) });
  });
  room.addEventListener("tracklayer", (e) => record("tracklayer", { trackId: e.detail.track.trackId, rid: e.detail.rid, index: e.detail.index }));
  room.addEventListener("layerswanted", (e) => record("layerswanted", { trackId: e.detail.track.trackId, layers: e.detail.layers }));
  room.addEventListener("reconnecting", (e) => record("reconnecting", { attempt: e.detail.attempt }));
  room.addEventListener("icerestart", (e) => record("icerestart", { target: e.detail.target, by: e.detail.by }));
  room.addEventListener("goingaway", (e) => record("goingaway", { code: e.detail.code }));
  room.addEventListener("reconnected", (e) => {
    record("reconnected", { participantId: e.detail.participantId });
    refreshLocalTile();
  });
  room.addEventListener("error", (e) => {
    $("call-error").textContent = `${e.detail.message} (${e.detail.code})`;
    record("error", { code: e.detail.code });
  });
  room.addEventListener("data", (e) => {
    const d = e.detail;
    if (d.topic !== "chat" || !d.text) return;
    chatLine(d.participant?.userId ?? d.from, d.data, d.private);
    record("chat", { from: d.from });
  });
  room.addEventListener("datarejected", (e) => {
    $("call-error").textContent = `chat: ${e.detail.message} (${e.detail.code})`;
    record("datarejected", { code: e.detail.code, dropped: e.detail.dropped });
  });
  room.addEventListener("closed", (e) => {
    clearInterval(statsTimer);
    record("closed", { code: e.detail.code });
    $("tiles").replaceChildren();
    $("chat-log").replaceChildren();
    $("call").hidden = true;
    $("lobby").hidden = false;
    if (e.detail.code) $("lobby-error").textContent = `Disconnected: ${e.detail.reason} (${e.detail.code})`;
    if (demo.room === room) demo.room = null;
    demo.lastRoom = room;
  });
  void name;
}

function tile(key, label, local) {
  const el = document.createElement("div");
  el.className = "tile" + (local ? " local" : "");
  const v = document.createElement("video");
  v.autoplay = true;
  v.playsInline = true;
  v.muted = local;
  const nv = document.createElement("div");
  nv.className = "novideo";
  nv.textContent = label.slice(0, 1).toUpperCase();
  const lab = document.createElement("div");
  lab.className = "label";
  const name = document.createElement("span");
  name.textContent = label;
  const flags = document.createElement("span");
  flags.className = "flags";
  const level = document.createElement("span");
  level.className = "level";
  level.append(document.createElement("i"));
  lab.append(level, name, flags);
  const stats = document.createElement("pre");
  stats.className = "stats";
  el.append(nv, v, lab, stats);
  Object.assign(el.dataset, key);
  $("tiles").append(el);
  return el;
}

function setStream(el, tracks) {
  const v = el.querySelector("video");
  const have = v.srcObject ? v.srcObject.getTracks() : [];
  if (have.length === tracks.length && have.every((t, i) => t === tracks[i])) return;
  v.srcObject = tracks.length ? new MediaStream(tracks) : null;
  el.querySelector(".novideo").hidden = tracks.some((t) => t.kind === "video");
  if (tracks.length) v.play().catch(() => {});
}

function addLocalTile(name) {
  tile({ local: "1" }, `${name} (you)`, true);
}

function refreshLocalTile() {
  const el = document.querySelector(".tile.local");
  const room = demo.room;
  if (!el || !room) return;
  const cam = room.localTracks.filter((lt) => !lt.screen && lt.kind === "video" && !lt.muted);
  setStream(el, cam.map((lt) => lt.mediaStreamTrack));
  el.querySelector(".novideo").hidden = cam.length > 0;
  const mic = room.localTracks.find((lt) => lt.kind === "audio");
  el.querySelector(".flags").textContent = [mic?.muted ? "mic off" : "", mic?.blocked ? "blocked" : ""].filter(Boolean).join(" ");
}

function addRemoteTile(p) {
  if (document.querySelector(`.tile[data-pid="${p.participantId}"]:not([data-tid])`)) return;
  tile({ pid: p.participantId }, p.userId, false);
  refreshRemoteTile(p);
}

function refreshRemoteTile(p) {
  const el = document.querySelector(`.tile[data-pid="${p.participantId}"]:not([data-tid])`);
  if (!el) return;
  setStream(el, p.stream.getTracks());
  const tracks = [...p.tracks.values()].filter((t) => !t.screen);
  const video = tracks.find((t) => t.kind === "video");
  // Through lethe.js, so that the tile's size picks the layer it gets.
  if (video?.mediaStreamTrack) demo.room?.attach(video, el.querySelector("video"));
  el.querySelector(".novideo").hidden = !!(video && video.mediaStreamTrack && !video.muted);
  const audio = tracks.find((t) => t.kind === "audio");
  el.querySelector(".flags").textContent = [
    !audio ? "no mic" : audio.muted ? "mic off" : "",
    video?.muted ? "camera off" : "",
    video?.paused ? "paused: slow link" : "",
    tracks.some((t) => t.blocked) ? "blocked" : "",
  ].filter(Boolean).join(" ");
}

function addScreenTile(p, t) {
  if (document.querySelector(`[data-tid="${t.trackId}"]`)) return;
  const el = tile({ pid: p.participantId, tid: t.trackId }, `${p.userId} (screen)`, false);
  setStream(el, [t.mediaStreamTrack]);
  demo.room?.attach(t, el.querySelector("video"));
}

// ---- controls -------------------------------------------------------------

async function toggleMute(kind, button, onText, offText) {
  const room = demo.room;
  const lts = room?.localTracks.filter((lt) => lt.kind === kind && !lt.screen) ?? [];
  if (!lts.length) return;
  const muted = !lts[0].muted;
  try {
    for (const lt of lts) await room.mute(lt, muted);
    button.textContent = muted ? offText : onText;
    button.classList.toggle("on", muted);
  } catch (err) {
    $("call-error").textContent = describe(err);
  }
  refreshLocalTile();
}

async function toggleScreen() {
  const room = demo.room;
  if (!room) return;
  const shared = room.localTracks.filter((lt) => lt.screen);
  try {
    if (shared.length) {
      for (const lt of shared) await room.unpublish(lt);
    } else {
      await room.publishScreen();
    }
  } catch (err) {
    $("call-error").textContent = "Screen: " + describe(err);
  }
  $("screen").textContent = room.localTracks.some((lt) => lt.screen) ? "Stop sharing" : "Share screen";
}

// ---- statistics and audio levels --------------------------------------------

const kbps = (b) => (b == null ? "–" : `${Math.round(b / 1000)} kbit/s`);
const ms = (s) => (s == null ? "–" : `${Math.round(s * 1000)} ms`);

async function updateStats() {
  const room = demo.room;
  if (!room || room.state === "closed") return;
  let st;
  try { st = await room.stats(); } catch { return; }
  demo.lastStats = st;
  // Local tile: what we send.
  const local = document.querySelector(".tile.local");
  if (local) {
    const cams = st.local.filter((x) => x.kind === "video" && !x.track.screen);
    const v = cams.filter((x) => x.active !== false).sort((a, b) => (b.frameWidth ?? 0) - (a.frameWidth ?? 0))[0];
    // Simulcast: each layer's rid, "–" for one nobody receives (dynacast).
    const layers = cams.filter((x) => x.rid).map((x) => x.rid + (x.active === false ? "–" : "")).join(" ");
    const a = st.local.find((x) => x.kind === "audio");
    const sent = st.local.reduce((n, x) => n + (x.bitrate ?? 0), 0);
    const lost = st.local.reduce((n, x) => n + (x.packetsLost ?? 0), 0);
    local.querySelector(".stats").textContent =
      `↑ ${kbps(sent)}\nlost ${lost} · rtt ${ms(st.publisher.rtt)}` + (v?.frameWidth ? `\n${v.frameWidth}×${v.frameHeight}` : "") +
      (layers ? `\nlayers ${layers}` : "");
    setLevel(local, a && !a.track.muted ? a.audioLevel : 0);
  }
  // Remote tiles: what we receive from each participant.
  const per = new Map();
  for (const r of st.remote) {
    const pid = r.track.participantId;
    if (!per.has(pid)) per.set(pid, { bitrate: 0, lost: 0, video: null, audio: null });
    const x = per.get(pid);
    x.bitrate += r.bitrate ?? 0;
    x.lost += r.packetsLost ?? 0;
    if (r.kind === "video" && !r.track.screen) x.video = r;
    if (r.kind === "audio") x.audio = r;
  }
  for (const [pid, x] of per) {
    const el = document.querySelector(`.tile[data-pid="${pid}"]:not([data-tid])`);
    if (!el) continue;
    el.querySelector(".stats").textContent =
      `↓ ${kbps(x.bitrate)}\nlost ${x.lost} · rtt ${ms(st.subscriber.rtt)}` +
      (x.video?.frameWidth ? `\n${x.video.frameWidth}×${x.video.frameHeight} · ${x.video.framesDecoded} frames` : "") +
      (x.video?.layer ? `\nlayer ${x.video.layer}` : "");
    setLevel(el, x.audio && !x.audio.track.muted ? x.audio.audioLevel : 0);
  }
}

function setLevel(el, level) {
  const l = Math.max(0, Math.min(1, level ?? 0));
  el.querySelector(".level i").style.width = `${Math.round(Math.sqrt(l) * 100)}%`;
}

init();

// ---- chat (data messages, topic "chat") -------------------------------------

function chatLine(who, text, priv) {
  const li = document.createElement("li");
  const b = document.createElement("b");
  b.textContent = who + (priv ? " (to you)" : "");
  li.append(b, document.createTextNode(" " + text)); // text, never HTML
  $("chat-log").append(li);
  while ($("chat-log").children.length > 200) $("chat-log").firstElementChild.remove();
  li.scrollIntoView({ block: "nearest" });
}

async function sendChat() {
  const text = $("chat-text").value.trim();
  if (!text || !demo.room) return;
  try {
    await demo.room.sendData(text, { topic: "chat" });
    chatLine("you", text, false);
    $("chat-text").value = "";
  } catch (err) {
    $("call-error").textContent = describe(err);
  }
}
