// lethe.js — the Lethe browser client. An ES module with no dependencies and
// no build step; it implements the signaling protocol of docs/protocol.md
// (version 1): one WebSocket, a publisher PeerConnection (we offer) and a
// subscriber PeerConnection (the server offers), trickle ICE.
//
// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------
//
//   import { Room, LetheError, parseRoom } from "/lethe.js";
//
//   const room = new Room({
//     url,                   // default: ws(s)://<this page's host>/v1/signal; or a
//                            // function returning one, called for every connection
//                            // (a rejoin after "goingaway" may pick another server)
//     rtcConfiguration,      // passed to both RTCPeerConnections; default {};
//                            // the server's TURN relays (joined.iceServers,
//                            // credentials for this session only) are added
//                            // to its iceServers
//     iceTransportPolicy,    // "relay": use only the server's TURN relay (as a
//                            // network that blocks UDP would); default "all"
//     reconnect: true,       // rejoin after a dropped WebSocket or failed media
//     maxReconnectAttempts: 8,
//     requestTimeoutMs: 10000,
//     refreshToken,          // optional async () => ({userSig, privateMapKey?}),
//                            // called before every rejoin (e.g. to renew a token)
//     simulcast: false,      // publish camera video as 3 simulcast layers (below)
//     simulcastEncodings,    // the layers, lowest first; default SIMULCAST_ENCODINGS
//     svc: null,             // e.g. "L3T3_KEY": camera video as one VP9 encoding
//                            // with spatial/temporal layers instead (below)
//     adaptiveStream: true,  // attach() sends the rendered size of each element
//     e2ee: null,            // {passphrase, keyIndex?}: end-to-end encrypt every
//                            // frame (below); {} to set the key later
//   });
//
//   await room.join({sdkAppId, userId, userSig, roomId | strRoomId,
//                    role?, autoSubscribe?, privateMapKey?, data?})  → the `joined` data
//                    (data: true opens the data channels for sendData, below)
//   await room.publishCamera({audio: true, video: true, simulcast?, svc?}) → [LocalTrack]
//   await room.publishScreen()                                → [LocalTrack]
//   await room.publish(streamOrTracks, {screen: false, simulcast?, svc?})  → [LocalTrack]
//   await room.unpublish(localTrack)
//   await room.mute(localTrack, true|false)     // pause/resume for everyone
//   await room.replaceTrack(localTrack, mediaStreamTrack)  // another camera/microphone, same
//                       // track for the server (RTCRtpSender.replaceTrack); no renegotiation
//   await room.subscribe([trackId, ...]); await room.unsubscribe([trackId, ...])
//   await room.switchRole("anchor"|"audience", privateMapKey?)
//   await room.restartIce(target?)              // ICE restart now: "publisher" (default) or "subscriber"
//   await room.stats()                          // a summary of getStats (below)
//   room.attach(remoteTrack | trackId, element) → element   // show it; adaptive stream
//   room.detach(remoteTrack | trackId, element?)
//   await room.setTrackSettings(remoteTrack | trackId, {maxLayer, width, height, fps, paused} | null)
//   await room.sendData(stringOrBytes, {lossy?, to?: [participantId], topic?})
//                       // a data message to the room or to named participants
//                       // (join with data: true; protocol 3.12); a string
//                       // arrives as a string. Reliable ones wait for the send
//                       // buffer; lossy ones (unordered, never resent) never wait.
//   await room.leave()
//   await room.setE2EEKey(secret, index = 0, use = true)  // E2EE: a room secret at index
//   await room.setE2EEKeyIndex(index)           // send with the secret at index from now on
//
//   A Room is used for one call: after "closed", make a new Room to join again.
//
//   room.state          "new" | "connecting" | "joined" | "reconnecting" | "closed"
//   room.participantId  our id in the room (changes after a rejoin)
//   room.role, room.permissions ({send: [...], receive: [...]}), room.server
//   room.participants   Map participantId → RemoteParticipant
//                         {participantId, userId, role, tracks: Map trackId → RemoteTrack,
//                          stream: MediaStream of its received camera video and audio}
//   RemoteTrack         {trackId, participantId, kind, codec, screen, muted, blocked,
//                        mediaStreamTrack (null until received), stream, mid,
//                        layers ([{rid, width, height, bitrate}] lowest first, as last
//                        measured: see tracklayers; [] for one encoding), layer ({rid, index} received now, or null),
//                        paused (the server paused it: the downlink is too slow)}
//   room.localTracks    [LocalTrack]
//   room.speakers       [{participantId, participant (RemoteParticipant; null for us),
//                        local (true for us), level (0..1)}]: who speaks now, loudest
//                        first, as the server last said (protocol 3.11)
//   LocalTrack          {mediaStreamTrack, kind, screen, muted, blocked,
//                        trackId (server id once published; null before),
//                        simulcast, layers ([{rid, active}]: what it encodes now)}
//   room.connection     {signal, publisher, subscriber}: WebSocket state and the
//                        two PeerConnections' connectionState
//   room.socket, room.publisherPC, room.subscriberPC: the live objects (diagnostics)
//
// Events (room.addEventListener(name, e => e.detail)):
//   statechange          {state, reason}
//   joined               {participantId, role, permissions, room, server, iceServers}
//   participantjoined    {participant}      participantleft   {participant}
//   participantupdated   {participant}      (role changed)
//   trackpublished       {track, participant}        (another participant's track)
//   trackunpublished     {track, participant}
//   tracksubscribed      {track, participant}        media arrived: track.mediaStreamTrack
//   trackunsubscribed    {track, participant}
//   trackmuted           {track, participant|null, muted, blocked}  (local tracks too)
//   localtrackpublished  {track}            the server announced one of ours
//   localtrackunpublished {track}
//   roleswitched         {role, permissions}
//   connectionstatechange {signal, publisher, subscriber}
//   reconnecting         {attempt, reason}  reconnected {participantId}
//   icerestart           {target, by}       an ICE restart began: target "publisher" or
//                                           "subscriber", by "client" or "server"
//   goingaway            {code, reason}     the server is draining (bye 3003): it ended
//                                           the session; with reconnect on, a rejoin
//                                           follows after a random delay of up to 2 s.
//                                           Also (once) when a rejoin already under way
//                                           is refused by a draining server (3004) or
//                                           ended by its bye 3003: the rejoins go on,
//                                           spread (give `url` as a function to move)
//   trackpaused          {track, participant, reason}  the server stopped sending a
//                                           track: the downlink cannot carry its lowest
//                                           layer (reason "bandwidth"); audio goes on
//   trackresumed         {track, participant}          it sends it again
//   tracklayer           {track, participant, rid, index}  the simulcast layer received now
//   tracklayers          {track, participant, layers}  another participant's simulcast or
//                                           SVC track's layers as measured (track.layers:
//                                           [{rid, width, height, bitrate}], 0 = not known;
//                                           bitrate 0 also while a layer does not send)
//   layerswanted         {track, layers: [{rid, active}]}  dynacast: the server said which
//                                           layers of our track anyone receives; the
//                                           others were switched off (encodings[i].active)
//   e2eeerror            {participantId, kind, reason, count}  frames of a participant
//                                           that did not decrypt ("auth": another secret,
//                                           "nokey": no secret at the frame's index,
//                                           "malformed": not an E2EE frame) were dropped;
//                                           at most one event per second and cause
//   speakers             {speakers}         who speaks now changed (room.speakers;
//                                           [] when nobody does): from the audio level
//                                           each publisher's browser puts in its packets
//   data                 {from, participant|null, topic, data (string or Uint8Array),
//                         text, private (addressed to us by name), lossy}
//   datarejected         {code, message, dropped}  the server dropped data messages
//                                           we sent: 4006 too large, 4007 beyond the
//                                           rate, 4008 not granted, 4009 malformed or
//                                           to a participant not in the room
//   error                {code, message}    (errors not tied to a request)
//   closed               {code, reason}     the end: no more events
//
// room.stats() resolves to {publisher: {rtt}, subscriber: {rtt}, local: [...],
// remote: [...]}: per local track {track, kind, bytesSent, packetsSent, bitrate,
// packetsLost, rtt, audioLevel, frameWidth, frameHeight, framesEncoded}; per
// received track {track, kind, bytesReceived, packetsReceived, packetsLost,
// bitrate, jitter, audioLevel, framesDecoded, frameWidth, frameHeight}. bitrate is
// in bit/s since the previous stats() call; rtt in seconds. A simulcast track
// has one local entry per layer, with its rid and active; a received track's
// entry has layer, the rid received now.
//
// Simulcast. With simulcast (the Room option, or per publish call), camera
// video is sent as three encodings of one track, "q", "h" and "f" (a quarter,
// half and all of the captured size: 320×180, 640×360 and 1280×720 from a
// 720p camera, which publishCamera asks for), at most 150, 500 and 1,700
// kbit/s: SIMULCAST_ENCODINGS. Give simulcastEncodings (lowest first, rids
// of 1-16 letters or digits, at most 3) to change them. Screens are sent as
// one encoding. The SFU sends each subscriber the highest layer its
// downlink and its wishes allow, switching on keyframes.
//
// SVC. With svc (a scalabilityMode such as "L3T3_KEY": the Room option, or
// per publish call; it wins over simulcast), camera video is sent as one
// VP9 encoding with that mode (setCodecPreferences puts VP9 profile 0
// first): three spatial layers (320×180, 640×360, 1280×720 from a 720p
// camera) and three temporal ones. The SFU sends each subscriber the
// spatial layers up to the one its downlink and wishes allow (its
// trackSettings width/height or maxLayer; the layers are "s0", "s1",
// "s2") and, with fps, only the temporal layers that rate needs. A
// browser without VP9 encoding fails the publish call.
//
// Dynacast. When nobody receives a layer, the server says so (layersWanted)
// and lethe.js stops encoding it (RTCRtpSender.setParameters with
// encodings[i].active = false), and starts it again when the server asks.
//
// Adaptive stream. Show received video with room.attach(track, element): it
// sets element.srcObject when the element does not show the track yet, and,
// with adaptiveStream on, watches the element's size on screen (times
// devicePixelRatio) and whether it can be seen (in the viewport, the page
// visible, not display:none), and tells the server (trackSettings, 300 ms
// after the last change, only when it changed): {width, height} of the
// largest element showing it, or {paused: true} when none can be seen. The
// server then sends the smallest layer at least that size. setTrackSettings
// sets wishes of the app's own (maxLayer: a layers index, width, height, fps,
// paused); they win over what attach measured; null removes them. Both are
// sent again after the track is received anew (a rejoin: attach again, as
// the RemoteTrack objects are new).
//
// ICE restarts (protocol 3.9). A PeerConnection whose path changed (another
// network, a NAT that mapped it anew) comes back by an ICE restart, without
// a rejoin: same participant, same tracks. Each side restarts where it
// offers. When the publisher's ICE fails, or stays "disconnected" for 2 s, or
// the server asks (restartIce), the client offers on it with iceRestart;
// when the subscriber's does, the client asks the server (restartIce), which
// then offers with new credentials, as it also does by itself when it stops
// hearing the subscriber. Server restart offers are answered like any other.
// At most 3 restarts per PeerConnection before it connects again; after
// that a failed PeerConnection means a rejoin.
//
// Reconnection. When the WebSocket drops without our leave(), or the server
// ends the session with a retryable code (3000, 3001, 3002, 3003, 4003, 1006,
// or a "left" we did not ask for), or a PeerConnection fails beyond its ICE
// restarts, the room goes "reconnecting": it opens a new WebSocket, joins
// again with the same token (a new participantId: the server never resumes
// a participant), and republishes the same local tracks (mute state
// included). Attempts back off from 0.5 s to 8 s. Refused tokens (2xxx,
// unless refreshToken gives a new one), removal by an operator (5000, 5001),
// a full room (4004, 4005) and the rate limit (1003) end the room instead.
// A server that drains says "goingaway" (bye 3003) and refuses joins with
// 3004 (retried like 3001): give `url` as a function to rejoin elsewhere.
//
// End-to-end encryption (protocol 3.13). With the e2ee option every frame
// sent is encrypted (AES-128-GCM, a key per participant derived from the room
// secret) in an RTCRtpScriptTransform worker (/lethe-e2ee.js) before it is
// packetized, and every frame received is decrypted before it is decoded; the
// SFU sees only the VP8 header bytes it needs. Camera video is sent as VP8
// only (H.264 has no E2EE layout). Every participant of the room needs the
// same secret: the server never has it. A frame that does not decrypt is
// dropped and counted (e2eeerror), never decoded.
//
// Limits: at most 8 audio/video sections per publisher connection, unpublished
// ones included (the server's rule); after that, publishing needs a rejoin.
// Data messages ride the subscriber connection's two channels (join with
// data: true); the publisher connection has none.
// ---------------------------------------------------------------------------

