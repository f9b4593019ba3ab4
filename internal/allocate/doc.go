// Package allocate shares one subscriber's downlink between the tracks it
// receives, and decides when to probe that downlink for more room.
//
// Allocate turns a budget (the subscriber's bandwidth estimate, in bit/s)
// and the subscriber's tracks into a layer per track. The rules, in order:
//
//  1. Audio is never cut: every wanted audio track gets its lowest layer,
//     even when that alone exceeds the budget.
//  2. Every other wanted track gets its lowest layer, in rank order —
//     screen shares before cameras, within a kind the higher Priority
//     first, ties in slice order — while it fits. A track whose lowest
//     layer does not fit is Paused; a later, smaller track may still fit
//     and is then sent. Since every call starts again from nothing, a
//     lower-ranked track never keeps a higher-ranked one paused: as soon
//     as the higher one fits (with headroom), it gets its layer first.
//  3. Then the tracks climb, kind by kind: all screen shares as far as the
//     budget lets them before any camera goes above its lowest layer.
//     Within a kind they climb a layer at a time, in rounds, in priority
//     order, so that every track of the kind reaches a layer before any
//     goes past it: eight gallery tiles at the middle layer make a better
//     call than one at full resolution beside seven thumbnails, and the
//     subscriber's preferences (MaxLayer, from the size each track is
//     shown at) already keep small tiles low so that a large one climbs.
//  4. Hysteresis: a track goes up from the layer it is being sent (or
//     resumes from nothing) only when the new layer fits with Headroom
//     percent to spare; it keeps its layer, or goes down, on a plain fit.
//
// Allocate also says what the subscriber would need: Wanted, for every
// track at its preferred layer, and Next, the budget at which some track
// would get more than now — the target of a probe. A Prober turns the
// estimate, the rate being sent and that target into a probe rate:
// padding on top of the media, in short bounded clusters, only while the
// link is stable, stopped by any loss, and backing off after each probe
// that found nothing.
//
// Nothing here does I/O, starts a goroutine or reads a clock: time is
// passed in, and the caller owns the slices, so that an SFU can call it
// from each subscriber's own goroutine, allocation-free. It runs in the
// media worker, on the SFU's per-subscriber control path (every ~500 ms
// and on every change of the estimate), not per packet.
package allocate
