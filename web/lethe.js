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
//   });
//
//   await room.join({sdkAppId, userId, userSig, roomId | strRoomId,
//                    role?, autoSubscribe?, privateMapKey?})  → the `joined` data
//   await room.publishCamera({audio: true, video: true})      → [LocalTrack]
//   await room.publishScreen()                                → [LocalTrack]
//   await room.publish(streamOrTracks, {screen: false})       → [LocalTrack]
//   await room.unpublish(localTrack)
//   await room.mute(localTrack, true|false)     // pause/resume for everyone
//   await room.subscribe([trackId, ...]); await room.unsubscribe([trackId, ...])
//   await room.switchRole("anchor"|"audience", privateMapKey?)
//   await room.restartIce(target?)              // ICE restart now: "publisher" (default) or "subscriber"
//   await room.stats()                          // a summary of getStats (below)
//   await room.leave()
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
//                        mediaStreamTrack (null until received), stream, mid}
//   room.localTracks    [LocalTrack]
//   LocalTrack          {mediaStreamTrack, kind, screen, muted, blocked,
//                        trackId (server id once published; null before)}
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
//                                           follows after a random delay of up to 2 s
//   error                {code, message}    (errors not tied to a request)
//   closed               {code, reason}     the end: no more events
//
// room.stats() resolves to {publisher: {rtt}, subscriber: {rtt}, local: [...],
// remote: [...]}: per local track {track, kind, bytesSent, packetsSent, bitrate,
// packetsLost, rtt, audioLevel, frameWidth, frameHeight, framesEncoded}; per
// received track {track, kind, bytesReceived, packetsReceived, packetsLost,
// bitrate, jitter, audioLevel, framesDecoded, frameWidth, frameHeight}. bitrate is
// in bit/s since the previous stats() call; rtt in seconds.
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
// Limits: at most 8 audio/video sections per publisher connection, unpublished
// ones included (the server's rule); after that, publishing needs a rejoin. No
// simulcast, no data channels (not in protocol v1).
// ---------------------------------------------------------------------------

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

// Server codes an app may act on (docs/protocol.md section 5).
export const CodeGoingAway = 3003; // bye: the server is draining; rejoin, elsewhere or later
export const CodeDraining = 3004; // join refused: the server is draining; try another or later

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
      ...options,
    };
    this.state = "new";
    this.participantId = null;
    this.role = null;
    this.permissions = null;
    this.server = null;
    this.roomInfo = null;
    this.participants = new Map();
    this.localTracks = [];
    this.connection = { signal: "closed", publisher: "new", subscriber: "new" };
    this._session = null;
    this._join = null;
    this._leaving = false;
    this._reconnecting = false;
    this._prevBytes = new Map();
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
    this._setConnection("publisher", "closed");
    this._setConnection("subscriber", "closed");
    this._setState("closed", reason);
    this._emit("closed", { code, reason });
  }

  _clearRemote() {
    for (const p of [...this.participants.values()]) this._removeParticipant(p);
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
      case "bye":
        break; // the close follows; Session.end handles it
      default:
        break; // unknown types are ignored (protocol 1.2)
    }
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
      pc.ontrack = () => this._bindAll(s);
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
      if (t.mediaStreamTrack === tr.receiver.track && t.mid === tr.mid) continue;
      this._unbind(t);
      t.mid = tr.mid;
      t.receiver = tr.receiver;
      t.mediaStreamTrack = tr.receiver.track;
      t.stream = new MediaStream([t.mediaStreamTrack]);
      if (!t.screen) p.stream.addTrack(t.mediaStreamTrack);
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

  /** Capture the camera and/or microphone and publish them. */
  async publishCamera({ audio = true, video = true } = {}) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    return this._publish(stream.getTracks(), stream, false, true);
  }

  /** Capture a screen (getDisplayMedia) and publish it as the sub-stream (screenTrackIds). */
  async publishScreen(constraints = { video: true, audio: false }) {
    const stream = await navigator.mediaDevices.getDisplayMedia(constraints);
    const lts = await this._publish(stream.getTracks(), stream, true, true);
    for (const lt of lts) {
      // The person pressed the browser's "stop sharing".
      lt.mediaStreamTrack.addEventListener("ended", () => { this.unpublish(lt).catch(() => {}); }, { once: true });
    }
    return lts;
  }

  /** Publish a MediaStream, or an array of MediaStreamTracks. screen: announce video as the sub-stream. */
  async publish(input, { screen = false } = {}) {
    const tracks = input instanceof MediaStream ? input.getTracks() : Array.isArray(input) ? input : [input];
    const stream = input instanceof MediaStream ? input : new MediaStream(tracks);
    return this._publish(tracks, stream, screen, false);
  }

  async _publish(tracks, stream, screen, owned) {
    if (this.state === "closed") throw new LetheError(ErrState, "publish: room is closed");
    const lts = tracks.map((t) => new LocalTrack(t, stream, screen, owned));
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
        lt._transceiver = p.pc.addTransceiver(lt.mediaStreamTrack, { direction: "sendonly", streams: [lt.stream] });
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
          track: lt, kind: lt.kind, bytesSent: r.bytesSent, packetsSent: r.packetsSent,
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
          track: t, kind: r.kind, bytesReceived: r.bytesReceived, packetsReceived: r.packetsReceived,
          packetsLost: r.packetsLost, bitrate: rate("in:" + r.id, r.bytesReceived), jitter: r.jitter ?? null,
          audioLevel: r.audioLevel ?? null, framesDecoded: r.framesDecoded ?? null,
          frameWidth: r.frameWidth ?? null, frameHeight: r.frameHeight ?? null,
        });
      }
    }
    return out;
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