import { E2EE, supported as e2eeSupported } from "./lethe-e2ee.js";

// preferVP8 makes a video transceiver send VP8 (and its RTX) only: the one
// video codec with an E2EE frame layout.
function preferVP8(tr) {
  const codecs = (RTCRtpSender.getCapabilities("video")?.codecs || [])
    .filter((c) => /^video\/(vp8|rtx)$/i.test(c.mimeType));
  if (codecs.some((c) => /vp8/i.test(c.mimeType))) tr.setCodecPreferences(codecs);
}

/** An error the server sent (code from docs/protocol.md section 5), or a local one (code < 1000). */
export class LetheError extends Error {
  constructor(code, message) {
    super(message || `error ${code}`);
    this.name = "LetheError";
    this.code = code;
  }
}

// Local error codes (never sent by the server).
export const ErrTimeout = 1;
export const ErrClosed = 2;
export const ErrNotAllowed = 3;
export const ErrState = 4;
export const ErrE2EEUnsupported = 5; // e2ee asked of a browser without RTCRtpScriptTransform, or of a room without it

// Server codes an app may act on (docs/protocol.md section 5).
export const CodeGoingAway = 3003; // bye: the server is draining; rejoin, elsewhere or later
export const CodeDraining = 3004; // join refused: the server is draining; try another or later

/**
 * The simulcast layers of camera video, lowest first: rid, how much smaller
 * than the capture, and the most bit/s. Copy and change it for
 * Room({simulcastEncodings}).
 */
export const SIMULCAST_ENCODINGS = Object.freeze([
  Object.freeze({ rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 }),
  Object.freeze({ rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 }),
  Object.freeze({ rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_700_000 }),
]);

const MAX_LAYERS = 3; // the server's limit (signaling.MaxLayers)
const SETTINGS_DELAY_MS = 300; // adaptive stream: wait this long after the last change

const PROTOCOL_PATH = "/v1/signal";
const MAX_NAME = 64;

/** The server's codes after which a rejoin cannot succeed. */
function fatalCode(code, canRefresh) {
  if (code >= 2000 && code < 3000) return !(canRefresh && code === 2002);
  return code === 1003 || code === 4004 || code === 4005 || code === 5000 || code === 5001;
}

/**
 * parseRoom reads a room as typed by a person: 1..4294967294 in decimal
 * without a leading zero is a numeric roomId, anything else a strRoomId.
 * The server's dev-token endpoint applies the same rule.
 */
export function parseRoom(s) {
  if (/^[1-9][0-9]{0,9}$/.test(s)) {
    const n = Number(s);
    if (n <= 4294967294) return { roomId: n };
  }
  return { strRoomId: s };
}

/** validName reports whether s is a protocol name (1-64 bytes, no spaces or control characters). */
export function validName(s) {
  return typeof s === "string" && s.length > 0 && new TextEncoder().encode(s).length <= MAX_NAME &&
    !/[\s\p{Cc}]/u.test(s);
}

// vp9Codecs returns the browser's video send codecs with VP9 profile 0
// (and its RTX) first, for setCodecPreferences; null without VP9.
function vp9Codecs() {
  const all = globalThis.RTCRtpSender?.getCapabilities?.("video")?.codecs ?? [];
  const isVP9 = (c) => c.mimeType.toLowerCase() === "video/vp9" && !/profile-id=[^0]/.test(c.sdpFmtpLine ?? "");
  const vp9 = all.filter(isVP9);
  if (vp9.length === 0) return null;
  return [...vp9, ...all.filter((c) => !isVP9(c))];
}

// encodingsFor checks a simulcastEncodings option and returns a copy.
function encodingsFor(list) {
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_LAYERS) {
    throw new LetheError(ErrState, `simulcastEncodings: 1 to ${MAX_LAYERS} layers`);
  }
  const seen = new Set();
  return list.map((e) => {
    if (!e || typeof e.rid !== "string" || !/^[A-Za-z0-9]{1,16}$/.test(e.rid) || seen.has(e.rid)) {
      throw new LetheError(ErrState, "simulcastEncodings: each layer needs its own rid of 1-16 letters or digits");
    }
    seen.add(e.rid);
    return { ...e, active: true };
  });
}

// settingsOf checks setTrackSettings' argument and returns the fields the
// protocol knows (signaling.TrackSettings).
function settingsOf(x) {
  if (typeof x !== "object") throw new LetheError(ErrState, "setTrackSettings: settings must be an object or null");
  const out = {};
  const int = (name, lo, hi) => {
    if (x[name] === undefined || x[name] === null) return;
    if (!Number.isInteger(x[name]) || x[name] < lo || x[name] > hi) throw new LetheError(ErrState, `setTrackSettings: ${name} must be an integer ${lo}..${hi}`);
    out[name] = x[name];
  };
  int("maxLayer", 0, MAX_LAYERS - 1);
  int("width", 0, 16384);
  int("height", 0, 16384);
  int("fps", 0, 240);
  if (x.paused !== undefined && typeof x.paused !== "boolean") throw new LetheError(ErrState, "setTrackSettings: paused must be a boolean");
  if (x.paused) out.paused = true;
  return out;
}

