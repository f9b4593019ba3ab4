// app.js — Lethe's demo page: join a room, see and hear everyone in a
// grid, pick the camera, microphone and speaker, mute, share a screen,
// chat, encrypt end to end, see who speaks and how each connection is
// doing, and read a plain sentence for every error. Everything it does
// with the server goes through lethe.js. No framework, no build step.
import { Room, LetheError, parseRoom, validName } from "/lethe.js";

const $ = (id) => document.getElementById(id);

// window.letheDemo is for people poking at the page (and for the browser tests).
const demo = { room: null, events: [], dev: false, simulcast: true, svc: null, adaptive: true, errorText: null };
window.letheDemo = demo;

let statsTimer = null;
let creds = null; // {userSig, app, pmk} from the URL fragment or the paste box
let myName = "";

function record(type, detail = {}) {
  demo.events.push({ type, at: Date.now(), ...detail });
  if (demo.events.length > 500) demo.events.shift();
}

// ---- what every error code means to a person ----------------------------------
//
// Keyed by the codes of docs/protocol.md section 5 (signaling/codes.go) and
// lethe.js's own local ones (below 1000): what happened, and what to do.
// web/errortext_test.go checks that every code of section 5 is here.
const ERRORS = {
  // lethe.js, never sent by the server
  1: ["The server did not answer in time.", "Check your network and try again."],
  2: ["The connection to the server closed.", "Check that the server is running and reachable, then join again."],
  3: ["Your token does not allow this.", "Ask for a token with the privilege (e.g. to send video or share a screen)."],
  4: ["That cannot be done right now.", "Wait until you are in the room, or join again."],
  5: ["This browser cannot do end-to-end encryption.", "Use a recent Chromium, Chrome, Edge, Safari or Firefox, or join without encryption."],
  // the server: your message was wrong
  1000: ["The server could not read a message from this page.", "Reload the page; if it keeps happening, report it."],
  1001: ["The server did not know a message this page sent.", "The page and the server may be of different versions: reload."],
  1002: ["A message was too large for the server.", "Send something shorter."],
  1003: ["Too many messages in too little time: the server closed the connection.", "Wait a moment, then join again."],
  1004: ["A field sent to the server was missing or out of range.", "Check the room and name (1-64 characters, no spaces)."],
  1005: ["The server got a request at the wrong moment.", "Leave and join again."],
  1006: ["Joining took too long.", "Check your network and join again."],
  // your token was refused
  2000: ["The token is not a valid token.", "Paste the whole UserSig, exactly as your backend or `lethe token` gave it."],
  2001: ["The token's signature is wrong: it was not signed by a key of this application.", "Get a new token from your backend or `lethe token` for this server."],
  2002: ["The token has expired, or is not valid yet.", "Get a fresh token; check this computer's clock."],
  2003: ["This server has no such application (SDKAppID), or the token is for another one.", "Check the SDKAppID beside the token."],
  2004: ["The token was issued for another user name.", "Join with the name the token was made for, or get a token for this name."],
  2005: ["The token is for another room.", "Join the room the token names, or get a token for this room."],
  2006: ["The token was signed with a key this application no longer has (revoked or unknown).", "Get a new token signed with a current key."],
  2007: ["This token was withdrawn when you were removed from the room.", "Ask the operator; a new token is needed."],
  2008: ["Your token lacks a privilege for this (to enter, to create the room, or to be an anchor).", "Ask for a token with that privilege, or wait until someone opens the room."],
  2009: ["This application requires a privateMapKey.", "Paste the privateMapKey your backend gave you for this room."],
  2010: ["The token is valid for longer than this application allows.", "Ask your backend for a token with a shorter lifetime."],
  2011: ["This application needs a signed statement of your consent, and the token carries none.", "Your backend must issue a token with the consent claim."],
  // the server failed
  3000: ["The server had an internal error.", "Try again; if it keeps happening, tell the operator."],
  3001: ["No media worker could take the call, or the one hosting the room stopped.", "Join again in a moment."],
  3002: ["The server is shutting down.", "Join again later, or on another server."],
  3003: ["The server is restarting and moved everyone out.", "Rejoining by itself…"],
  3004: ["The server is draining and takes no new calls.", "Try another server, or this one later."],
  // media or the room refused you
  4000: ["The server could not use this browser's media description (SDP).", "Reload the page; try another browser if it keeps happening."],
  4001: ["That track is no longer in the room.", "Nothing to do: it left."],
  4002: ["Your role or the server's limits do not allow this.", "Audience members cannot send; at most 8 tracks per connection."],
  4003: ["The media connection failed (ICE/DTLS): no network path to the server.", "Check firewalls and VPNs; UDP may be blocked: a TURN relay helps."],
  4004: ["The room is full.", "Try later, or another room."],
  4005: ["The room has as many anchors as it may.", "Join as audience, or wait until an anchor leaves."],
  4006: ["The message is too large to send.", "Send a shorter one (at most 16 KiB)."],
  4007: ["You are sending messages too fast.", "Wait a moment before sending more."],
  4008: ["Your token does not allow sending messages.", "You can read the chat, not write in it."],
  4009: ["The message was refused: malformed, or addressed to someone no longer in the room.", "Check who you are writing to."],
  // an operator acted
  5000: ["An operator removed you from the room.", "You cannot rejoin with the same token."],
  5001: ["An operator closed the room.", "The call is over."],
};

