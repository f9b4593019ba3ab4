package compliance

// Signaling says how the control process serves signaling (HTTP and
// WebSocket) to clients. Unlike the rest of an Attestation it is not
// measured: it is the listener as serve opened it, which no probe of /proc
// can see.
type Signaling struct {
	// Scheme is "https" (TLS on the listener itself) or "http".
	Scheme string `json:"scheme"`
	// Certificates says where the TLS certificate comes from: "files"
	// (--tls-cert/--tls-key, reloaded on change), "acme" (--acme-domain);
	// empty for plain HTTP.
	Certificates string `json:"certificates,omitempty"`
	// MinTLSVersion is the lowest TLS version accepted ("1.2"); empty for
	// plain HTTP.
	MinTLSVersion string `json:"minTLSVersion,omitempty"`
	// HSTS: answers carry Strict-Transport-Security.
	HSTS bool `json:"hsts"`
	// Loopback: the listener is on a loopback address only.
	Loopback bool `json:"loopback"`
	// InsecureHTTP: plain HTTP on an address that is not loopback, allowed
	// by --insecure-http for a TLS-terminating proxy in front. Tokens and
	// SDP cross that hop in clear.
	InsecureHTTP bool `json:"insecureHTTP"`
}

// SignalingSource is an AttestationSource that also says how signaling is
// served; Attest copies it into the Attestation and its Summary.
type SignalingSource interface {
	Signaling() Signaling
}

// insecureHTTPNote is the note of an attestation whose signaling is plain
// HTTP beyond loopback.
const insecureHTTPNote = "signaling is plain HTTP on an address that is not loopback (--insecure-http): " +
	"tokens and SDP cross the network in clear unless a TLS-terminating proxy sits in front"