function defaultURL() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${PROTOCOL_PATH}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// sections splits an SDP into its m-sections, each {mid, kind, direction, msid: [stream, track] | null}.
function sections(sdp) {
  const out = [];
  for (const block of sdp.split(/\r?\nm=/).slice(1)) {
    const lines = block.split(/\r?\n/);
    const sec = { kind: lines[0].split(" ")[0], port: lines[0].split(" ")[1], mid: null, direction: "sendrecv", msid: null };
    for (const l of lines) {
      if (l.startsWith("a=mid:")) sec.mid = l.slice(6).trim();
      else if (l.startsWith("a=msid:")) sec.msid = l.slice(7).trim().split(" ");
      else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l)) sec.direction = l.slice(2);
    }
    out.push(sec);
  }
  return out;
}

class RemoteParticipant {
  constructor(info) {
    this.participantId = info.participantId;
    this.userId = info.userId;
    this.role = info.role;
    this.tracks = new Map();
    this.stream = new MediaStream();
  }
}

class RemoteTrack {
  constructor(info) {
    this.trackId = info.trackId;
    this.participantId = info.participantId;
    this.kind = info.kind;
    this.codec = info.codec;
    this.screen = !!info.screen;
    this.muted = !!info.muted;
    this.blocked = !!info.blocked;
    this.mediaStreamTrack = null;
    this.stream = null;
    this.receiver = null;
    this.mid = null;
    this.layers = Array.isArray(info.layers) ? info.layers : [];
    this.layer = null;
    this.paused = false;
    this._elements = new Map(); // attached element → {width, height, seen, measured}
    this._explicit = null; // setTrackSettings
    this._sent = null; // the trackSettings last sent, as JSON
    this._timer = null;
  }
}

class LocalTrack {
  constructor(mediaStreamTrack, stream, screen, owned) {
    this.mediaStreamTrack = mediaStreamTrack;
    this.kind = mediaStreamTrack.kind;
    this.screen = screen && mediaStreamTrack.kind === "video";
    this.muted = false;
    this.blocked = false;
    this.trackId = null;
    this.stream = stream;
    this._owned = owned; // acquired by the library: stopped on unpublish/leave
    this._transceiver = null;
    this.simulcast = false;
    this._encodings = null; // sendEncodings, when simulcast
    this._svc = null; // the scalabilityMode, when SVC
    this.layers = [];
    this._layersChain = Promise.resolve();
  }
  /** The permission name this track needs: "audio", "video" or "screen". */
  get media() {
    return this.kind === "audio" ? "audio" : this.screen ? "screen" : "video";
  }
}

// Peer is one RTCPeerConnection with the protocol's candidate rules: local
// candidates wait until our SDP has been sent; remote ones until the remote
// description is set.
class Peer {
  constructor(target, config, sendCandidate) {
    this.target = target;
    this.pc = new RTCPeerConnection(config);
    this.held = true;
    this.localQ = [];
    this.remoteQ = [];
    this.send = sendCandidate;
    this.pc.onicecandidate = (e) => {
      const c = e.candidate && e.candidate.candidate ? e.candidate.toJSON() : null;
      if (this.held) this.localQ.push(c);
      else this.send(c);
    };
  }
  hold() { this.held = true; }
  release() {
    this.held = false;
    for (const c of this.localQ.splice(0)) this.send(c);
  }
  async setRemote(desc) {
    await this.pc.setRemoteDescription(desc);
    for (const c of this.remoteQ.splice(0)) await this.pc.addIceCandidate(c).catch(() => {});
  }
  addRemoteCandidate(c) {
    if (!c || !c.candidate) return; // end of candidates: nothing to do
    if (this.pc.remoteDescription) this.pc.addIceCandidate(c).catch(() => {});
    else this.remoteQ.push(c);
  }
  close() {
    this.pc.onicecandidate = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.onconnectionstatechange = null;
    this.pc.close();
  }
}

