// lethe-e2ee.js — Lethe's end-to-end encryption of media frames
// (docs/protocol.md §3.13). The same file is three things:
//   - the frame format (encryptFrame, decryptFrame, clearLen) and key
//     derivation (KeyRing), exported for lethe.js and for tests;
//   - the worker that runs the RTCRtpScriptTransforms (it registers
//     onrtctransform when loaded as a dedicated worker);
//   - E2EE, the page side lethe.js's Room uses: one worker per room,
//     a transform on every sender and receiver.
// The format is the Go package e2ee's: both decrypt e2ee/testdata/vectors.json.
//
// An encrypted frame is
//   clear[n] | AES-128-GCM(frame[n:], additional data = clear) | tag[16] | iv[12] | n | keyIndex
// with n = 10 for a VP8 keyframe, 3 for a VP8 inter frame, 0 for Opus.
// The room secret never leaves this browser: Lethe only forwards.

export const IV_LEN = 12;
export const TAG_LEN = 16;
export const TRAILER_LEN = IV_LEN + 2;
export const OVERHEAD = TAG_LEN + TRAILER_LEN;
export const RING_SIZE = 16;
export const PBKDF2_ITERATIONS = 100000;
const PBKDF2_SALT = "lethe-e2ee-v1";
const HKDF_INFO = "lethe-e2ee-v1 frame key";
const MAX_CACHED = 4096;

const utf8 = new TextEncoder();
const bytesOf = (secret) => (typeof secret === "string" ? utf8.encode(secret) : new Uint8Array(secret));

/** clearLen is how many leading bytes of frame stay clear ("video/VP8" or "audio/opus"). */
export function clearLen(codec, frame) {
  if (!/^video\/vp8$/i.test(codec) || frame.length === 0) return 0;
  return Math.min(frame[0] & 0x01 ? 3 : 10, frame.length);
}

/** deriveMaster stretches a room secret (PBKDF2-SHA256) into an HKDF key. */
export async function deriveMaster(secret) {
  const s = bytesOf(secret);
  if (s.length === 0) throw new Error("e2ee: empty secret");
  const base = await crypto.subtle.importKey("raw", s, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: utf8.encode(PBKDF2_SALT), iterations: PBKDF2_ITERATIONS }, base, 256);
  return crypto.subtle.importKey("raw", bits, "HKDF", false, ["deriveKey"]);
}

/** participantKey is participant pid's AES-128-GCM frame key (HKDF-SHA256, salt pid). */
export function participantKey(master, pid) {
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: utf8.encode(pid), info: utf8.encode(HKDF_INFO) },
    master, { name: "AES-GCM", length: 128 }, false, ["encrypt", "decrypt"]);
}

/** encryptFrame returns the encrypted form of frame (Uint8Array) under key, with a 12-byte iv. */
export async function encryptFrame(key, index, iv, codec, frame) {
  const n = clearLen(codec, frame);
  const ct = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: frame.subarray(0, n), tagLength: 128 }, key, frame.subarray(n)));
  const out = new Uint8Array(n + ct.length + TRAILER_LEN);
  out.set(frame.subarray(0, n), 0);
  out.set(ct, n);
  out.set(iv, n + ct.length);
  out[out.length - 2] = n;
  out[out.length - 1] = index;
  return out;
}

/** parseTrailer reads an encrypted frame's trailer, or returns null when it is not one. */
export function parseTrailer(frame) {
  if (frame.length < OVERHEAD) return null;
  const index = frame[frame.length - 1];
  const n = frame[frame.length - 2];
  const t = frame.length - TRAILER_LEN;
  if (index >= RING_SIZE || n + TAG_LEN > t) return null;
  return { index, clear: n, iv: frame.subarray(t, t + IV_LEN), body: frame.subarray(n, t) };
}