/**
 * errorText is the sentence for a code, and what to do; for an unknown one,
 * what its range says (protocol section 5).
 */
function errorText(code, detail) {
  let e = ERRORS[code];
  if (!e) {
    const range = { 1: "The server did not accept a message from this page.", 2: "Your token or privileges were refused.", 3: "The server failed.", 4: "The room or a media request refused you.", 5: "An operator acted on your session." }[Math.floor(code / 1000)];
    e = [range || "Something went wrong.", "Try again."];
  }
  return { code, text: e[0], todo: e[1], detail: detail || "" };
}
demo.errorText = errorText;

function describe(err) {
  if (err instanceof LetheError || typeof err?.code === "number") return errorText(err.code, err.message);
  if (err?.name === "NotAllowedError") return { code: null, text: "The browser was not allowed to use the camera, microphone or screen.", todo: "Allow it in the address bar's site settings.", detail: err.message };
  if (err?.name === "NotFoundError") return { code: null, text: "No such camera or microphone.", todo: "Plug one in, or pick another in the device lists.", detail: err.message };
  if (err?.name === "NotReadableError") return { code: null, text: "The camera or microphone is in use by another program.", todo: "Close the other program, or pick another device.", detail: err.message };
  return { code: null, text: err?.message || String(err), todo: "", detail: "" };
}

// showError fills el (the lobby's message or the call's banner) with a
// described error: text nodes only.
function showError(el, d, prefix = "") {
  const b = document.createElement("b");
  b.textContent = prefix + d.text;
  const parts = [b];
  if (d.todo) parts.push(document.createTextNode(" " + d.todo));
  if (d.code != null) {
    const c = document.createElement("small");
    c.textContent = ` (code ${d.code}${d.detail && d.detail !== d.text ? ": " + d.detail : ""})`;
    parts.push(c);
  }
  el.replaceChildren(...parts);
  if (d.code != null) el.dataset.code = String(d.code);
  else delete el.dataset.code;
}

// banner shows a message over the call: kind "error", "warn" or "info".
function banner(kind, d, prefix) {
  const el = $("banner");
  el.dataset.kind = kind;
  showError($("banner-text"), d, prefix);
  el.hidden = false;
}
function clearBanner(kind) {
  if (!kind || $("banner").dataset.kind === kind) $("banner").hidden = true;
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
  $("e2ee").addEventListener("change", () => { $("passphrase-row").hidden = !$("e2ee").checked; });
  $("passphrase-row").hidden = !$("e2ee").checked;
  $("join-form").addEventListener("submit", (e) => { e.preventDefault(); join(); });
  $("leave").addEventListener("click", () => demo.room?.leave());
  $("chat-form").addEventListener("submit", (e) => { e.preventDefault(); sendChat(); });
  $("mic").addEventListener("click", () => toggleMute("audio"));
  $("cam").addEventListener("click", () => toggleMute("video"));
  $("screen").addEventListener("click", toggleScreen);
  $("chat-toggle").addEventListener("click", () => setChatOpen($("chat").hidden, true));
  $("chat-close").addEventListener("click", () => setChatOpen(false));
  $("banner-close").addEventListener("click", () => clearBanner());
  $("toggle-stats").addEventListener("click", () => {
    const off = document.body.classList.toggle("hide-stats");
    $("toggle-stats").setAttribute("aria-pressed", String(!off));
  });
  for (const [id, kind] of [["cam-select", "videoinput"], ["mic-select", "audioinput"], ["spk-select", "audiooutput"]]) {
    $(id).addEventListener("change", () => pickDevice(kind, $(id).value));
  }
  navigator.mediaDevices?.addEventListener?.("devicechange", () => fillDevices());
  fillDevices();
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
    if (!Number.isInteger(app) || app < 1 || app > 4294967295) throw new Error("SDKAppID must be a number from 1 to 4294967295.");
    return { sdkAppId: app, userId: name, userSig: token, privateMapKey: $("pmk").value.trim() || undefined, ...parseRoom(roomText) };
  }
  if (!demo.dev) throw new Error("Paste a token: this server is not in dev mode, so it mints none.");
  const q = new URLSearchParams({ user: name, room: roomText });
  const r = await fetch("/v1/dev/token?" + q, { cache: "no-store" });
  if (!r.ok) throw new Error(`The server's dev token endpoint said ${r.status}: ${(await r.text()).trim()}`);
  const t = await r.json();
  const room = t.roomId ? { roomId: t.roomId } : { strRoomId: t.strRoomId };
  return { sdkAppId: t.sdkAppId, userId: t.userId, userSig: t.userSig, privateMapKey: t.privateMapKey || undefined, ...room };
}

