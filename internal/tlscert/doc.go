// Package tlscert supplies the certificate of serve's HTTPS and WSS
// listener: from a PEM certificate and key on disk (Files), reloaded when
// the files change or when asked (SIGHUP), or from an ACME CA (ACME,
// through golang.org/x/crypto/acme/autocert). Either reports whether the
// certificate it serves is valid now (Check), for readiness.
//
// A replacement that does not load (a key that does not match, a file
// half written by a renewal tool, an expired certificate) leaves the last
// good certificate in service and says why; no key material is ever
// logged or put in an error. Time is injected.
//
// It runs in the control process and imports nothing of the project.
package tlscert