/** decryptFrame returns the plaintext of an encrypted frame; it throws when it does not authenticate. */
export async function decryptFrame(keyFor, frame) {
  const p = parseTrailer(frame);
  if (!p) throw new Error("malformed");
  const key = await keyFor(p.index);
  if (!key) throw new Error("nokey");
  const clear = frame.subarray(0, p.clear);
  let pt;
  try {
    pt = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: p.iv, additionalData: clear, tagLength: 128 }, key, p.body));
  } catch {
    throw new Error("auth");
  }
  const out = new Uint8Array(p.clear + pt.length);
  out.set(clear, 0);
  out.set(pt, p.clear);
  return out;
}

/** KeyRing holds up to RING_SIZE secrets by index and the participant keys derived from them. */
export class KeyRing {
  constructor() {
    this.masters = new Array(RING_SIZE).fill(null); // Promise<CryptoKey> | null
    this.index = 0;
    this.keys = new Map(); // index + "\n" + pid → Promise<CryptoKey>
  }
  setSecret(index, secret) {
    checkIndex(index);
    const m = deriveMaster(secret);
    m.catch(() => {});
    this.masters[index] = m;
    for (const k of [...this.keys.keys()]) if (k.startsWith(index + "\n")) this.keys.delete(k);
    return m.then(() => undefined);
  }
  setIndex(index) { checkIndex(index); this.index = index; }
  key(index, pid) {
    const m = this.masters[index];
    if (!m) return Promise.resolve(null);
    const k = index + "\n" + pid;
    let p = this.keys.get(k);
    if (!p) {
      if (this.keys.size >= MAX_CACHED) this.keys.clear();
      p = m.then((master) => participantKey(master, pid));
      this.keys.set(k, p);
    }
    return p;
  }
}

function checkIndex(index) {
  if (!Number.isInteger(index) || index < 0 || index >= RING_SIZE) throw new Error(`e2ee: key index ${index}: want 0..${RING_SIZE - 1}`);
}

// ---- the worker -----------------------------------------------------------

// Counter IVs: a random 4-byte salt per transform, then a 64-bit counter.
function ivSource() {
  const salt = crypto.getRandomValues(new Uint8Array(4));
  let hi = 0, lo = 0;
  return () => {
    const iv = new Uint8Array(IV_LEN);
    iv.set(salt, 0);
    const v = new DataView(iv.buffer);
    v.setUint32(4, hi);
    v.setUint32(8, lo);
    if (++lo === 0x100000000) { lo = 0; hi++; }
    return iv;
  };
}

function frameCodec(frame, kind) {
  if (kind === "audio") return "audio/opus";
  const mime = frame.getMetadata?.().mimeType;
  return mime || "video/VP8";
}

function runWorker() {
  const ring = new KeyRing();
  const bound = new Map(); // receiver transform id → participant id
  const failures = new Map(); // "pid kind reason" → {count, sent}
  const fail = (pid, kind, reason) => {
    const k = `${pid} ${kind} ${reason}`;
    const f = failures.get(k) || { count: 0, sent: 0 };
    f.count++;
    failures.set(k, f);
    const now = Date.now();
    if (f.sent === 0 || now - f.sent >= 1000) { // at most one report per second and cause
      f.sent = now;
      self.postMessage({ type: "error", participantId: pid, kind, reason, count: f.count });
    }
  };
  self.onmessage = async (ev) => {
    const m = ev.data || {};
    try {
      switch (m.type) {
        case "setSecret": await ring.setSecret(m.index, m.secret); if (m.use) ring.setIndex(m.index); break;
        case "setIndex": ring.setIndex(m.index); break;
        case "bind": bound.set(m.id, m.participantId); break;
        default: return;
      }
      self.postMessage({ type: "done", seq: m.seq });
    } catch (err) {
      self.postMessage({ type: "done", seq: m.seq, error: String(err?.message || err) });
    }
  };
  self.onrtctransform = (ev) => {
    const t = ev.transformer;
    const o = t.options || {};
    const kind = o.kind;
    let transform;
    if (o.operation === "encrypt") {
      const nextIV = ivSource();
      transform = async (frame, ctl) => {
        const codec = frameCodec(frame, kind);
        if (kind === "video" && !/^video\/vp8$/i.test(codec)) { fail(o.participantId, kind, "codec"); return; } // never send plaintext
        const index = ring.index;
        const key = await ring.key(index, o.participantId);
        if (!key) { fail(o.participantId, kind, "nokey"); return; }
        frame.data = (await encryptFrame(key, index, nextIV(), codec, new Uint8Array(frame.data))).buffer;
        ctl.enqueue(frame);
      };
    } else {
      transform = async (frame, ctl) => {
        const pid = bound.get(o.id);
        if (pid === undefined) return; // not bound to its publisher yet: dropped, not reported
        try {
          frame.data = (await decryptFrame((i) => ring.key(i, pid), new Uint8Array(frame.data))).buffer;
        } catch (err) {
          fail(pid, kind, err.message); // dropped: never handed to the decoder
          return;
        }
        ctl.enqueue(frame);
      };
    }
    t.readable
      .pipeThrough(new TransformStream({ transform: (f, ctl) => transform(f, ctl).catch(() => fail(o.participantId ?? "", kind, "internal")) }))
      .pipeTo(t.writable)
      .catch(() => {}); // the transceiver stopped
  };
}