async function join() {
  const err = (text) => showError($("lobby-error"), { code: null, text, todo: "" });
  $("lobby-error").replaceChildren();
  const name = $("name").value.trim().replace(/\s+/g, "_");
  const roomText = $("room").value.trim();
  if (!validName(name)) return err("Name: 1-64 characters, no spaces.");
  if (!validName(roomText)) return err("Room: 1-64 characters, no spaces.");
  $("join").disabled = true;
  try {
    const params = { ...(await joinParams(name, roomText)), data: true }; // the chat
    const opts = { simulcast: demo.simulcast, svc: demo.svc, adaptiveStream: demo.adaptive };
    if (demo.relay) opts.iceTransportPolicy = "relay";
    if ($("e2ee").checked) {
      const passphrase = $("passphrase").value;
      if (!passphrase) throw new Error("End-to-end encryption needs a passphrase: everyone in the room types the same one.");
      opts.e2ee = { passphrase };
    }
    const room = new Room(opts);
    demo.room = room;
    myName = name;
    wire(room);
    await room.join(params);
    $("lobby").hidden = true;
    $("call").hidden = false;
    $("room-name").textContent = roomText;
    $("e2ee-badge").hidden = !room.e2ee;
    addLocalTile(name);
    setChatOpen(window.matchMedia("(min-width: 760px)").matches);
    fillChatTo();
    syncButtons();
    if ($("publish").checked && room.permissions?.send?.length !== 0) await publishCamera(room);
    $("screen").disabled = !(room.permissions?.send ?? ["screen"]).includes("screen");
    fillDevices();
    statsTimer = setInterval(updateStats, 1000);
  } catch (e) {
    showError($("lobby-error"), describe(e), "Could not join: ");
    record("joinfailed", { code: e.code ?? null });
    demo.room = null;
  } finally {
    $("join").disabled = false;
  }
}

async function publishCamera(room) {
  const send = room.permissions?.send ?? ["audio", "video"];
  const want = { audio: send.includes("audio"), video: send.includes("video") };
  const audio = want.audio && constraint("audioinput", true);
  const video = want.video && constraint("videoinput", demo.simulcast || demo.svc ? { width: { ideal: 1280 }, height: { ideal: 720 } } : true);
  try {
    await room.publishCamera({ audio, video });
  } catch (err) {
    if (want.video && want.audio) {
      try { await room.publishCamera({ audio, video: false }); } catch { /* receive only */ }
    }
    banner("error", describe(err), "Camera/microphone: ");
  }
  refreshLocalTile();
  syncButtons();
}

// ---- devices ----------------------------------------------------------------
//
// The choices are remembered in localStorage by device id (nothing else is
// stored: never a token or a passphrase). A remembered device that is gone
// is only "ideal": the browser picks another.

const DEVICE_KEY = { videoinput: "lethe.camera", audioinput: "lethe.microphone", audiooutput: "lethe.speaker" };
const SELECT = { videoinput: "cam-select", audioinput: "mic-select", audiooutput: "spk-select" };

function remembered(kind) {
  try { return localStorage.getItem(DEVICE_KEY[kind]) || ""; } catch { return ""; }
}
function remember(kind, id) {
  try { localStorage.setItem(DEVICE_KEY[kind], id); } catch { /* private mode */ }
}

// constraint is getUserMedia's constraint for kind: base with the chosen device.
function constraint(kind, base) {
  const id = remembered(kind);
  if (!id) return base;
  return { ...(base === true ? {} : base), deviceId: { ideal: id } };
}

async function fillDevices() {
  let list = [];
  try { list = await navigator.mediaDevices.enumerateDevices(); } catch { /* no devices API */ }
  const sinkOK = "setSinkId" in HTMLMediaElement.prototype;
  for (const kind of ["videoinput", "audioinput", "audiooutput"]) {
    const sel = $(SELECT[kind]);
    const devs = list.filter((d) => d.kind === kind && d.deviceId);
    const current = currentDevice(kind);
    const opts = devs.map((d, i) => {
      const o = document.createElement("option");
      o.value = d.deviceId;
      o.textContent = d.label || `${{ videoinput: "Camera", audioinput: "Microphone", audiooutput: "Speaker" }[kind]} ${i + 1}`;
      return o;
    });
    if (!opts.length) {
      const o = document.createElement("option");
      o.value = "";
      o.textContent = kind === "audiooutput" && !sinkOK ? "system default (this browser cannot choose)" : "none found";
      opts.push(o);
    }
    sel.replaceChildren(...opts);
    sel.disabled = devs.length === 0 || (kind === "audiooutput" && !sinkOK);
    if (current && devs.some((d) => d.deviceId === current)) sel.value = current;
  }
}