// Session is one WebSocket connection and the two PeerConnections that
// belong to it. A rejoin makes a new Session; nothing is carried over.
class Session {
  constructor(room, url) {
    this.room = room;
    this.ws = new WebSocket(url);
    this.lastId = 0;
    this.waiting = new Map();
    this.pub = null;
    this.sub = null;
    this.offers = Promise.resolve(); // subscriber offers, one at a time
    this.pubChain = Promise.resolve(); // publisher negotiations, one at a time
    this.iceRestarts = 0; // publisher restarts since it last connected
    this.pubRestarting = false;
    this.disconnectTimer = null;
    this.subRestarts = 0; // subscriber restarts asked for since it last connected
    this.subRestarting = false;
    this.subDisconnectTimer = null;
    this.bye = null;
    this.ended = false;
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new LetheError(ErrClosed, "WebSocket could not connect"));
    });
    this.opened.catch(() => {});
    this.ws.onmessage = (ev) => this.onMessage(ev);
    this.ws.onclose = (ev) => this.end({ wsCode: ev.code });
  }

  request(type, data, timeoutMs = this.room.options.requestTimeoutMs) {
    if (this.ended || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new LetheError(ErrClosed, "not connected"));
    }
    const id = ++this.lastId;
    this.ws.send(JSON.stringify(data === undefined ? { type, id } : { type, id, data }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new LetheError(ErrTimeout, `${type}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
    });
  }

  send(type, data) {
    if (!this.ended && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type, data }));
  }

  onMessage(ev) {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!m || typeof m.type !== "string") return;
    const w = m.id ? this.waiting.get(m.id) : undefined;
    if (w) {
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.type === "error") w.reject(new LetheError(m.data?.code ?? 3000, m.data?.message));
      else w.resolve(m);
      return;
    }
    if (m.type === "bye") this.bye = m.data || { code: 0, reason: "" };
    this.room._onMessage(this, m);
  }

  end(info) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.disconnectTimer);
    clearTimeout(this.subDisconnectTimer);
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new LetheError(this.bye?.code || ErrClosed, this.bye?.reason || "connection closed"));
    }
    this.waiting.clear();
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close();
    this.pub?.close();
    this.sub?.close();
    this.room._onSessionEnd(this, { ...info, bye: this.bye });
  }
}

export class Room extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = {
      url: undefined,
      rtcConfiguration: {},
      iceTransportPolicy: undefined,
      reconnect: true,
      maxReconnectAttempts: 8,
      requestTimeoutMs: 10000,
      refreshToken: null,
      simulcast: false,
      simulcastEncodings: SIMULCAST_ENCODINGS,
      svc: null,
      adaptiveStream: true,
      e2ee: null,
      ...options,
    };
    this.e2ee = null;
    if (this.options.e2ee) {
      if (!e2eeSupported()) throw new LetheError(ErrE2EEUnsupported, "this browser cannot encrypt frames (no RTCRtpScriptTransform)");
      this.e2ee = new E2EE((d) => this._emit("e2eeerror", d));
      const { passphrase, keyIndex = 0 } = this.options.e2ee;
      if (passphrase) this.e2ee.setKey(passphrase, keyIndex, true).catch(() => {});
    }
    encodingsFor(this.options.simulcastEncodings); // a mistake shows here, not at publish
    this.state = "new";
    this.participantId = null;
    this.role = null;
    this.permissions = null;
    this.server = null;
    this.roomInfo = null;
    this.participants = new Map();
    this.localTracks = [];
    this.speakers = [];
    this.connection = { signal: "closed", publisher: "new", subscriber: "new" };
    this._session = null;
    this._join = null;
    this._leaving = false;
    this._reconnecting = false;
    this._prevBytes = new Map();
    this._watched = new Map(); // element → RemoteTrack (adaptive stream)
    this._resize = null; // ResizeObserver, made on the first attach
    this._intersect = null; // IntersectionObserver
    this._onVisibility = () => { for (const t of new Set(this._watched.values())) this._adapt(t); };
  }

  /** setE2EEKey sets the room secret at key index (0..15); use: send with it from now on. */
  async setE2EEKey(secret, index = 0, use = true) {
    if (!this.e2ee) throw new LetheError(ErrE2EEUnsupported, "the room was made without the e2ee option");
    await this.e2ee.setKey(secret, index, use);
  }

  /** setE2EEKeyIndex sends with the secret at index (set before) from now on. */
  async setE2EEKeyIndex(index) {
    if (!this.e2ee) throw new LetheError(ErrE2EEUnsupported, "the room was made without the e2ee option");
    await this.e2ee.setKeyIndex(index);
  }

  get socket() { return this._session?.ws ?? null; }
  get publisherPC() { return this._session?.pub?.pc ?? null; }
  get subscriberPC() { return this._session?.sub?.pc ?? null; }

  _emit(name, detail) { this.dispatchEvent(new CustomEvent(name, { detail })); }

  _setState(state, reason) {
    if (this.state === state) return;
    this.state = state;
    this._emit("statechange", { state, reason });
  }

  _setConnection(part, value) {
    if (this.connection[part] === value) return;
    this.connection = { ...this.connection, [part]: value };
    this._emit("connectionstatechange", { ...this.connection });
  }

  // ---- joining -------------------------------------------------------------

  /** Join a room. Resolves to the server's `joined` data; rejects with a LetheError. */
  async join(params) {
    if (this.state !== "new") throw new LetheError(ErrState, `join: room is ${this.state}`);
    const j = { ...params };
    if (!j.roomId) delete j.roomId;
    if (!j.strRoomId) delete j.strRoomId;
    if (!j.privateMapKey) delete j.privateMapKey;
    this._join = j;
    this._setState("connecting");
    try {
      const joined = await this._connect();
      this._setState("joined");
      return joined;
    } catch (err) {
      this._finish({ code: err.code ?? ErrClosed, reason: err.message });
      throw err;
    }
  }

  // _rtcConfig is the configuration of session s's RTCPeerConnections: the
  // caller's, with the server's TURN relays for s added, and only those
  // with iceTransportPolicy "relay".
  _rtcConfig(s) {
    const base = this.options.rtcConfiguration || {};
    const cfg = { ...base, iceServers: [...(base.iceServers || []), ...(s.iceServers || [])] };
    if (this.options.iceTransportPolicy) cfg.iceTransportPolicy = this.options.iceTransportPolicy;
    return cfg;
  }

  // _connect opens a session and joins; on success it is the current session.
  async _connect() {
    const url = typeof this.options.url === "function" ? this.options.url() : this.options.url;
    const s = new Session(this, url || defaultURL());
    this._session = s;
    this._setConnection("signal", "connecting");
    await s.opened;
    this._setConnection("signal", "open");
    const reply = await s.request("join", this._join);
    const d = reply.data;
    this.participantId = d.participantId;
    this.role = d.role || this._join.role || "anchor";
    this.permissions = d.permissions || null;
    this.server = d.server;
    s.iceServers = d.iceServers || []; // this session's TURN credentials: a rejoin gets new ones
    this.roomInfo = { roomId: d.room.roomId, strRoomId: d.room.strRoomId };
    this.dataInfo = d.data || null; // {send, maxMessage, messageRate, byteRate} with join's data
    this._emit("joined", { participantId: d.participantId, role: this.role, permissions: this.permissions, room: d.room, server: d.server, iceServers: s.iceServers });
    for (const info of d.room.participants || []) {
      this._addParticipant(info);
    }
    return d;
  }

  _addParticipant(info) {
    const p = new RemoteParticipant(info);
    this.participants.set(p.participantId, p);
    this._emit("participantjoined", { participant: p });
    for (const t of info.tracks || []) this._addRemoteTrack(p, t);
    return p;
  }

  _addRemoteTrack(p, info) {
    const t = new RemoteTrack(info);
    p.tracks.set(t.trackId, t);
    this._emit("trackpublished", { track: t, participant: p });
    return t;
  }

  _removeParticipant(p) {
    for (const t of [...p.tracks.values()]) this._removeRemoteTrack(p, t);
    this.participants.delete(p.participantId);
    this._emit("participantleft", { participant: p });
  }

  _removeRemoteTrack(p, t) {
    this._unbind(t);
    this.detach(t);
    p.tracks.delete(t.trackId);
    this._emit("trackunpublished", { track: t, participant: p });
  }

  // ---- leaving and the end of a session ------------------------------------

  /** Leave the room: tells the server, closes everything, stops tracks the room acquired. */
  async leave() {
    if (this.state === "closed") return;
    this._leaving = true;
    const s = this._session;
    if (s && !s.ended) {
      const gone = new Promise((resolve) => {
        const t = setTimeout(resolve, 2000);
        this.addEventListener("closed", () => { clearTimeout(t); resolve(); }, { once: true });
      });
      s.send("leave");
      await gone;
    }
    this._finish({ code: 0, reason: "left" });
  }

  _onSessionEnd(s, info) {
    this._setConnection("signal", "closed");
    if (s !== this._session) return;
    const bye = info.bye;
    if (this._leaving) {
      this._finish({ code: 0, reason: "left" });
      return;
    }
    if (this.state !== "joined") return; // a join or a rejoin attempt: its caller sees the error
    const code = bye ? bye.code : 0;
    if (code === CodeGoingAway) this._emit("goingaway", { code, reason: bye.reason });
    if (!this.options.reconnect || fatalCode(code, !!this.options.refreshToken)) {
      this._finish({ code, reason: bye ? bye.reason : "connection closed" });
      return;
    }
    this._reconnect(bye ? `bye ${code} (${bye.reason})` : `connection closed (${info.wsCode})`, code === CodeGoingAway);
  }

  _finish({ code, reason }) {
    if (this.state === "closed") return;
    const s = this._session;
    this._session = null;
    s?.end({ wsCode: 1000 });
    this._clearRemote();
    for (const lt of this.localTracks) if (lt._owned) lt.mediaStreamTrack.stop();
    this.localTracks = [];
    this._resize?.disconnect();
    this._intersect?.disconnect();
    this._watched.clear();
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this._onVisibility);
    this._setConnection("publisher", "closed");
    this._setConnection("subscriber", "closed");
    this.e2ee?.close();
    this._setState("closed", reason);
    this._emit("closed", { code, reason });
  }

  _clearRemote() {
    for (const p of [...this.participants.values()]) this._removeParticipant(p);
    if (this.speakers.length) {
      this.speakers = [];
      this._emit("speakers", { speakers: this.speakers });
    }
  }

  // ---- reconnection -------------------------------------------------------

  // _reconnect rejoins; spread: the server is going away, so everyone in
  // it rejoins at once: add a random delay, so as not to arrive together.
  async _reconnect(reason, spread = false) {
    if (this._reconnecting || this.state === "closed") return;
    this._reconnecting = true;
    this._setState("reconnecting", reason);
    const old = this._session;
    this._session = null;
    old?.end({ wsCode: 1000 });
    this._clearRemote();
    for (const lt of this.localTracks) { lt.trackId = null; lt._transceiver = null; }
    this._setConnection("publisher", "new");
    this._setConnection("subscriber", "new");
    let lastErr = null;
    let toldGoingAway = spread; // spread: its bye 3003 said it already
    try {
      for (let attempt = 1; attempt <= this.options.maxReconnectAttempts; attempt++) {
        this._emit("reconnecting", { attempt, reason });
        await sleep(Math.min(500 * 2 ** (attempt - 1), 8000) + (spread ? Math.random() * 2000 : 0));
        if (this.state === "closed" || this._leaving) return;
        try {
          if (this.options.refreshToken) {
            const fresh = await this.options.refreshToken();
            if (fresh?.userSig) this._join.userSig = fresh.userSig;
            if (fresh?.privateMapKey) this._join.privateMapKey = fresh.privateMapKey;
          }
          await this._connect();
          this.localTracks = this.localTracks.filter((lt) => lt.mediaStreamTrack.readyState === "live");
          if (this.localTracks.length > 0) await this._negotiate(this._session, this.localTracks, false);
          // Tracks published while the rejoin was under way.
          const late = this.localTracks.filter((lt) => !lt._transceiver);
          if (late.length > 0) await this._negotiate(this._session, late, false);
          if (this._session?.ended) throw new LetheError(ErrClosed, "connection closed while rejoining");
          this._setState("joined");
          this._emit("reconnected", { participantId: this.participantId });
          return;
        } catch (err) {
          lastErr = err;
          // A server that drains refuses the rejoin (3004), or ends it
          // (bye 3003): that is its goingaway, which the old session may
          // never have brought (a rejoin that began before its bye came).
          // Say it once, and spread the attempts as everyone rejoins.
          if ((err.code === CodeGoingAway || err.code === CodeDraining) && !toldGoingAway) {
            toldGoingAway = true;
            spread = true;
            this._emit("goingaway", { code: err.code, reason: err.message });
          }
          const s = this._session;
          this._session = null;
          s?.end({ wsCode: 1000 });
          this._clearRemote();
          for (const lt of this.localTracks) { lt.trackId = null; lt._transceiver = null; }
          if (err.code >= 1000 && fatalCode(err.code, !!this.options.refreshToken)) break;
        }
      }
      this._finish({ code: lastErr?.code ?? ErrClosed, reason: `reconnect failed: ${lastErr?.message ?? "gave up"}` });
    } finally {
      this._reconnecting = false;
    }
  }

  // ---- server messages ------------------------------------------------------

  _onMessage(s, m) {
    if (s !== this._session) return;
    const d = m.data || {};
    switch (m.type) {
      case "offer":
        s.offers = s.offers.then(() => this._onSubscriberOffer(s, d.sdp, !!d.iceRestart)).catch((err) => {
          if (!s.ended) this._emit("error", { code: err.code ?? 4000, message: `subscriber offer: ${err.message}` });
        });
        break;
      case "candidate":
        if (d.target === "publisher") s.pub?.addRemoteCandidate(d.candidate);
        else this._subscriber(s).addRemoteCandidate(d.candidate);
        break;
      case "restartIce": // the server no longer hears our publisher
        if (d.target === "publisher" && s.pub) this._iceFailed(s, "server");
        break;
      case "participants": // several at once: left, then joined, then updated
        for (const id of d.left || []) this._onMessage(s, { type: "participantLeft", data: { participantId: id } });
        for (const p of d.joined || []) this._onMessage(s, { type: "participantJoined", data: p });
        for (const p of d.updated || []) this._onMessage(s, { type: "participantUpdated", data: p });
        break;
      case "participantJoined":
        if (d.participantId && d.participantId !== this.participantId && !this.participants.has(d.participantId)) {
          this._addParticipant(d);
        }
        break;
      case "participantUpdated": {
        const p = this.participants.get(d.participantId);
        if (p) {
          p.role = d.role;
          this._emit("participantupdated", { participant: p });
        } else if (d.participantId === this.participantId) {
          this.role = d.role;
        }
        break;
      }
      case "participantLeft": {
        const p = this.participants.get(d.participantId);
        if (p) this._removeParticipant(p);
        break;
      }
      case "trackPublished": {
        const info = d.track || {};
        if (info.participantId === this.participantId) {
          this._onLocalPublished(s, info);
          break;
        }
        const p = this.participants.get(info.participantId);
        if (p && !p.tracks.has(info.trackId)) this._addRemoteTrack(p, info);
        else if (p && Array.isArray(info.layers)) p.tracks.get(info.trackId).layers = info.layers; // sizes now known
        break;
      }
      case "speakers": {
        this.speakers = (Array.isArray(d.speakers) ? d.speakers : []).map((x) => ({
          participantId: x.participantId,
          participant: this.participants.get(x.participantId) ?? null,
          local: x.participantId === this.participantId,
          level: typeof x.level === "number" ? x.level : 0,
        }));
        this._emit("speakers", { speakers: this.speakers });
        break;
      }
      case "trackPaused": {
        const p = this._ownerOf(d.trackId);
        const t = p?.tracks.get(d.trackId);
        if (!t || t.paused === !!d.paused) break;
        t.paused = !!d.paused;
        if (t.paused) this._emit("trackpaused", { track: t, participant: p, reason: d.reason ?? "" });
        else this._emit("trackresumed", { track: t, participant: p });
        break;
      }
      case "trackLayer": {
        const p = this._ownerOf(d.trackId);
        const t = p?.tracks.get(d.trackId);
        if (!t) break;
        t.layer = { rid: d.rid ?? "", index: d.layer ?? 0 };
        this._emit("tracklayer", { track: t, participant: p, rid: t.layer.rid, index: t.layer.index });
        break;
      }
      case "trackLayers": {
        // Our own tracks' layers are what we encode (lt.layers): not these.
        const p = this.participants.get(d.participantId);
        const t = p?.tracks.get(d.trackId);
        if (!t || !Array.isArray(d.layers)) break;
        t.layers = d.layers.map((l) => ({ rid: l.rid ?? "", width: l.width ?? 0, height: l.height ?? 0, bitrate: l.bitrate ?? 0 }));
        this._emit("tracklayers", { track: t, participant: p, layers: t.layers });
        break;
      }
      case "layersWanted": {
        const lt = this.localTracks.find((x) => x.trackId && x.trackId === d.trackId) ||
          this.localTracks.find((x) => d.clientTrackId && x.mediaStreamTrack.id === d.clientTrackId);
        if (lt && Array.isArray(d.layers)) this._setLayers(lt, d.layers);
        break;
      }
      case "trackUnpublished": {
        if (d.participantId === this.participantId) {
          const lt = this.localTracks.find((x) => x.trackId === d.trackId);
          if (lt) {
            lt.trackId = null;
            this._emit("localtrackunpublished", { track: lt });
          }
          break;
        }
        const p = this.participants.get(d.participantId);
        const t = p?.tracks.get(d.trackId);
        if (t) this._removeRemoteTrack(p, t);
        break;
      }
      case "trackMuted": {
        if (d.participantId === this.participantId) {
          const lt = this.localTracks.find((x) => x.trackId === d.trackId);
          if (lt) {
            lt.blocked = !!d.blocked;
            if (!d.blocked) lt.muted = d.muted;
            this._emit("trackmuted", { track: lt, participant: null, muted: d.muted, blocked: !!d.blocked });
          }
          break;
        }
        const p = this.participants.get(d.participantId);
        const t = p?.tracks.get(d.trackId);
        if (t) {
          t.muted = d.muted;
          t.blocked = !!d.blocked;
          this._emit("trackmuted", { track: t, participant: p, muted: d.muted, blocked: !!d.blocked });
        }
        break;
      }
      case "error":
        this._emit("error", { code: d.code, message: d.message });
        break;
      case "dataRejected":
        this._emit("datarejected", { code: d.code, message: d.message, dropped: d.dropped });
        break;
      case "bye":
        break; // the close follows; Session.end handles it
      default:
        break; // unknown types are ignored (protocol 1.2)
    }
  }

  // _ownerOf is the remote participant with track trackId.
  _ownerOf(trackId) {
    for (const p of this.participants.values()) if (p.tracks.has(trackId)) return p;
    return null;
  }

  // ---- subscriber ---------------------------------------------------------

  _subscriber(s) {
    if (!s.sub) {
      s.sub = new Peer("subscriber", this._rtcConfig(s), (c) => s.send("candidate", { target: "subscriber", candidate: c }));
      const pc = s.sub.pc;
      pc.onconnectionstatechange = () => {
        if (s === this._session) this._setConnection("subscriber", pc.connectionState);
      };
      pc.oniceconnectionstatechange = () => this._onSubscriberIce(s);
      pc.ontrack = (ev) => {
        this.e2ee?.decryptReceiver(ev.receiver, ev.track.kind); // before the first frame
        this._bindAll(s);
      };
      if (this._join?.data) this._openData(s, pc);
    }
    return s.sub;
  }

  // _onSubscriberIce asks the server for an ICE restart of the subscriber
  // when it fails or stays "disconnected" for 2 s (the server offers there).
  _onSubscriberIce(s) {
    if (s !== this._session || s.ended) return;
    const st = s.sub.pc.iceConnectionState;
    clearTimeout(s.subDisconnectTimer);
    if (st === "connected" || st === "completed") {
      s.subRestarts = 0;
    } else if (st === "failed") {
      this._subscriberIceFailed(s);
    } else if (st === "disconnected") {
      s.subDisconnectTimer = setTimeout(() => {
        if (s.sub?.pc.iceConnectionState === "disconnected") this._subscriberIceFailed(s);
      }, 2000);
    }
  }

  _subscriberIceFailed(s) {
    if (s !== this._session || this.state !== "joined" || s.subRestarting) return;
    if (s.subRestarts >= 3) {
      if (s.sub.pc.iceConnectionState === "failed") this._reconnect("subscriber ICE failed after 3 restarts");
      return;
    }
    s.subRestarts++;
    s.subRestarting = true;
    this._emit("icerestart", { target: "subscriber", by: "client" });
    s.request("restartIce", { target: "subscriber" }).catch(() => {}).finally(() => { s.subRestarting = false; });
  }

  async _onSubscriberOffer(s, sdp, iceRestart) {
    if (s.ended) return;
    const p = this._subscriber(s);
    if (iceRestart) this._emit("icerestart", { target: "subscriber", by: "server" });
    // A restart offer makes the browser gather anew: those candidates go
    // after our answer, which carries the new credentials.
    p.hold();
    await p.setRemote({ type: "offer", sdp });
    const answer = await p.pc.createAnswer();
    await p.pc.setLocalDescription(answer);
    const reply = s.request("answer", { target: "subscriber", sdp: p.pc.localDescription.sdp });
    p.release();
    this._bindAll(s);
    await reply;
  }

  // _bindAll attaches each receiver's MediaStreamTrack to the RemoteTrack its
  // m-section now carries (a=msid:<participantId> <trackId>), and detaches
  // tracks whose section the server stopped sending.
  _bindAll(s) {
    if (s !== this._session || !s.sub?.pc.remoteDescription) return;
    const byMid = new Map(sections(s.sub.pc.remoteDescription.sdp).map((x) => [x.mid, x]));
    const live = new Set();
    for (const tr of s.sub.pc.getTransceivers()) {
      const sec = tr.mid != null ? byMid.get(tr.mid) : null;
      if (!sec || !sec.msid || sec.port === "0" || (sec.direction !== "sendrecv" && sec.direction !== "sendonly")) continue;
      const [pid, tid] = sec.msid;
      const p = this.participants.get(pid);
      const t = p?.tracks.get(tid);
      if (!t) continue;
      live.add(t);
      this.e2ee?.bind(tr.receiver, t.kind, pid);
      if (t.mediaStreamTrack === tr.receiver.track && t.mid === tr.mid) continue;
      this._unbind(t);
      t.mid = tr.mid;
      t.receiver = tr.receiver;
      t.mediaStreamTrack = tr.receiver.track;
      t.stream = new MediaStream([t.mediaStreamTrack]);
      if (!t.screen) p.stream.addTrack(t.mediaStreamTrack);
      for (const el of t._elements.keys()) this._showOn(t, el);
      t._sent = null; // a new reception: the server has no settings for it yet
      this._scheduleSettings(t, 0);
      this._emit("tracksubscribed", { track: t, participant: p });
    }
    for (const p of this.participants.values()) {
      for (const t of p.tracks.values()) if (t.mediaStreamTrack && !live.has(t)) this._unbind(t);
    }
  }

  _unbind(t) {
    if (!t.mediaStreamTrack) return;
    const p = this.participants.get(t.participantId);
    if (p && !t.screen) p.stream.removeTrack(t.mediaStreamTrack);
    t.mediaStreamTrack = null;
    t.stream = null;
    t.receiver = null;
    t.mid = null;
    t.layer = null;
    t.paused = false;
    t._sent = null;
    clearTimeout(t._timer);
    this._emit("trackunsubscribed", { track: t, participant: p ?? null });
  }

  /** Receive these tracks (explicit subscription; see autoSubscribe). */
  async subscribe(trackIds) { await this._ack("subscribe", { trackIds: [...trackIds] }); }

  /** Stop receiving these tracks. */
  async unsubscribe(trackIds) { await this._ack("unsubscribe", { trackIds: [...trackIds] }); }

  async _ack(type, data) {
    const s = this._session;
    if (this.state !== "joined" || !s) throw new LetheError(ErrState, `${type}: room is ${this.state}`);
    return s.request(type, data);
  }

  // ---- publishing -----------------------------------------------------------

  /**
   * Capture the camera and/or microphone and publish them. With simulcast
   * (default: the Room option) and video: true, it asks for 1280×720, the
   * size the three layers are made from.
   */
  async publishCamera({ audio = true, video = true, simulcast = this.options.simulcast, svc = this.options.svc } = {}) {
    if ((simulcast || svc) && video === true) video = { width: { ideal: 1280 }, height: { ideal: 720 } };
    const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    return this._publish(stream.getTracks(), stream, false, true, simulcast, svc);
  }

  /** Capture a screen (getDisplayMedia) and publish it as the sub-stream (screenTrackIds). */
  async publishScreen(constraints = { video: true, audio: false }) {
    const stream = await navigator.mediaDevices.getDisplayMedia(constraints);
    const lts = await this._publish(stream.getTracks(), stream, true, true, false);
    for (const lt of lts) {
      // The person pressed the browser's "stop sharing".
      lt.mediaStreamTrack.addEventListener("ended", () => { this.unpublish(lt).catch(() => {}); }, { once: true });
    }
    return lts;
  }

  /**
   * Publish a MediaStream, or an array of MediaStreamTracks. screen: announce
   * video as the sub-stream. simulcast: send video as simulcastEncodings
   * (default: the Room option, never for a screen).
   */
  async publish(input, { screen = false, simulcast = this.options.simulcast && !screen, svc = screen ? null : this.options.svc } = {}) {
    const tracks = input instanceof MediaStream ? input.getTracks() : Array.isArray(input) ? input : [input];
    const stream = input instanceof MediaStream ? input : new MediaStream(tracks);
    return this._publish(tracks, stream, screen, false, simulcast, svc);
  }

  async _publish(tracks, stream, screen, owned, simulcast, svc) {
    if (this.state === "closed") throw new LetheError(ErrState, "publish: room is closed");
    const lts = tracks.map((t) => new LocalTrack(t, stream, screen, owned));
    for (const lt of lts) {
      if (svc && lt.kind === "video") {
        if (!vp9Codecs()) throw new LetheError(ErrState, "publish: svc needs VP9, which this browser does not send");
        if (this.e2ee) throw new LetheError(ErrState, "publish: svc (VP9) with e2ee is not supported: E2EE frames are VP8");
        lt._svc = String(svc);
        continue;
      }
      if (!simulcast || lt.kind !== "video") continue;
      lt.simulcast = true;
      lt._encodings = encodingsFor(this.options.simulcastEncodings);
    }
    if (this.permissions) {
      for (const lt of lts) {
        if (!this.permissions.send.includes(lt.media)) {
          if (owned) for (const t of tracks) t.stop();
          throw new LetheError(ErrNotAllowed, `publish: this participant may not send ${lt.media}`);
        }
      }
    }
    this.localTracks.push(...lts);
    if (this.state !== "joined") return lts; // published when the (re)join completes
    try {
      await this._negotiate(this._session, lts, false);
    } catch (err) {
      this.localTracks = this.localTracks.filter((x) => !lts.includes(x));
      if (owned) for (const t of tracks) t.stop();
      throw err;
    }
    return lts;
  }

  /** Stop publishing a local track. Tracks the room captured itself are stopped too. */
  async unpublish(lt) {
    const i = this.localTracks.indexOf(lt);
    if (i < 0) return;
    this.localTracks.splice(i, 1);
    if (lt._owned) lt.mediaStreamTrack.stop();
    const tr = lt._transceiver;
    lt._transceiver = null;
    if (tr && this.state === "joined" && this._session) {
      tr.stop();
      await this._negotiate(this._session, [], false);
    }
  }

  /** Pause (true) or resume (false) one of our tracks for everyone. Also disables it locally. */
  async mute(lt, muted) {
    lt.muted = muted;
    lt.mediaStreamTrack.enabled = !muted;
    if (lt.trackId && this.state === "joined") {
      await this._ack("mute", { trackId: lt.trackId, muted });
    } // otherwise sent when the server announces the track
  }

  /**
   * Send another MediaStreamTrack of the same kind in place of a local
   * track's (another camera or microphone), without renegotiating: the
   * server sees the same track (RTCRtpSender.replaceTrack). The mute
   * state carries over. If the room captured the old track itself, it
   * stops it and owns the new one (stopped on unpublish/leave).
   */
  async replaceTrack(lt, track) {
    if (!this.localTracks.includes(lt)) throw new LetheError(ErrState, "replaceTrack: not a local track of this room");
    if (!track || track.kind !== lt.kind) throw new LetheError(ErrState, `replaceTrack: needs a ${lt.kind} track`);
    const old = lt.mediaStreamTrack;
    if (old === track) return;
    track.enabled = !lt.muted;
    await lt._transceiver?.sender.replaceTrack(track);
    lt.mediaStreamTrack = track;
    if (lt.stream) { lt.stream.removeTrack(old); lt.stream.addTrack(track); }
    if (lt._owned) old.stop();
  }

  /**
   * Restart ICE now (it happens by itself when ICE fails): on the publisher
   * PeerConnection by an offer with new credentials, on the subscriber by
   * asking the server, which then offers with new credentials.
   */
  async restartIce(target = "publisher") {
    const s = this._session;
    if (target === "subscriber") {
      if (this.state !== "joined" || !s?.sub) throw new LetheError(ErrState, "restartIce: nothing received");
      this._emit("icerestart", { target, by: "client" });
      await s.request("restartIce", { target });
      return;
    }
    if (this.state !== "joined" || !s?.pub) throw new LetheError(ErrState, "restartIce: nothing published");
    this._emit("icerestart", { target: "publisher", by: "client" });
    await this._negotiate(s, [], true);
  }

  _publisher(s) {
    if (!s.pub) {
      s.pub = new Peer("publisher", this._rtcConfig(s), (c) => s.send("candidate", { target: "publisher", candidate: c }));
      const pc = s.pub.pc;
      pc.oniceconnectionstatechange = () => this._onPublisherIce(s);
      pc.onconnectionstatechange = () => {
        if (s === this._session) this._setConnection("publisher", pc.connectionState);
      };
    }
    return s.pub;
  }

  _onPublisherIce(s) {
    if (s !== this._session || s.ended) return;
    const st = s.pub.pc.iceConnectionState;
    clearTimeout(s.disconnectTimer);
    if (st === "connected" || st === "completed") {
      s.iceRestarts = 0;
    } else if (st === "failed") {
      this._iceFailed(s);
    } else if (st === "disconnected") {
      s.disconnectTimer = setTimeout(() => {
        if (s.pub?.pc.iceConnectionState === "disconnected") this._iceFailed(s);
      }, 2000);
    }
  }

  // _iceFailed restarts the publisher's ICE, one restart at a time, at most
  // 3 before it connects again; beyond that a failed publisher means a rejoin.
  _iceFailed(s, by = "client") {
    if (s !== this._session || this.state !== "joined" || s.pubRestarting) return;
    if (s.iceRestarts >= 3) {
      if (s.pub.pc.iceConnectionState === "failed") this._reconnect("publisher ICE failed after 3 restarts");
      return;
    }
    s.iceRestarts++;
    s.pubRestarting = true;
    this._emit("icerestart", { target: "publisher", by });
    this._negotiate(s, [], true).catch(() => {}).finally(() => { s.pubRestarting = false; });
  }

  // _negotiate adds lts to the publisher PeerConnection and runs one offer/
  // answer exchange; with iceRestart the offer carries new ICE credentials.
  // Negotiations of a session run one after another.
  _negotiate(s, lts, iceRestart) {
    const run = async () => {
      if (!s || s.ended) throw new LetheError(ErrClosed, "not connected");
      const p = this._publisher(s);
      const added = [];
      for (const lt of lts) {
        const init = { direction: "sendonly", streams: [lt.stream] };
        // Every (re)publication starts with all layers on: a new server
        // session says again (layersWanted) which ones anybody receives.
        if (lt._encodings) init.sendEncodings = lt._encodings.map((e) => ({ ...e }));
        if (lt._svc) init.sendEncodings = [{ scalabilityMode: lt._svc }];
        lt._transceiver = p.pc.addTransceiver(lt.mediaStreamTrack, init);
        if (lt._svc) lt._transceiver.setCodecPreferences(vp9Codecs());
        if (this.e2ee) {
          if (lt.kind === "video") preferVP8(lt._transceiver);
          this.e2ee.encryptSender(lt._transceiver.sender, lt.kind, this.participantId);
        }
        lt.layers = lt._encodings ? lt._encodings.map((e) => ({ rid: e.rid, active: true })) : [];
        added.push(lt);
      }
      p.hold();
      const offer = await p.pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      await p.pc.setLocalDescription(offer);
      const sdp = p.pc.localDescription.sdp;
      const byMid = new Map(sections(sdp).map((x) => [x.mid, x]));
      const screenTrackIds = [];
      for (const lt of this.localTracks) {
        const sec = lt.screen && lt._transceiver?.mid != null ? byMid.get(lt._transceiver.mid) : null;
        if (sec?.msid) screenTrackIds.push(sec.msid[1]);
      }
      const data = { target: "publisher", sdp };
      if (screenTrackIds.length) data.screenTrackIds = screenTrackIds;
      const reply = s.request("offer", data);
      p.release();
      let answer;
      try {
        answer = await reply;
      } catch (err) {
        if (!s.ended) {
          await p.pc.setLocalDescription({ type: "rollback" }).catch(() => {});
          for (const lt of added) {
            try { lt._transceiver.stop(); } catch { /* already stopped */ }
            lt._transceiver = null;
          }
        }
        throw err;
      }
      await p.setRemote({ type: "answer", sdp: answer.data.sdp });
      // The answer pauses the rids the offer paused, and the browser sets
      // its encodings' active from it: a layersWanted that came while the
      // offer waited would be undone. Apply the last one again.
      for (const lt of this.localTracks) if (lt._encodings && lt._transceiver) this._setLayers(lt, null);
    };
    const next = s.pubChain.then(run, run);
    s.pubChain = next.catch(() => {});
    return next;
  }

  _onLocalPublished(s, info) {
    const lt = this.localTracks.find((x) => x._transceiver && x._transceiver.mid === info.mid) ||
      this.localTracks.find((x) => x.mediaStreamTrack.id === info.clientTrackId);
    if (!lt) return;
    lt.trackId = info.trackId;
    lt.blocked = !!info.blocked;
    this._emit("localtrackpublished", { track: lt });
    if (lt.muted && !info.muted) {
      s.request("mute", { trackId: lt.trackId, muted: true }).catch(() => {});
    }
  }

  // ---- dynacast ------------------------------------------------------------

  // _setLayers switches lt's encodings on and off as layersWanted says
  // (read-modify-write of the sender's parameters), one change at a time;
  // wanted null applies lt.layers, the last state asked, again, and says
  // nothing unless that changed an encoding.
  _setLayers(lt, wanted) {
    const tr = lt._transceiver;
    lt._layersChain = lt._layersChain.then(async () => {
      if (!tr || lt._transceiver !== tr || tr.currentDirection === "stopped") return;
      const params = tr.sender.getParameters();
      if (!params.encodings || params.encodings.length < 2) return;
      const again = wanted === null;
      if (again) wanted = lt.layers;
      let changed = false;
      for (const enc of params.encodings) {
        const w = wanted.find((x) => x && x.rid === enc.rid);
        if (w && enc.active !== !!w.active) {
          enc.active = !!w.active;
          changed = true;
        }
      }
      if (again && !changed) return;
      if (changed) await tr.sender.setParameters(params);
      lt.layers = params.encodings.map((e) => ({ rid: e.rid, active: e.active !== false }));
      this._emit("layerswanted", { track: lt, layers: lt.layers.map((x) => ({ ...x })) });
    }).catch((err) => {
      if (this.state !== "closed") this._emit("error", { code: ErrState, message: `layersWanted: ${err.message}` });
    });
  }

  // ---- adaptive stream and track settings ----------------------------------

  _remoteTrack(track) {
    if (track instanceof RemoteTrack) return track;
    const t = this._ownerOf(track)?.tracks.get(track);
    if (!t) throw new LetheError(ErrState, `no remote track ${track}`);
    return t;
  }

  /**
   * Show a received track on a <video> (or <audio>) element: sets its
   * srcObject unless it already shows the track (e.g. a participant's
   * stream), now or once the track is received. With adaptiveStream, the
   * element's size and visibility then steer what the server sends (see the
   * top of this file). Returns the element.
   */
  attach(track, element) {
    const t = this._remoteTrack(track);
    if (this.state === "closed") throw new LetheError(ErrState, "attach: room is closed");
    if (!t._elements.has(element)) t._elements.set(element, { width: 0, height: 0, seen: true, measured: false });
    this._showOn(t, element);
    if (!this.options.adaptiveStream || t.kind !== "video" || typeof ResizeObserver === "undefined") return element;
    const old = this._watched.get(element);
    if (old === t) return element; // watched already
    if (old) this.detach(old, element);
    this._watched.set(element, t);
    if (!this._resize) {
      this._resize = new ResizeObserver((entries) => {
        for (const e of entries) {
          const wt = this._watched.get(e.target);
          const st = wt?._elements.get(e.target);
          if (!st) continue;
          st.width = e.contentRect.width;
          st.height = e.contentRect.height;
          st.measured = true;
          this._adapt(wt);
        }
      });
      this._intersect = new IntersectionObserver((entries) => {
        for (const e of entries) {
          const wt = this._watched.get(e.target);
          const st = wt?._elements.get(e.target);
          if (!st) continue;
          st.seen = e.isIntersecting;
          this._adapt(wt);
        }
      });
      document.addEventListener("visibilitychange", this._onVisibility);
    }
    this._resize.observe(element);
    this._intersect.observe(element);
    return element;
  }

  /** Stop showing (and watching) a track on element, or on every element it was attached to. */
  detach(track, element) {
    let t;
    try { t = this._remoteTrack(track); } catch { return; }
    for (const el of element ? [element] : [...t._elements.keys()]) {
      if (!t._elements.delete(el)) continue;
      if (this._watched.get(el) === t) {
        this._watched.delete(el);
        this._resize?.unobserve(el);
        this._intersect?.unobserve(el);
      }
      if (t.mediaStreamTrack && el.srcObject instanceof MediaStream &&
          el.srcObject.getTracks().length === 1 && el.srcObject.getTracks()[0] === t.mediaStreamTrack) {
        el.srcObject = null; // ours: attach set it
      }
    }
    if (t.mediaStreamTrack) this._adapt(t);
  }

  /**
   * The app's own wishes for a received track (trackSettings): maxLayer (an
   * index into track.layers), width and height (the smallest layer at least
   * that big), fps, paused. They win over what adaptive stream measured;
   * null removes them. Resolves once the server took them (or at once, when
   * the track is not received yet: they are sent when it is).
   */
  async setTrackSettings(track, settings) {
    const t = this._remoteTrack(track);
    t._explicit = settings === null || settings === undefined ? null : settingsOf(settings);
    clearTimeout(t._timer);
    await this._sendSettings(t);
  }

  _showOn(t, el) {
    if (!t.mediaStreamTrack) return;
    const src = el.srcObject;
    if (src instanceof MediaStream && src.getTracks().includes(t.mediaStreamTrack)) return;
    el.srcObject = new MediaStream([t.mediaStreamTrack]);
    el.play?.()?.catch?.(() => {});
  }

  // _adapt recomputes what t's elements want and sends it after a pause.
  _adapt(t) {
    if (t.kind === "video") this._scheduleSettings(t, SETTINGS_DELAY_MS);
  }

  _scheduleSettings(t, delay) {
    clearTimeout(t._timer);
    t._timer = setTimeout(() => { this._sendSettings(t).catch(() => {}); }, delay);
  }

  // _wanted is the trackSettings for t: what its watched elements measure,
  // then the app's wishes over them; null when there is nothing to say.
  _wanted(t) {
    let adaptive = null;
    const watched = [...t._elements.entries()].filter(([el]) => this._watched.get(el) === t);
    // Not measured yet: say nothing rather than a pause for a 0×0 element.
    if (watched.some(([, st]) => !st.measured)) return null;
    if (watched.length > 0) {
      const pageSeen = typeof document === "undefined" || document.visibilityState !== "hidden";
      let w = 0, h = 0;
      for (const [el, st] of watched) {
        if (!pageSeen || !st.seen || el.hidden || st.width <= 0 || st.height <= 0) continue;
        w = Math.max(w, st.width);
        h = Math.max(h, st.height);
      }
      const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
      adaptive = w > 0 ? { width: Math.round(w * dpr), height: Math.round(h * dpr) } : { paused: true };
    }
    if (!adaptive && !t._explicit) return t._sent ? {} : null; // wishes withdrawn: say so once
    return { ...adaptive, ...t._explicit };
  }

  async _sendSettings(t) {
    const s = this._session;
    if (!t.mediaStreamTrack || !s || this.state !== "joined") return; // sent when it is received
    const w = this._wanted(t);
    if (!w) return;
    const msg = { trackId: t.trackId, ...w };
    const key = JSON.stringify(msg);
    if (key === t._sent) return;
    t._sent = key;
    try {
      await s.request("trackSettings", msg);
    } catch (err) {
      if (t._sent === key) t._sent = null; // try again on the next change
      throw err;
    }
  }

  // ---- roles --------------------------------------------------------------

  /** Become an anchor (may publish) or audience (receives only). */
  async switchRole(role, privateMapKey) {
    const data = { role };
    if (privateMapKey) data.privateMapKey = privateMapKey;
    const reply = await this._ack("switchRole", data);
    this.role = reply.data?.role ?? role;
    this.permissions = reply.data?.permissions ?? this.permissions;
    this._join.role = this.role; // a rejoin keeps the role
    if (privateMapKey) this._join.privateMapKey = privateMapKey;
    this._emit("roleswitched", { role: this.role, permissions: this.permissions });
    return reply.data;
  }

  // ---- statistics -----------------------------------------------------------

  /** A summary of both PeerConnections' getStats(); see the top of this file. */
  async stats() {
    const s = this._session;
    const out = { publisher: { rtt: null }, subscriber: { rtt: null }, local: [], remote: [] };
    if (!s) return out;
    const now = performance.now();
    const rate = (key, bytes) => {
      const prev = this._prevBytes.get(key);
      this._prevBytes.set(key, { bytes, at: now });
      if (!prev || now <= prev.at || bytes < prev.bytes) return null;
      return ((bytes - prev.bytes) * 8 * 1000) / (now - prev.at);
    };
    if (s.pub) {
      const rep = await s.pub.pc.getStats();
      out.publisher.rtt = pairRtt(rep);
      const remoteIn = new Map();
      for (const r of rep.values()) if (r.type === "remote-inbound-rtp") remoteIn.set(r.localId, r);
      for (const r of rep.values()) {
        if (r.type !== "outbound-rtp") continue;
        const src = r.mediaSourceId ? rep.get(r.mediaSourceId) : null;
        const lt = this.localTracks.find((x) => x._transceiver && x._transceiver.mid === r.mid) ||
          this.localTracks.find((x) => src && x.mediaStreamTrack.id === src.trackIdentifier);
        if (!lt) continue;
        const ri = remoteIn.get(r.id);
        out.local.push({
          track: lt, kind: lt.kind, rid: r.rid ?? null, active: r.active ?? null,
          bytesSent: r.bytesSent, packetsSent: r.packetsSent,
          bitrate: rate("out:" + r.id, r.bytesSent),
          packetsLost: ri?.packetsLost ?? null, rtt: ri?.roundTripTime ?? null,
          audioLevel: src?.audioLevel ?? null, framesEncoded: r.framesEncoded ?? null,
          frameWidth: r.frameWidth ?? null, frameHeight: r.frameHeight ?? null,
        });
      }
    }
    if (s.sub) {
      const rep = await s.sub.pc.getStats();
      out.subscriber.rtt = pairRtt(rep);
      const byMid = new Map();
      const byTrack = new Map();
      for (const p of this.participants.values()) {
        for (const t of p.tracks.values()) {
          if (t.mid != null) byMid.set(t.mid, t);
          if (t.mediaStreamTrack) byTrack.set(t.mediaStreamTrack.id, t);
        }
      }
      for (const r of rep.values()) {
        if (r.type !== "inbound-rtp") continue;
        const t = (r.mid != null ? byMid.get(r.mid) : null) || byTrack.get(r.trackIdentifier);
        if (!t) continue;
        out.remote.push({
          track: t, kind: r.kind, layer: t.layer?.rid ?? null, paused: t.paused,
          bytesReceived: r.bytesReceived, packetsReceived: r.packetsReceived,
          packetsLost: r.packetsLost, bitrate: rate("in:" + r.id, r.bytesReceived), jitter: r.jitter ?? null,
          audioLevel: r.audioLevel ?? null, framesDecoded: r.framesDecoded ?? null,
          frameWidth: r.frameWidth ?? null, frameHeight: r.frameHeight ?? null,
        });
      }
    }
    return out;
  }

  // ---- data messages (protocol 3.12) ---------------------------------------

  // _openData creates the two negotiated data channels on session s's
  // subscriber RTCPeerConnection, with the server's ids.
  _openData(s, pc) {
    const opts = [{ negotiated: true, id: 0 }, { negotiated: true, id: 1, ordered: false, maxRetransmits: 0 }];
    s.data = ["lethe-reliable", "lethe-lossy"].map((label, i) => {
      const ch = pc.createDataChannel(label, opts[i]);
      ch.binaryType = "arraybuffer";
      ch.bufferedAmountLowThreshold = DATA_BUFFER_LOW;
      ch.onmessage = (e) => {
        if (s !== this._session) return;
        const m = parseDataFrame(new Uint8Array(e.data instanceof ArrayBuffer ? e.data : new TextEncoder().encode(e.data)));
        if (!m) return; // not the server's framing
        this._emit("data", {
          from: m.sender, participant: this.participants.get(m.sender) ?? null, topic: m.topic,
          data: m.text ? new TextDecoder().decode(m.payload) : m.payload, text: m.text, private: m.private, lossy: i === 1,
        });
      };
      return ch;
    });
  }

  /**
   * Send a data message: a string (it arrives as a string) or bytes
   * (ArrayBuffer, a typed array), to the room or to participants by id
   * ({to: [...]}) , reliable and ordered or ({lossy: true}) unordered and
   * never resent. Rejects with a LetheError: 4006 over the size limit,
   * ErrState before the channels are open or without join's data.
   */
  async sendData(data, { lossy = false, to = [], topic = "" } = {}) {
    const s = this._session;
    const ch = s?.data?.[lossy ? 1 : 0];
    if (!ch || ch.readyState !== "open") throw new LetheError(ErrState, "sendData: the data channels are not open (join with data: true)");
    const text = typeof data === "string";
    const payload = text ? new TextEncoder().encode(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const limit = this.dataInfo?.maxMessage || 16384;
    if (payload.byteLength > limit) throw new LetheError(4006, `sendData: ${payload.byteLength} bytes, limit ${limit}`);
    const frame = dataFrame(text, topic, to, payload);
    while (!lossy && ch.bufferedAmount > DATA_BUFFER_HIGH && ch.readyState === "open") {
      await new Promise((r) => ch.addEventListener("bufferedamountlow", r, { once: true }));
    }
    ch.send(frame);
  }
}

// pairRtt is the current round-trip time of the selected ICE candidate pair, in seconds.
function pairRtt(rep) {
  for (const r of rep.values()) {
    if (r.type === "transport" && r.selectedCandidatePairId) {
      return rep.get(r.selectedCandidatePairId)?.currentRoundTripTime ?? null;
    }
  }
  for (const r of rep.values()) {
    if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") return r.currentRoundTripTime ?? null;
  }
  return null;
}

// Data messages (protocol 3.12): a reliable sendData waits while the
// channel holds more than DATA_BUFFER_HIGH bytes, until it drains to
// DATA_BUFFER_LOW.
const DATA_BUFFER_HIGH = 1 << 20;
const DATA_BUFFER_LOW = 256 << 10;

// dataFrame frames a message as the server reads it: version 1, flags
// (1: text), no sender, the topic, the destinations, the payload.
function dataFrame(text, topic, to, payload) {
  const enc = new TextEncoder();
  const t = enc.encode(topic);
  const ids = to.map((id) => enc.encode(id));
  if (t.length > 64 || ids.length > 16 || ids.some((id) => id.length === 0 || id.length > 64)) {
    throw new LetheError(4009, "sendData: a topic over 64 bytes, more than 16 destinations, or a bad participant id");
  }
  const out = new Uint8Array(5 + t.length + ids.reduce((n, id) => n + 1 + id.length, 0) + payload.byteLength);
  let o = 0;
  out[o++] = 1;
  out[o++] = text ? 1 : 0;
  out[o++] = 0; // the server sets the sender
  out[o++] = t.length;
  out.set(t, o);
  o += t.length;
  out[o++] = ids.length;
  for (const id of ids) {
    out[o++] = id.length;
    out.set(id, o);
    o += id.length;
  }
  out.set(payload, o);
  return out;
}

// parseDataFrame reads a relayed frame: {sender, topic, text, private,
// payload}, or null if it is not one.
function parseDataFrame(b) {
  if (b.length < 5 || b[0] !== 1) return null;
  const flags = b[1];
  let o = 2;
  const field = () => {
    const n = b[o];
    if (o + 1 + n > b.length) return null;
    const v = b.subarray(o + 1, o + 1 + n);
    o += 1 + n;
    return v;
  };
  const dec = new TextDecoder();
  const sender = field();
  if (!sender || o >= b.length) return null;
  const topic = field();
  if (!topic || o >= b.length) return null;
  let n = b[o++];
  while (n-- > 0) {
    if (o >= b.length || !field()) return null;
  }
  return { sender: dec.decode(sender), topic: dec.decode(topic), text: (flags & 1) !== 0, private: (flags & 2) !== 0, payload: b.slice(o) };
}
