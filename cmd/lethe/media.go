package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/lethe-rtc/lethe/control"
)

// defaultICETCPPort is worker 0's ICE-TCP port. TCP and UDP ports are apart
// anyway; 100 above the UDP default keeps the two ranges of up to 64
// workers each (7882-7945, 7982-8045) from overlapping even by number, so
// that a firewall rule or `ss` output for one never reads as the other,
// and clear of the signaling port 7880.
const defaultICETCPPort = 7982

// mediaFlags are serve's flags for where media is reached: public
// addresses, the candidates' include list and ICE-TCP.
type mediaFlags struct {
	publicIPs  listFlag
	interfaces listFlag
	ips        listFlag
	tcpPort    int

	// Set by resolve.
	public   []netip.Addr
	prefixes []netip.Prefix
}

func (m *mediaFlags) register(fs *flag.FlagSet) {
	fs.Var(&m.publicIPs, "public-ip", "comma-separated addresses advertised in the media candidates in place of the local ones of their family: NAT 1:1, e.g. a cloud VM's public address (IPv4 and IPv6; repeatable)")
	fs.Var(&m.interfaces, "ice-interfaces", "with an unspecified --udp-host (0.0.0.0, [::]): gather media candidates on these interfaces only, comma-separated (repeatable)")
	fs.Var(&m.ips, "ice-ips", "with an unspecified --udp-host: gather media candidates only on these addresses or within these prefixes (10.0.0.0/8), comma-separated (repeatable)")
	fs.IntVar(&m.tcpPort, "ice-tcp-port", defaultICETCPPort, "ICE-TCP port of worker 0, on --udp-host, for clients whose UDP is blocked; worker i uses port+i (0: any free port, and the default when --udp-port is 0; -1: no ICE-TCP)")
}

// resolve checks the flags against the media host (which it writes back
// without brackets) and port; set reports whether a flag was given.
func (m *mediaFlags) resolve(udpHost *string, udpPort, workers int, set func(name string) bool) error {
	host, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(*udpHost, "["), "]"))
	if err != nil || host.Zone() != "" {
		return fmt.Errorf("--udp-host %q: not an IP address (0.0.0.0 or [::] for every interface)", *udpHost)
	}
	*udpHost = host.String()
	for _, v := range m.publicIPs {
		ip, err := netip.ParseAddr(v)
		if err != nil || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("--public-ip %q: not a unicast IP address", v)
		}
		m.public = append(m.public, ip.Unmap())
	}
	for _, v := range m.ips {
		p, err := parsePrefix(v)
		if err != nil {
			return fmt.Errorf("--ice-ips: %w", err)
		}
		m.prefixes = append(m.prefixes, p)
	}
	if (len(m.interfaces) > 0 || len(m.ips) > 0) && !host.IsUnspecified() {
		return fmt.Errorf("--ice-interfaces and --ice-ips narrow an unspecified --udp-host; %s is one address already", *udpHost)
	}
	if udpPort == 0 && !set("ice-tcp-port") {
		m.tcpPort = 0
	}
	if m.tcpPort < -1 || m.tcpPort+workers > 65535 {
		return errors.New("--ice-tcp-port out of range")
	}
	return nil
}

// configure sets the pool's ICE-TCP ports and passes the rest on to every
// worker.
func (m *mediaFlags) configure(pc *control.PoolConfig) {
	pc.ICETCP, pc.ICETCPPort = m.tcpPort >= 0, max(m.tcpPort, 0)
	for _, ip := range m.public {
		pc.Args = append(pc.Args, "--public-ip", ip.String())
	}
	for _, name := range m.interfaces {
		pc.Args = append(pc.Args, "--ice-interface", name)
	}
	for _, p := range m.prefixes {
		pc.Args = append(pc.Args, "--ice-ip", p.String())
	}
}

// listFlag is a comma-separated list flag that may be repeated: each use
// adds to the list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// parsePrefix reads an address prefix (10.0.0.0/8) or a single address
// (10.0.0.5, as 10.0.0.5/32).
func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q: not an address prefix", v)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(v)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: not an IP address or prefix", v)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// mediaLine describes a worker's media addresses for the banner: what it
// listens on, and what its candidates advertise when that differs.
func mediaLine(w control.Worker) string {
	s := "media udp " + w.UDP
	if w.TCP != "" {
		s += ", ice-tcp " + w.TCP
	}
	var adv []string
	for _, a := range w.Media {
		if (a.Protocol == "udp" && a.Address == w.UDP) || (a.Protocol == "tcp" && a.Address == w.TCP) {
			continue
		}
		adv = append(adv, a.Protocol+" "+a.Address)
	}
	if len(adv) > 0 {
		s += " (advertised: " + strings.Join(adv, ", ") + ")"
	}
	return s
}