// currentDevice is the device in use for kind, or the remembered one.
function currentDevice(kind) {
  if (kind !== "audiooutput") {
    const lt = demo.room?.localTracks.find((x) => !x.screen && x.kind === (kind === "videoinput" ? "video" : "audio"));
    const id = lt?.mediaStreamTrack.getSettings?.().deviceId;
    if (id) return id;
  }
  return remembered(kind);
}

async function pickDevice(kind, id) {
  if (!id) return;
  remember(kind, id);
  record("devicepicked", { kind });
  if (kind === "audiooutput") {
    await applySink();
    return;
  }
  const room = demo.room;
  const lt = room?.localTracks.find((x) => !x.screen && x.kind === (kind === "videoinput" ? "video" : "audio"));
  if (!lt) return;
  try {
    const base = kind === "videoinput" ? { width: { ideal: 1280 }, height: { ideal: 720 } } : {};
    const c = { ...base, deviceId: { exact: id } };
    const stream = await navigator.mediaDevices.getUserMedia(kind === "videoinput" ? { video: c } : { audio: c });
    const [track] = stream.getTracks();
    await room.replaceTrack(lt, track);
    refreshLocalTile();
    clearBanner("error");
  } catch (err) {
    banner("error", describe(err), "Switching device: ");
  }
}

// applySink plays everyone's sound on the chosen output (where the browser can).
async function applySink() {
  const id = remembered("audiooutput");
  if (!id || !("setSinkId" in HTMLMediaElement.prototype)) return;
  for (const v of document.querySelectorAll(".tile:not(.local) video")) {
    if (v.sinkId === id) continue;
    try { await v.setSinkId(id); } catch (err) { banner("warn", describe(err), "Speaker: "); return; }
  }
}

// ---- room events → tiles ---------------------------------------------------