if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) runWorker();

// ---- the page side ----------------------------------------------------------

/** supported says whether this browser can run E2EE (RTCRtpScriptTransform). */
export function supported() {
  return typeof RTCRtpScriptTransform === "function" && typeof Worker === "function";
}

/**
 * E2EE is one room's encryption: a worker holding the secrets, and a
 * transform on each sender (encrypt with this participant's key) and
 * receiver (decrypt with its publisher's key). onError(detail) hears
 * decryption failures: {participantId, kind, reason, count}.
 */
export class E2EE {
  constructor(onError) {
    if (!supported()) throw new Error("e2ee: this browser has no RTCRtpScriptTransform");
    this.worker = new Worker(new URL("./lethe-e2ee.js", import.meta.url), { type: "module", name: "lethe-e2ee" });
    this._seq = 0;
    this._pending = new Map();
    this._ids = 0;
    this.errors = 0; // decryption failures reported (each report counts once)
    this.worker.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === "error") {
        this.errors++;
        onError?.({ participantId: m.participantId, kind: m.kind, reason: m.reason, count: m.count });
      } else if (m.type === "done") {
        const p = this._pending.get(m.seq);
        this._pending.delete(m.seq);
        if (p) m.error ? p.reject(new Error(m.error)) : p.resolve();
      }
    };
  }
  _call(msg) {
    const seq = ++this._seq;
    return new Promise((resolve, reject) => {
      this._pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...msg, seq });
    });
  }
  /** setKey sets the secret at index (default 0); use also makes it the sending index. */
  setKey(secret, index = 0, use = true) {
    checkIndex(index);
    return this._call({ type: "setSecret", secret: typeof secret === "string" ? secret : new Uint8Array(secret), index, use });
  }
  /** setKeyIndex makes index (whose secret is set) the sending index. */
  setKeyIndex(index) { checkIndex(index); return this._call({ type: "setIndex", index }); }
  /** encryptSender encrypts what sender sends, as participant pid. */
  encryptSender(sender, kind, pid) {
    sender.transform = new RTCRtpScriptTransform(this.worker, { operation: "encrypt", kind, participantId: pid });
  }
  /** decryptReceiver gives receiver a decrypting transform, once; bind names its publisher. */
  decryptReceiver(receiver, kind) {
    if (receiver._letheE2EE) return receiver._letheE2EE;
    const id = ++this._ids;
    receiver.transform = new RTCRtpScriptTransform(this.worker, { operation: "decrypt", kind, id });
    receiver._letheE2EE = id;
    return id;
  }
  bind(receiver, kind, pid) {
    const id = this.decryptReceiver(receiver, kind);
    if (receiver._letheE2EEPid === pid) return;
    receiver._letheE2EEPid = pid;
    this.worker.postMessage({ type: "bind", id, participantId: pid });
  }
  close() {
    this.worker.terminate();
    for (const p of this._pending.values()) p.reject(new Error("e2ee: closed"));
    this._pending.clear();
  }
}
