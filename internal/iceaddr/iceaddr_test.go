package iceaddr

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, v := range s {
		out[i] = netip.MustParseAddr(v)
	}
	return out
}

var host = []Interface{
	{Name: "lo", Up: true, Loopback: true, Addrs: addrs("127.0.0.1", "::1")},
	{Name: "eth0", Up: true, Addrs: addrs("10.0.0.5", "2001:db8::5", "fe80::1")},
	{Name: "docker0", Up: true, Addrs: addrs("172.17.0.1")},
	{Name: "eth1", Up: false, Addrs: addrs("192.168.1.9")},
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name              string
		cfg               Config
		local, advertised []netip.Addr
		loopback          bool
		err               error
	}{
		{name: "loopback", cfg: Config{Bound: netip.MustParseAddr("127.0.0.1")},
			local: addrs("127.0.0.1"), advertised: addrs("127.0.0.1"), loopback: true},
		{name: "specific address", cfg: Config{Bound: netip.MustParseAddr("10.0.0.5")},
			local: addrs("10.0.0.5"), advertised: addrs("10.0.0.5")},
		{name: "ipv4 any: up, not loopback, ipv4 only", cfg: Config{Bound: netip.IPv4Unspecified()},
			local: addrs("10.0.0.5", "172.17.0.1"), advertised: addrs("10.0.0.5", "172.17.0.1")},
		{name: "dual-stack any: no link-local", cfg: Config{Bound: netip.IPv6Unspecified()},
			local: addrs("10.0.0.5", "2001:db8::5", "172.17.0.1"), advertised: addrs("10.0.0.5", "2001:db8::5", "172.17.0.1")},
		{name: "interface list", cfg: Config{Bound: netip.IPv4Unspecified(), Interfaces: []string{"eth0"}},
			local: addrs("10.0.0.5"), advertised: addrs("10.0.0.5")},
		{name: "prefix list", cfg: Config{Bound: netip.IPv6Unspecified(), Prefixes: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}},
			local: addrs("172.17.0.1"), advertised: addrs("172.17.0.1")},
		{name: "nat 1:1, one family", cfg: Config{Bound: netip.IPv6Unspecified(), Interfaces: []string{"eth0"}, Public: addrs("198.51.100.10")},
			local: addrs("10.0.0.5", "2001:db8::5"), advertised: addrs("198.51.100.10", "2001:db8::5")},
		{name: "nat 1:1, both families, several", cfg: Config{Bound: netip.IPv6Unspecified(), Public: addrs("198.51.100.10", "203.0.113.7", "2001:db8:1::1")},
			local: addrs("10.0.0.5", "2001:db8::5", "172.17.0.1"), advertised: addrs("198.51.100.10", "203.0.113.7", "2001:db8:1::1")},
		{name: "specific address outside the list", cfg: Config{Bound: netip.MustParseAddr("10.0.0.5"), Interfaces: []string{"docker0"}},
			err: ErrExcluded},
		{name: "nothing left", cfg: Config{Bound: netip.IPv4Unspecified(), Interfaces: []string{"eth1"}}, err: ErrNoAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.cfg, host)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if !slices.Equal(got.Local, tt.local) || !slices.Equal(got.Advertised, tt.advertised) || got.Loopback != tt.loopback {
				t.Errorf("got local %v advertised %v loopback %v; want %v %v %v",
					got.Local, got.Advertised, got.Loopback, tt.local, tt.advertised, tt.loopback)
			}
		})
	}
}

// The real host has at least its loopback interface, up.
func TestInterfaces(t *testing.T) {
	ifaces, err := Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if i.Loopback && i.Up && slices.Contains(i.Addrs, netip.MustParseAddr("127.0.0.1")) {
			return
		}
	}
	t.Fatalf("no loopback interface with 127.0.0.1 in %+v", ifaces)
}
