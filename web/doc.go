// Package web serves Lethe's browser side: the ES-module client library
// (lethe.js), a demo page that uses it (index.html, app.js, style.css),
// all embedded in the binary with go:embed, and, in dev mode only, an
// endpoint that mints short-lived tokens for loopback clients.
//
// The package imports nothing of the project: the dev-token endpoint mints
// through a MintFunc its caller provides.
package web
