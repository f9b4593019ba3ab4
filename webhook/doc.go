// Package webhook delivers an application's room events to its backend as
// signed HTTP callbacks in TRTC's shape (EventGroupId, EventType,
// CallbackTs, EventInfo) with TRTC's event codes, and the headers Sign
// (base64 HMAC-SHA256 of the body under the app's callback key) and
// SdkAppId. It runs in the control process, which holds the callback
// keys and sees every session; the media workers have no key and no
// network but media.
//
// A Dispatcher keeps, per application, a bounded in-memory queue and one
// goroutine that drains it in order and stops when idle. Post never
// blocks: a full queue drops the event and counts it. A delivery that
// fails is tried again at once, then every 10 s until a minute after its
// first try, as TRTC does; deliveries never follow redirects, have a
// timeout and read at most a few KiB of the answer. Nothing is written to
// disk: the user ids in events are the application's data, delivered and
// forgotten.
package webhook