function wire(room) {
  room.addEventListener("statechange", (e) => {
    const { state, reason } = e.detail;
    const st = $("status");
    st.dataset.state = state;
    st.textContent = { new: "not connected", connecting: "connecting…", joined: "in the call", reconnecting: "reconnecting…", closed: "not connected" }[state] ?? state;
    st.title = reason || "";
    if (state === "joined") clearBanner("warn");
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
    fillChatTo();
    record("participantjoined", { participantId: e.detail.participant.participantId });
  });
  room.addEventListener("participantleft", (e) => {
    const p = e.detail.participant;
    document.querySelectorAll(`.tile[data-pid="${CSS.escape(p.participantId)}"]`).forEach((el) => el.remove());
    layout();
    fillChatTo();
    record("participantleft", { participantId: p.participantId });
  });
  room.addEventListener("participantupdated", () => fillChatTo());
  room.addEventListener("tracksubscribed", (e) => {
    const { track, participant } = e.detail;
    if (track.screen) addScreenTile(participant, track);
    else refreshRemoteTile(participant);
    applySink();
    record("tracksubscribed", { participantId: participant.participantId, trackId: track.trackId, kind: track.kind });
  });
  room.addEventListener("trackunsubscribed", (e) => {
    const { track, participant } = e.detail;
    document.querySelector(`.tile[data-tid="${CSS.escape(track.trackId)}"]`)?.remove();
    if (participant) refreshRemoteTile(participant);
    layout();
    record("trackunsubscribed", { participantId: track.participantId, trackId: track.trackId, kind: track.kind });
  });
  room.addEventListener("trackpublished", (e) => record("trackpublished", { participantId: e.detail.participant.participantId, trackId: e.detail.track.trackId, kind: e.detail.track.kind, screen: e.detail.track.screen }));
  room.addEventListener("localtrackpublished", (e) => record("localtrackpublished", { trackId: e.detail.track.trackId, kind: e.detail.track.kind, screen: e.detail.track.screen }));
  room.addEventListener("localtrackunpublished", () => { refreshSelfScreen(); syncButtons(); });
  room.addEventListener("trackmuted", (e) => {
    const { participant } = e.detail;
    if (participant) refreshRemoteTile(participant);
    else { refreshLocalTile(); syncButtons(); }
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
  // E2EE: frames of a participant that did not decrypt were dropped. Its
  // tiles show a warning instead of the lock until they decrypt again.
  room.addEventListener("e2eeerror", (e) => {
    const d = e.detail;
    e2eeFailedAt.set(d.participantId, { at: Date.now(), reason: d.reason });
    markE2EE();
    record("e2eeerror", { participantId: d.participantId, kind: d.kind, reason: d.reason, count: d.count });
  });
  // Who speaks, as the server says (from the audio levels in everyone's
  // packets): each speaker's tile lights up, the loudest one most.
  room.addEventListener("speakers", (e) => {
    const list = e.detail.speakers;
    document.querySelectorAll(".tile.speaking").forEach((el) => el.classList.remove("speaking", "active-speaker"));
    list.forEach((s, i) => {
      const el = s.local ? document.querySelector(".tile.local") : personTile(s.participantId);
      el?.classList.add("speaking");
      if (i === 0) el?.classList.add("active-speaker");
    });
    record("speakers", { speakers: list.map((s) => ({ participantId: s.participantId, local: s.local, level: s.level })) });
  });
  room.addEventListener("tracklayer", (e) => record("tracklayer", { trackId: e.detail.track.trackId, rid: e.detail.rid, index: e.detail.index }));
  room.addEventListener("tracklayers", (e) => record("tracklayers", { trackId: e.detail.track.trackId, layers: e.detail.layers }));
  room.addEventListener("layerswanted", (e) => record("layerswanted", { trackId: e.detail.track.trackId, layers: e.detail.layers }));
  room.addEventListener("reconnecting", (e) => {
    banner("warn", { code: null, text: `Connection lost: reconnecting (attempt ${e.detail.attempt})…`, todo: "Your camera and microphone come back by themselves." });
    record("reconnecting", { attempt: e.detail.attempt });
  });
  room.addEventListener("icerestart", (e) => record("icerestart", { target: e.detail.target, by: e.detail.by }));
  room.addEventListener("goingaway", (e) => {
    banner("warn", errorText(e.detail.code, e.detail.reason));
    record("goingaway", { code: e.detail.code });
  });
  room.addEventListener("reconnected", (e) => {
    record("reconnected", { participantId: e.detail.participantId });
    clearBanner("warn");
    refreshLocalTile();
  });
  room.addEventListener("error", (e) => {
    banner("error", errorText(e.detail.code, e.detail.message));
    record("error", { code: e.detail.code });
  });
  room.addEventListener("data", (e) => {
    const d = e.detail;
    if (d.topic !== "chat" || !d.text) return;
    chatLine({ who: d.participant?.userId ?? d.from, text: d.data, priv: d.private, from: d.from });
    record("chat", { from: d.from, private: d.private });
  });
  room.addEventListener("datarejected", (e) => {
    const d = errorText(e.detail.code, e.detail.message);
    chatNotice(`${d.text} ${d.todo}` + (e.detail.dropped > 1 ? ` (${e.detail.dropped} messages dropped)` : ""), e.detail.code);
    record("datarejected", { code: e.detail.code, dropped: e.detail.dropped });
  });
  room.addEventListener("closed", (e) => {
    clearInterval(statsTimer);
    record("closed", { code: e.detail.code });
    $("tiles").replaceChildren();
    $("chat-log").replaceChildren();
    unread = 0;
    e2eeFailedAt.clear();
    prevCounts.clear();
    clearBanner();
    $("call").hidden = true;
    $("lobby").hidden = false;
    if (e.detail.code) showError($("lobby-error"), errorText(e.detail.code, e.detail.reason), "Disconnected: ");
    if (demo.room === room) demo.room = null;
    demo.lastRoom = room;
  });
}

const e2eeFailedAt = new Map(); // participantId → {at, reason} of the last e2eeerror
const E2EE_WARN_MS = 3000; // lethe.js says it at most once a second while it lasts

// markE2EE puts the lock (frames decrypt) or the warning (they do not) on each tile.
function markE2EE() {
  const room = demo.room;
  for (const el of document.querySelectorAll(".tile")) {
    const b = el.querySelector(".e2ee");
    if (!room?.e2ee) { b.hidden = true; continue; }
    const f = el.dataset.pid ? e2eeFailedAt.get(el.dataset.pid) : null;
    const bad = f && Date.now() - f.at < E2EE_WARN_MS;
    b.hidden = false;
    b.classList.toggle("bad", !!bad);
    b.textContent = bad ? "⚠ cannot decrypt" : "encrypted";
    b.title = bad ? `frames from this participant do not decrypt (${f.reason === "auth" ? "another passphrase" : f.reason}): nothing of them is shown` : "end-to-end encrypted";
  }
}

// tile makes one tile: video, initial, name, badges, quality, statistics.
function tile(key, label, { local = false, screen = false } = {}) {
  const el = document.createElement("div");
  el.className = "tile" + (local ? " local" : "") + (screen ? " screen" : "");
  const v = document.createElement("video");
  v.autoplay = true;
  v.playsInline = true;
  v.muted = local || key.selfScreen === "1";
  const nv = document.createElement("div");
  nv.className = "novideo";
  const initial = document.createElement("span");
  initial.textContent = label.slice(0, 1).toUpperCase();
  nv.append(initial);
  const lab = document.createElement("div");
  lab.className = "label";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = label;
  const micOff = document.createElement("span");
  micOff.className = "badge mic-off";
  micOff.title = "microphone muted";
  micOff.textContent = "mic off";
  micOff.hidden = true;
  const flags = document.createElement("span");
  flags.className = "flags";
  const level = document.createElement("span");
  level.className = "level";
  level.append(document.createElement("i"));
  lab.append(level, name, micOff, flags);
  const top = document.createElement("div");
  top.className = "top";
  const e2ee = document.createElement("span");
  e2ee.className = "badge e2ee";
  e2ee.hidden = true;
  const q = document.createElement("span");
  q.className = "quality";
  q.dataset.q = "unknown";
  q.title = "connection quality: measuring…";
  q.append(document.createElement("i"), document.createElement("i"), document.createElement("i"));
  top.append(e2ee, q);
  const stats = document.createElement("pre");
  stats.className = "stats";
  el.append(nv, v, lab, top, stats);
  Object.assign(el.dataset, key);
  $("tiles").append(el);
  layout();
  markE2EE();
  return el;
}

// layout tells the grid how many tiles it holds (style.css picks columns).
function layout() {
  const tiles = $("tiles");
  const n = tiles.querySelectorAll(".tile:not(.screen)").length;
  tiles.dataset.count = String(n >= 10 ? "many" : n >= 5 ? 9 : n >= 3 ? 4 : n);
  tiles.dataset.screens = String(tiles.querySelectorAll(".tile.screen").length);
}

function personTile(pid) {
  return document.querySelector(`.tile[data-pid="${CSS.escape(pid)}"]:not([data-tid])`);
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
  tile({ local: "1" }, `${name} (you)`, { local: true });
}

function refreshLocalTile() {
  const el = document.querySelector(".tile.local");
  const room = demo.room;
  if (!el || !room) return;
  const cam = room.localTracks.filter((lt) => !lt.screen && lt.kind === "video" && !lt.muted);
  setStream(el, cam.map((lt) => lt.mediaStreamTrack));
  el.querySelector(".novideo").hidden = cam.length > 0;
  const mic = room.localTracks.find((lt) => lt.kind === "audio");
  el.querySelector(".mic-off").hidden = !mic?.muted;
  el.querySelector(".flags").textContent = [!mic ? "no mic" : "", mic?.blocked ? "blocked by an operator" : ""].filter(Boolean).join(" · ");
}

function addRemoteTile(p) {
  if (personTile(p.participantId)) return;
  tile({ pid: p.participantId }, p.userId);
  refreshRemoteTile(p);
}

function refreshRemoteTile(p) {
  const el = personTile(p.participantId);
  if (!el) return;
  setStream(el, p.stream.getTracks());
  const tracks = [...p.tracks.values()].filter((t) => !t.screen);
  const video = tracks.find((t) => t.kind === "video");
  // Through lethe.js, so that the tile's size picks the layer it gets.
  if (video?.mediaStreamTrack) demo.room?.attach(video, el.querySelector("video"));
  el.querySelector(".novideo").hidden = !!(video && video.mediaStreamTrack && !video.muted);
  const audio = tracks.find((t) => t.kind === "audio");
  el.querySelector(".mic-off").hidden = !audio?.muted;
  el.querySelector(".flags").textContent = [
    !audio ? "no mic" : "",
    video?.muted ? "camera off" : "",
    video?.paused ? "paused: slow link" : "",
    tracks.some((t) => t.blocked) ? "blocked" : "",
  ].filter(Boolean).join(" · ");
}

function addScreenTile(p, t) {
  if (document.querySelector(`.tile[data-tid="${CSS.escape(t.trackId)}"]`)) return;
  const el = tile({ pid: p.participantId, tid: t.trackId }, `${p.userId}'s screen`, { screen: true });
  setStream(el, [t.mediaStreamTrack]);
  demo.room?.attach(t, el.querySelector("video"));
}

// refreshSelfScreen shows our own screen share as a tile (not mirrored).
function refreshSelfScreen() {
  const room = demo.room;
  const lt = room?.localTracks.find((x) => x.screen);
  let el = document.querySelector(".tile[data-self-screen]");
  if (!lt) { el?.remove(); layout(); return; }
  if (!el) el = tile({ selfScreen: "1" }, "Your screen", { screen: true });
  setStream(el, [lt.mediaStreamTrack]);
}

// ---- controls -------------------------------------------------------------

function syncButtons() {
  const room = demo.room;
  const lts = room?.localTracks ?? [];
  const mic = lts.find((lt) => lt.kind === "audio" && !lt.screen);
  const cam = lts.find((lt) => lt.kind === "video" && !lt.screen);
  const set = (b, on, text, enabled) => { b.textContent = text; b.classList.toggle("on", on); b.setAttribute("aria-pressed", String(on)); b.disabled = !enabled; };
  set($("mic"), !!mic?.muted, mic?.muted ? "Unmute mic" : "Mute mic", !!mic);
  set($("cam"), !!cam?.muted, cam?.muted ? "Start camera" : "Stop camera", !!cam);
  const sharing = lts.some((lt) => lt.screen);
  $("screen").textContent = sharing ? "Stop sharing" : "Share screen";
  $("screen").classList.toggle("on", sharing);
}

async function toggleMute(kind) {
  const room = demo.room;
  const lts = room?.localTracks.filter((lt) => lt.kind === kind && !lt.screen) ?? [];
  if (!lts.length) return;
  const muted = !lts[0].muted;
  try {
    for (const lt of lts) await room.mute(lt, muted);
  } catch (err) {
    banner("error", describe(err));
  }
  refreshLocalTile();
  syncButtons();
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
    if (err?.name !== "NotAllowedError" || shared.length) banner("error", describe(err), "Screen: ");
  }
  refreshSelfScreen();
  syncButtons();
}

// ---- connection quality ------------------------------------------------------
//
// Each tile's three bars: from the numbers of the last second of getStats
// (lethe.js room.stats()): packet loss, round-trip time, jitter, and frames
// decoded per second. The worst of them decides.

const QUALITY_LIMITS = { // [fair from, poor from]
  loss: [0.02, 0.1], // fraction of packets lost
  rtt: [0.25, 0.5], // seconds
  jitter: [0.03, 0.1], // seconds
};
const FPS_LIMITS = [12, 5]; // fair below 12, poor below 5 frames per second

/** quality grades {loss, rtt, jitter, fps} (any may be null) as "good", "fair", "poor" or "unknown". */
function quality(m) {
  let grade = -1;
  for (const [k, [fair, poor]] of Object.entries(QUALITY_LIMITS)) {
    if (m[k] == null) continue;
    grade = Math.max(grade, m[k] >= poor ? 2 : m[k] >= fair ? 1 : 0);
  }
  if (m.fps != null) grade = Math.max(grade, m.fps < FPS_LIMITS[1] ? 2 : m.fps < FPS_LIMITS[0] ? 1 : 0);
  return ["unknown", "good", "fair", "poor"][grade + 1];
}
demo.quality = quality;

const prevCounts = new Map(); // key → {at, lost, packets, frames}

// deltas is what changed since the last call for key: loss fraction and fps.
function deltas(key, now, lost, packets, frames) {
  const prev = prevCounts.get(key);
  prevCounts.set(key, { at: now, lost, packets, frames });
  if (!prev || now <= prev.at) return { loss: null, fps: null };
  const dl = Math.max(0, (lost ?? 0) - (prev.lost ?? 0));
  const dp = Math.max(0, (packets ?? 0) - (prev.packets ?? 0));
  return {
    loss: dl + dp > 0 ? dl / (dl + dp) : null,
    fps: frames == null || prev.frames == null ? null : Math.max(0, frames - prev.frames) / ((now - prev.at) / 1000),
  };
}

function showQuality(el, m, paused) {
  const q = paused ? "poor" : quality(m);
  const box = el.querySelector(".quality");
  box.dataset.q = q;
  const f = (v, unit, scale = 1, digits = 0) => (v == null ? "–" : (v * scale).toFixed(digits) + unit);
  box.title = `connection: ${q}${paused ? " (the server paused the video: slow downlink)" : ""}\n` +
    `packet loss ${f(m.loss, " %", 100, 1)} · rtt ${f(m.rtt, " ms", 1000)} · jitter ${f(m.jitter, " ms", 1000)}` +
    (m.fps != null ? ` · ${f(m.fps, " fps")}` : "");
}

const kbps = (b) => (b == null ? "–" : `${Math.round(b / 1000)} kbit/s`);
const ms = (s) => (s == null ? "–" : `${Math.round(s * 1000)} ms`);

async function updateStats() {
  const room = demo.room;
  if (!room || room.state === "closed") return;
  let st;
  try { st = await room.stats(); } catch { return; }
  demo.lastStats = st;
  const now = performance.now();
  markE2EE();
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
    const packets = st.local.reduce((n, x) => n + (x.packetsSent ?? 0), 0);
    local.querySelector(".stats").textContent =
      `↑ ${kbps(sent)}\nlost ${lost} · rtt ${ms(st.publisher.rtt)}` + (v?.frameWidth ? `\n${v.frameWidth}×${v.frameHeight}` : "") +
      (layers ? `\nlayers ${layers}` : "");
    const d = deltas("local", now, lost, packets, null);
    showQuality(local, { loss: d.loss, rtt: st.publisher.rtt, jitter: null, fps: null }, false);
    setLevel(local, a && !a.track.muted ? a.audioLevel : 0);
  }
  // Remote tiles: what we receive from each participant (screens apart).
  const per = new Map();
  for (const r of st.remote) {
    const key = r.track.screen ? "screen:" + r.track.trackId : r.track.participantId;
    if (!per.has(key)) per.set(key, { bitrate: 0, lost: 0, packets: 0, video: null, audio: null, paused: false });
    const x = per.get(key);
    x.bitrate += r.bitrate ?? 0;
    x.lost += r.packetsLost ?? 0;
    x.packets += r.packetsReceived ?? 0;
    if (r.kind === "video") x.video = r;
    if (r.kind === "audio") x.audio = r;
    if (r.paused) x.paused = true;
  }
  for (const [key, x] of per) {
    const el = key.startsWith("screen:") ? document.querySelector(`.tile[data-tid="${CSS.escape(key.slice(7))}"]`) : personTile(key);
    if (!el) continue;
    el.querySelector(".stats").textContent =
      `↓ ${kbps(x.bitrate)}\nlost ${x.lost} · rtt ${ms(st.subscriber.rtt)}` +
      (x.video?.frameWidth ? `\n${x.video.frameWidth}×${x.video.frameHeight} · ${x.video.framesDecoded} frames` : "") +
      (x.video?.layer ? `\nlayer ${x.video.layer}` : "");
    const video = x.video && !x.video.track.muted && !x.paused ? x.video : null;
    const d = deltas(key, now, x.lost, x.packets, video?.framesDecoded ?? null);
    const jitter = x.audio?.jitter ?? x.video?.jitter ?? null;
    showQuality(el, { loss: d.loss, rtt: st.subscriber.rtt, jitter, fps: video ? d.fps : null }, x.paused);
    if (!key.startsWith("screen:")) setLevel(el, x.audio && !x.audio.track.muted ? x.audio.audioLevel : 0);
  }
  // The self-screen tile: what we send of it.
  const self = document.querySelector(".tile[data-self-screen]");
  const scr = st.local.find((x) => x.track.screen);
  if (self && scr) self.querySelector(".stats").textContent = `↑ ${kbps(scr.bitrate)}` + (scr.frameWidth ? `\n${scr.frameWidth}×${scr.frameHeight}` : "");
}

