package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds each request of a Client made without
// WithHTTPClient.
const DefaultTimeout = 30 * time.Second

// maxReplyBytes bounds the reply bodies a Client reads.
const maxReplyBytes = 16 << 20

// BaseURLError: New was given a base URL it will not send the admin key
// to. Reason says why, without the URL's user or password.
type BaseURLError struct {
	Reason string
}

func (e *BaseURLError) Error() string { return "admin: base URL " + e.Reason }

// ErrNoKey: New was given an empty admin key.
var ErrNoKey = errors.New("admin: no admin key")

// Client calls the admin API of one Lethe server with the admin key. It is
// safe for concurrent use. Each method is one endpoint of docs/api.md,
// section 1.7; the request ends with ctx.
type Client struct {
	base string // scheme://host[/path], no trailing slash
	key  string
	http *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc (its
// Transport, Timeout and Jar) instead of an http.Client with
// DefaultTimeout. Redirects are never followed, whatever hc.CheckRedirect
// says: the admin key goes to the base URL only. A nil hc changes nothing.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc == nil {
			return
		}
		cp := *hc
		c.http = &cp
	}
}

// New returns a Client for the admin API at baseURL, the server's address
// such as "http://127.0.0.1:7880" (the API's paths, /v1/admin/..., are
// appended to it), with key, the admin key: the content of
// <data-dir>/admin.key, surrounding white space ignored.
//
// baseURL must be http:// or https:// with a host and no user, query or
// fragment; plain http only to a loopback host (localhost, 127.0.0.0/8,
// ::1), so that the key does not cross a network in clear text. Otherwise
// New returns a *BaseURLError; for an empty key, ErrNoKey.
func New(baseURL, key string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, &BaseURLError{"must be an http:// or https:// URL with a host, like http://127.0.0.1:7880"}
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, &BaseURLError{u.Host + ": refusing to send the admin key over plain http to a non-loopback host; use https"}
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, ErrNoKey
	}
	c := &Client{
		base: strings.TrimSuffix(u.String(), "/"),
		key:  key,
		http: &http.Client{Timeout: DefaultTimeout},
	}
	for _, o := range opts {
		o(c)
	}
	// The key goes to the server named, and nowhere it redirects to.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// appPath is the API path of application app, followed by suffix.
func appPath(app uint32, suffix string) string {
	return "/v1/admin/apps/" + strconv.FormatUint(uint64(app), 10) + suffix
}

// do sends one request to path (escaped, with its query if any); body, if
// not nil, is sent as JSON. A 2xx reply is decoded into out unless out is
// nil; any other is returned as an *Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("admin: request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("admin: request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	switch {
	case err != nil:
		return err
	case len(reply) > maxReplyBytes:
		return fmt.Errorf("admin: reply over %d bytes", maxReplyBytes)
	case resp.StatusCode/100 != 2:
		return replyError(resp, reply)
	case out == nil:
		return nil
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("admin: reply: %w", err)
	}
	return nil
}
