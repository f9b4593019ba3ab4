// Package openapi holds the OpenAPI 3.1 description of Lethe's HTTP API —
// the admin API under /v1/admin/ (docs/api.md), GET /metrics, WHIP and
// WHEP (docs/whip.md) — and serves it at GET /v1/openapi.json.
//
// The document is openapi.json beside this file, written by hand and
// embedded in the binary. Tests keep it true: adminserver's walk its route
// table against Paths, control's walk the WHIP and WHEP handlers, and this
// package's check the document's structure and that every $ref resolves.
//
// It runs in the control process, which serves the HTTP API.
package openapi