function setLevel(el, level) {
  const l = Math.max(0, Math.min(1, level ?? 0));
  el.querySelector(".level i").style.width = `${Math.round(Math.sqrt(l) * 100)}%`;
}

// ---- chat (data messages, topic "chat") -------------------------------------

const CHAT_MAX_LINES = 200;
let unread = 0;

function setChatOpen(open, focus = false) {
  $("chat").hidden = !open;
  $("call").classList.toggle("chat-open", open);
  $("chat-toggle").setAttribute("aria-pressed", String(open));
  if (open) unread = 0;
  if (open && focus) $("chat-text").focus({ preventScroll: true });
  showUnread();
}

function showUnread() {
  $("chat-unread").textContent = unread > 99 ? "99+" : String(unread);
  $("chat-unread").hidden = unread === 0;
}

// fillChatTo lists the room and everyone in it as destinations.
function fillChatTo() {
  const sel = $("chat-to");
  const keep = sel.value;
  const all = document.createElement("option");
  all.value = "";
  all.textContent = "Everyone";
  const opts = [all];
  for (const p of demo.room?.participants.values() ?? []) {
    const o = document.createElement("option");
    o.value = p.participantId;
    o.textContent = `${p.userId} (private)`;
    opts.push(o);
  }
  sel.replaceChildren(...opts);
  sel.value = opts.some((o) => o.value === keep) ? keep : "";
}

