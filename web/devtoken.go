package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MintFunc signs a token for a dev-mode page. It is called only for
// requests that passed the loopback checks, with a valid user and room.
type MintFunc func(ctx context.Context, r TokenRequest) (Token, error)

// TokenRequest is what the page asked a dev token for.
type TokenRequest struct {
	UserID    string
	RoomID    uint32 // numeric room; 0 when StrRoomID is set
	StrRoomID string
	TTL       time.Duration // at most MaxDevTokenTTL
}

// Token is the dev endpoint's answer: everything a page needs to join.
type Token struct {
	SDKAppID      uint32 `json:"sdkAppId"`
	UserID        string `json:"userId"`
	UserSig       string `json:"userSig"`
	PrivateMapKey string `json:"privateMapKey,omitempty"`
	RoomID        uint32 `json:"roomId,omitempty"`
	StrRoomID     string `json:"strRoomId,omitempty"`
	ExpiresAt     int64  `json:"expiresAt"` // unix seconds
}

// maxName is the longest user or room name, in bytes, as in the protocol.
const maxName = 64

// ParseRoom reads a room as the demo page writes it: 1 to 4294967294
// written in decimal without a leading zero is a numeric roomId; any other
// name is a strRoomId. lethe.js's parseRoom applies the same rule.
func ParseRoom(s string) (roomID uint32, strRoomID string, err error) {
	if err := checkName(s); err != nil {
		return 0, "", fmt.Errorf("room: %w", err)
	}
	if s[0] >= '1' && s[0] <= '9' && len(s) <= 10 {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && n < 1<<32-1 {
			return uint32(n), "", nil
		}
	}
	return 0, s, nil
}

// checkName reports whether s is a protocol name: 1-64 bytes of valid
// UTF-8 with no control characters and no white space.
func checkName(s string) error {
	if s == "" || len(s) > maxName || !utf8.ValidString(s) {
		return ErrBadName
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ErrBadName
		}
	}
	return nil
}

// checkLoopback lets through only a request that both comes from a
// loopback address and names a loopback host: a page loaded through a
// rebound DNS name carries that name in Host and is refused. A request
// from a browser page of another origin is refused too.
func checkLoopback(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ErrNotLoopback
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return ErrNotLoopback
	}
	if !loopbackHost(r.Host) {
		return ErrNotLoopback
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return ErrNotLoopback
		}
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return ErrNotLoopback
	}
	return nil
}

// loopbackHost reports whether a Host header names this machine by a
// loopback IP literal or the name localhost.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

type devTokenHandler struct {
	mint MintFunc
	ttl  time.Duration
	log  *slog.Logger
	now  func() time.Time
}

func (h *devTokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := checkLoopback(r); err != nil {
		http.Error(w, "dev tokens are for loopback clients only", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	user := q.Get("user")
	if err := checkName(user); err != nil {
		http.Error(w, "user must be 1-64 bytes without spaces or control characters", http.StatusBadRequest)
		return
	}
	room, strRoom, err := ParseRoom(q.Get("room"))
	if err != nil {
		http.Error(w, "room must be 1-64 bytes without spaces or control characters", http.StatusBadRequest)
		return
	}
	tok, err := h.mint(r.Context(), TokenRequest{UserID: user, RoomID: room, StrRoomID: strRoom, TTL: h.ttl})
	if err != nil {
		h.log.Error("dev token", "err", err.Error())
		http.Error(w, "could not mint a token", http.StatusInternalServerError)
		return
	}
	if tok.ExpiresAt == 0 {
		tok.ExpiresAt = h.now().Add(h.ttl).Unix()
	}
	// A struct of strings and numbers always encodes.
	body, _ := json.Marshal(tok)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
