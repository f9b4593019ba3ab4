package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/lethe-rtc/lethe/internal/ratelog"
)

// ErrHost: a host name given to ParseHosts is not one.
var ErrHost = errors.New("control: allowed hosts")

// DefaultHosts are the host names the control process answers to unless
// told otherwise: the loopback names. The --listen host is added to them.
func DefaultHosts() []string { return []string{"localhost", "127.0.0.1", "[::1]"} }

// maxHostLen is the longest host name (RFC 1035: 253 characters).
const maxHostLen = 253

// HostGuard refuses every request whose Host header names a host that is
// not allowed, before it reaches next: a page on a rebinding DNS name
// (Host and Origin both evil.example, resolving to 127.0.0.1) gets 421
// Misdirected Request and reaches no endpoint. The port of the Host header
// is not compared: a rebinding page picks the name, not the port the
// connection reached. Names compare case-insensitively, without a trailing
// dot; IP addresses in their canonical form.
type HostGuard struct {
	hosts   Hosts
	next    http.Handler
	diag    *ratelog.Logger
	refused atomic.Uint64
}

// Hosts is a checked list of allowed hosts; ParseHosts makes one.
type Hosts struct {
	names map[string]bool // canonical
}

// ParseHosts checks and canonicalises host names or IP addresses, given
// without ports (IPv6 with or without brackets). An empty list or a
// malformed name is an error.
func ParseHosts(names []string) (Hosts, error) {
	if len(names) == 0 {
		return Hosts{}, fmt.Errorf("%w: no host name allowed", ErrHost)
	}
	h := Hosts{names: make(map[string]bool, len(names))}
	for _, n := range names {
		name, port, ok := canonicalHost(n)
		switch {
		case !ok:
			return Hosts{}, fmt.Errorf("%w: %q is not a host name or an IP address", ErrHost, n)
		case port:
			return Hosts{}, fmt.Errorf("%w: %q: give the host without a port (ports are not compared)", ErrHost, n)
		}
		h.names[name] = true
	}
	return h, nil
}

// Allows reports whether a Host header (host[:port]) names an allowed host.
func (h Hosts) Allows(hostport string) bool {
	name, _, ok := canonicalHost(hostport)
	return ok && h.names[name]
}

// NewHostGuard returns a guard letting requests for hosts through to
// next. diag receives a rate-limited line about refused requests; nil:
// none.
func NewHostGuard(hosts Hosts, diag *ratelog.Logger, next http.Handler) *HostGuard {
	if diag == nil {
		diag = ratelog.New(nil, ratelog.Config{})
	}
	return &HostGuard{hosts: hosts, next: next, diag: diag}
}

// Refused is the number of requests refused so far.
func (g *HostGuard) Refused() uint64 { return g.refused.Load() }

// ServeHTTP passes r to the guarded handler if its Host is allowed.
func (g *HostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.hosts.Allows(r.Host) {
		g.next.ServeHTTP(w, r)
		return
	}
	g.refused.Add(1)
	g.diag.Log(r.Context(), slog.LevelWarn, "host", "request refused: host name not allowed (--allowed-hosts)",
		slog.String("host", clip(r.Host, 64)), slog.Int("status", http.StatusMisdirectedRequest))
	writeEdgeError(w, http.StatusMisdirectedRequest, "host_not_allowed",
		"this server does not answer to that host name; lethe serve --allowed-hosts lists the names it does")
}

// canonicalHost splits an optional port off a host[:port] and returns the
// host in canonical form (lower case, no trailing dot; an IP address as
// netip prints it), whether there was a port, and whether it is a valid
// host name or IP address.
func canonicalHost(s string) (name string, port bool, ok bool) {
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, true
		if p == "" {
			return "", false, false
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", false, false
		}
		return ip.Unmap().String(), port, true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || len(host) > maxHostLen {
		return "", false, false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false, false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false, false
			}
		}
	}
	return host, port, true
}

// writeEdgeError answers a request refused at the edge, before any
// endpoint, as JSON in the admin API's shape: {"error":{"code","message"}}.
func writeEdgeError(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	b, _ := json.Marshal(body) // two strings always encode
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// clip returns s cut to at most n bytes, for a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