function appendChat(li) {
  const log = $("chat-log");
  log.append(li);
  while (log.children.length > CHAT_MAX_LINES) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
  if ($("chat").hidden) {
    unread++;
    showUnread();
  }
}

const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

// chatLine shows one message: text nodes only, never HTML.
function chatLine({ who, text, priv = false, mine = false, to = "", from = "" }) {
  const li = document.createElement("li");
  li.className = (mine ? "mine" : "") + (priv ? " private" : "");
  if (from) li.dataset.from = from;
  const head = document.createElement("div");
  head.className = "head";
  const b = document.createElement("b");
  b.textContent = who;
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = (priv ? (mine ? ` → ${to}, private` : " → you, private") : "") + " · " + clock(new Date());
  head.append(b, meta);
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  li.append(head, body);
  appendChat(li);
}

function chatNotice(text, code) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text + (code ? ` (code ${code})` : "");
  if (code) li.dataset.code = String(code);
  appendChat(li);
}

async function sendChat() {
  const text = $("chat-text").value.trim();
  const room = demo.room;
  if (!text || !room) return;
  const to = $("chat-to").value;
  const p = to ? room.participants.get(to) : null;
  if (to && !p) {
    chatNotice("That person has left: the message was not sent.");
    fillChatTo();
    return;
  }
  try {
    await room.sendData(text, { topic: "chat", to: to ? [to] : [] });
    chatLine({ who: "you", text, priv: !!p, mine: true, to: p?.userId ?? "" });
    $("chat-text").value = "";
  } catch (err) {
    const d = describe(err);
    chatNotice(`${d.text} ${d.todo}`.trim(), d.code);
  }
}

init();
