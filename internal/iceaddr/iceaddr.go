package iceaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Errors of Plan.
var (
	ErrNoAddress = errors.New("iceaddr: no local address to gather candidates on")
	ErrExcluded  = errors.New("iceaddr: the bound address is outside the include list")
)

// Interface is one network interface of the host, as Plan reads it.
type Interface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []netip.Addr
}

// Config is what Plan decides from.
type Config struct {
	Bound      netip.Addr     // the address the media sockets are bound to
	Interfaces []string       // include only addresses on these interfaces (empty: any)
	Prefixes   []netip.Prefix // include only addresses within these prefixes (empty: any)
	Public     []netip.Addr   // advertised in place of the local addresses of their family
}

// Addresses is Plan's decision.
type Addresses struct {
	// Local are the addresses host candidates are gathered on.
	Local []netip.Addr
	// Advertised are the addresses those candidates carry.
	Advertised []netip.Addr
	// Loopback is whether loopback candidates are allowed: the sockets
	// are bound to a loopback address.
	Loopback bool
}

// Plan decides, from the host's interfaces, where candidates are gathered
// and what they advertise.
func Plan(cfg Config, ifaces []Interface) (Addresses, error) {
	bound := cfg.Bound.Unmap()
	a := Addresses{Loopback: bound.IsLoopback()}
	included := func(iface string, ip netip.Addr) bool {
		if len(cfg.Interfaces) > 0 && !slices.Contains(cfg.Interfaces, iface) {
			return false
		}
		return len(cfg.Prefixes) == 0 || slices.ContainsFunc(cfg.Prefixes, func(p netip.Prefix) bool { return p.Contains(ip) })
	}
	if !bound.IsUnspecified() {
		// One address: its own interface, for the interface list.
		name := ""
		for _, i := range ifaces {
			if slices.Contains(i.Addrs, bound) {
				name = i.Name
			}
		}
		if (len(cfg.Interfaces) > 0 || len(cfg.Prefixes) > 0) && !included(name, bound) {
			return Addresses{}, fmt.Errorf("%w: %s", ErrExcluded, bound)
		}
		a.Local = []netip.Addr{bound}
	} else {
		for _, i := range ifaces {
			if !i.Up || i.Loopback {
				continue
			}
			for _, ip := range i.Addrs {
				ip = ip.Unmap()
				switch {
				case ip.IsLoopback(), ip.IsLinkLocalUnicast(), ip.IsUnspecified(), ip.IsMulticast():
				case ip.Is6() && bound.Is4(): // 0.0.0.0 is IPv4 only; [::] both
				case !included(i.Name, ip):
				case !slices.Contains(a.Local, ip):
					a.Local = append(a.Local, ip)
				}
			}
		}
		if len(a.Local) == 0 {
			return Addresses{}, ErrNoAddress
		}
	}
	a.Advertised = Advertise(a.Local, cfg.Public)
	return a, nil
}

// Advertise maps local addresses to the addresses their candidates carry:
// each local address is replaced by the public addresses of its family,
// or kept where that family has none. Duplicates are dropped.
func Advertise(local, public []netip.Addr) []netip.Addr {
	var out []netip.Addr
	add := func(ip netip.Addr) {
		if !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	for _, l := range local {
		mapped := false
		for _, p := range public {
			if p.Unmap().Is4() == l.Is4() {
				add(p.Unmap())
				mapped = true
			}
		}
		if !mapped {
			add(l)
		}
	}
	return out
}

// Interfaces reads the host's interfaces.
func Interfaces() ([]Interface, error) {
	sys, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("iceaddr: %w", err)
	}
	out := make([]Interface, 0, len(sys))
	for _, s := range sys {
		addrs, err := s.Addrs()
		if err != nil {
			return nil, fmt.Errorf("iceaddr: %s: %w", s.Name, err)
		}
		i := Interface{Name: s.Name, Up: s.Flags&net.FlagUp != 0, Loopback: s.Flags&net.FlagLoopback != 0}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					i.Addrs = append(i.Addrs, ip.Unmap())
				}
			}
		}
		out = append(out, i)
	}
	return out, nil
}
