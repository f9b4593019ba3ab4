package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestServeConfigValidate(t *testing.T) {
	t.Parallel()
	base := func() serveConfig {
		return serveConfig{listen: "127.0.0.1:7880", udpHost: "127.0.0.1", udpPort: 7882, workers: 1,
			allowedHosts: "localhost,127.0.0.1,[::1]", maxConns: 10, maxConnsPerIP: 2, dtlsTimeout: time.Second,
			trackBitrate: 8_000_000, peerBitrate: -1, dataLimits: defaultDataLimits()}
	}
	good := base()
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	withTURN := base()
	withTURN.turn, withTURN.turnPort, withTURN.turnBitrate, withTURN.turnAllocations = true, 3478, -1, 4
	if err := withTURN.validate(); err != nil {
		t.Fatalf("the TURN defaults: %v", err)
	}
	for host, ok := range map[string]bool{"127.0.0.1:9": true, "localhost": true, "[::1]:7880": true, "evil.example": false} {
		if good.hosts.Allows(host) != ok {
			t.Errorf("default hosts allow %q: %v, want %v", host, !ok, ok)
		}
	}
	// The --listen host is allowed whatever --allowed-hosts says.
	only := base()
	only.allowedHosts, only.listen = "lethe.example", "[::1]:7880"
	if err := only.validate(); err != nil {
		t.Fatal(err)
	}
	if !only.hosts.Allows("[::1]:7880") || !only.hosts.Allows("lethe.example:7880") || only.hosts.Allows("localhost") {
		t.Error("--allowed-hosts lethe.example with --listen [::1]:7880")
	}
	for name, mod := range map[string]func(*serveConfig){
		"host with port":   func(c *serveConfig) { c.allowedHosts = "localhost:7880" },
		"URL":              func(c *serveConfig) { c.allowedHosts = "http://localhost" },
		"no connections":   func(c *serveConfig) { c.maxConns = 0 },
		"none per address": func(c *serveConfig) { c.maxConnsPerIP = -1 },
		"no DTLS timeout":  func(c *serveConfig) { c.dtlsTimeout = 0 },
		"zero bitrate":     func(c *serveConfig) { c.trackBitrate = 0 },
		"bitrate of -2":    func(c *serveConfig) { c.peerBitrate = -2 },
		"bitrate too high": func(c *serveConfig) { c.trackBitrate = 2_000_000_000 },
		"negative drain":   func(c *serveConfig) { c.drainTimeout = -time.Second },
		"listen on a name": func(c *serveConfig) { c.listen = "lethe.example:443" },
		"cert without key": func(c *serveConfig) { c.tls.certFile = "c.pem" },
		"key without cert": func(c *serveConfig) { c.tls.keyFile = "k.pem" },
		"files and ACME":   func(c *serveConfig) { c.tls.certFile, c.tls.keyFile, c.tls.acmeDomains = "c", "k", "a.example" },
		"insecure and TLS": func(c *serveConfig) { c.tls.certFile, c.tls.keyFile, c.tls.insecureHTTP = "c", "k", true },
		"negative poll":    func(c *serveConfig) { c.tls.poll = -time.Second },
		"TURN port too high": func(c *serveConfig) {
			c.turn, c.turnPort, c.turnBitrate, c.turnAllocations = true, 65535, 1, 1
		},
		"TURN on the media ports": func(c *serveConfig) {
			c.turn, c.turnPort, c.turnBitrate, c.turnAllocations, c.workers = true, 7883, 1, 1, 2
		},
		"TURN bitrate 0":     func(c *serveConfig) { c.turn, c.turnPort, c.turnBitrate, c.turnAllocations = true, 3478, 0, 4 },
		"TURN allocations 0": func(c *serveConfig) { c.turn, c.turnPort, c.turnBitrate, c.turnAllocations = true, 3478, 1, 0 },
	} {
		c := base()
		mod(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A bad --allowed-hosts is a usage mistake, found before anything starts.
func TestServeBadAllowedHosts(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--allowed-hosts", "localhost:7880"}, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "without a port") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// Beyond loopback, plain HTTP needs --insecure-http; TLS needs nothing more.
func TestServeListenBeyondLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen   string
		tls      tlsFlags
		ok       bool
		loopback bool
	}{
		{listen: "127.0.0.1:7880", ok: true, loopback: true},
		{listen: "localhost:7880", ok: true, loopback: true},
		{listen: "[::1]:7880", ok: true, loopback: true},
		{listen: "0.0.0.0:7880"},
		{listen: "[::]:7880"},
		{listen: ":7880"},
		{listen: "192.0.2.7:7880"},
		{listen: "0.0.0.0:7880", tls: tlsFlags{insecureHTTP: true}, ok: true},
		{listen: "[::]:443", tls: tlsFlags{certFile: "c.pem", keyFile: "k.pem"}, ok: true},
		{listen: "192.0.2.7:443", tls: tlsFlags{acmeDomains: "lethe.example"}, ok: true},
	} {
		c := serveConfig{listen: tc.listen, udpHost: "127.0.0.1", workers: 1, allowedHosts: "localhost", maxConns: 1,
			maxConnsPerIP: 1, dtlsTimeout: time.Second, trackBitrate: -1, peerBitrate: -1, dataLimits: defaultDataLimits(), tls: tc.tls}
		err := c.validate()
		if (err == nil) != tc.ok {
			t.Errorf("--listen %s %+v: err = %v, want ok %v", tc.listen, tc.tls, err, tc.ok)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure-http") {
			t.Errorf("--listen %s: the refusal does not name the way out: %v", tc.listen, err)
		}
		if err == nil && c.loopback != tc.loopback {
			t.Errorf("--listen %s: loopback %v", tc.listen, c.loopback)
		}
	}
	// An ACME domain is an allowed host; an unspecified address is not.
	c := serveConfig{listen: "0.0.0.0:443", udpHost: "127.0.0.1", workers: 1, allowedHosts: "localhost", maxConns: 1,
		maxConnsPerIP: 1, dtlsTimeout: time.Second, trackBitrate: -1, peerBitrate: -1, dataLimits: defaultDataLimits(), tls: tlsFlags{acmeDomains: "lethe.example"}}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if !c.hosts.Allows("lethe.example") || c.hosts.Allows("0.0.0.0") {
		t.Error("allowed hosts with --acme-domain lethe.example on 0.0.0.0")
	}
}
