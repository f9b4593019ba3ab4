// Package netlab makes test hosts for end-to-end tests about what crosses
// a network: three network namespaces — a client, a firewall (and NAT)
// and a server — joined by veth pairs, with addresses of their own. The
// test itself is run again inside the client namespace, so its Go
// clients and the browsers it starts are on the client host, and it
// starts servers on the server host with Host.Command. It runs in tests
// only, as root, and imports nothing of the project.
//
// The addresses are private (10.231.1.0/24 between client and firewall,
// 10.231.2.0/24 between firewall and server) and the "public" address of
// the NAT is 198.51.100.10 (TEST-NET-2): they exist only inside the
// namespaces the test made, and the namespaces are deleted when it ends.
//
// The firewall can drop UDP (BlockUDP) and limit the bandwidth toward
// the client, all of it or one port's (LimitDownlink, with tc's tbf).
package netlab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Env is set in the test binary run again inside the client namespace;
// it holds the Lab as JSON.
const Env = "LETHE_NETLAB"

// The addresses of every lab.
var (
	clientAddr   = netip.MustParseAddr("10.231.1.2")
	fwClientAddr = netip.MustParseAddr("10.231.1.1")
	fwServerAddr = netip.MustParseAddr("10.231.2.1")
	serverAddr   = netip.MustParseAddr("10.231.2.2")
	publicAddr   = netip.MustParseAddr("198.51.100.10")
)

// Options shape a lab.
type Options struct {
	// NAT puts the server behind a 1:1 NAT: the firewall maps Lab.Public
	// to the server's address (DNAT in, SNAT out), and the server's own
	// address cannot be reached from the client. Without it the client
	// reaches the server's address, routed through the firewall.
	NAT bool
}

// Host is one namespace of a lab.
type Host struct {
	Name string     // the network namespace (ip netns)
	Addr netip.Addr // its address on its link toward the firewall (the firewall: toward the client)
	Link string     // the name of that link's interface
}

// Command returns a command that runs name in the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// NFT runs an nft script in the host's namespace.
func (h *Host) NFT(t testing.TB, script string) {
	t.Helper()
	cmd := h.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("netlab: nft in %s: %v: %s\n%s", h.Name, err, out, script)
	}
}

// Lab is a client, a firewall and a server.
type Lab struct {
	Client, Firewall, Server *Host
	// Public is the address the client reaches the server at: with NAT
	// the firewall's public address, else the server's own.
	Public netip.Addr
	NAT    bool
}

// Enter makes a lab and runs the calling test again inside its client
// namespace. In the test that called it first it returns nil once that
// run is over (its output and verdict reported, the namespaces deleted):
// the caller must return at once. In the run inside, it returns the lab.
// It skips the test unless it runs as root with ip, nft and tc (under
// CI=true a missing tool fails it).
func Enter(t *testing.T, opts Options) *Lab {
	t.Helper()
	if v := os.Getenv(Env); v != "" {
		var l Lab
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			t.Fatalf("netlab: %s: %v", Env, err)
		}
		return &l
	}
	if os.Geteuid() != 0 {
		t.Skip("netlab: needs root (network namespaces, veth pairs, nftables)")
	}
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("netlab: CI=true and %s is missing: .ci/run must install iproute2 and nftables", tool)
			}
			t.Skipf("netlab: %s not found (apt-get install iproute2 nftables)", tool)
		}
	}
	l := create(t, opts)
	l.rerun(t)
	return nil
}

// create makes the namespaces, links, addresses, routes and NAT, and
// deletes them when t ends.
func create(t *testing.T, opts Options) *Lab {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := "nl" + hex.EncodeToString(b[:]) // 8 characters: veth names stay within 15
	l := &Lab{
		Client:   &Host{Name: id + "-c", Addr: clientAddr, Link: id + "c"},
		Firewall: &Host{Name: id + "-f", Addr: fwClientAddr, Link: id + "fc"},
		Server:   &Host{Name: id + "-s", Addr: serverAddr, Link: id + "s"},
		Public:   serverAddr,
		NAT:      opts.NAT,
	}
	if opts.NAT {
		l.Public = publicAddr
	}
	fwServerLink := id + "fs"
	t.Cleanup(func() {
		for _, h := range []*Host{l.Client, l.Firewall, l.Server} {
			_ = exec.Command("ip", "netns", "delete", h.Name).Run() // its links go with it
		}
	})
	steps := [][]string{
		{"netns", "add", l.Client.Name},
		{"netns", "add", l.Firewall.Name},
		{"netns", "add", l.Server.Name},
		{"link", "add", l.Client.Link, "netns", l.Client.Name, "type", "veth", "peer", "name", l.Firewall.Link, "netns", l.Firewall.Name},
		{"link", "add", l.Server.Link, "netns", l.Server.Name, "type", "veth", "peer", "name", fwServerLink, "netns", l.Firewall.Name},
		{"-n", l.Client.Name, "addr", "add", clientAddr.String() + "/24", "dev", l.Client.Link},
		{"-n", l.Firewall.Name, "addr", "add", fwClientAddr.String() + "/24", "dev", l.Firewall.Link},
		{"-n", l.Firewall.Name, "addr", "add", fwServerAddr.String() + "/24", "dev", fwServerLink},
		{"-n", l.Server.Name, "addr", "add", serverAddr.String() + "/24", "dev", l.Server.Link},
	}
	for _, h := range []*Host{l.Client, l.Firewall, l.Server} {
		steps = append(steps, []string{"-n", h.Name, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", l.Client.Name, "link", "set", l.Client.Link, "up"},
		[]string{"-n", l.Firewall.Name, "link", "set", l.Firewall.Link, "up"},
		[]string{"-n", l.Firewall.Name, "link", "set", fwServerLink, "up"},
		[]string{"-n", l.Server.Name, "link", "set", l.Server.Link, "up"},
		[]string{"-n", l.Client.Name, "route", "add", "default", "via", fwClientAddr.String()},
		[]string{"-n", l.Server.Name, "route", "add", "default", "via", fwServerAddr.String()},
	)
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("netlab: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	if out, err := l.Firewall.Command(context.Background(), "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("netlab: enable forwarding: %v: %s", err, out)
	}
	if opts.NAT {
		// 1:1 NAT, as a cloud VM has: the public address is the server's,
		// both ways, and its private address is not routed from outside.
		l.Firewall.NFT(t, fmt.Sprintf(`table ip netlab_nat {
	chain pre { type nat hook prerouting priority dstnat; ip daddr %[1]s dnat to %[2]s; }
	chain post { type nat hook postrouting priority srcnat; oifname %[3]q ip saddr %[2]s snat to %[1]s; }
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname %[3]q ip daddr %[2]s ct status dnat accept;
		iifname %[3]q ip daddr %[2]s ct direction reply accept;
		iifname %[3]q ip daddr %[4]s drop;
	}
}
`, publicAddr, serverAddr, l.Firewall.Link, netip.PrefixFrom(serverAddr, 24).Masked()))
	}
	return l
}

// blockTable is the nftables table BlockUDP adds to the firewall.
const blockTable = "netlab_block_udp"

// BlockUDP makes the firewall drop every UDP packet it would forward, in
// both directions, until AllowUDP.
func (l *Lab) BlockUDP(t testing.TB) {
	t.Helper()
	l.Firewall.NFT(t, fmt.Sprintf(`table inet %s {
	chain forward { type filter hook forward priority filter - 10; policy accept; meta l4proto udp counter drop; }
}
`, blockTable))
}

// AllowUDP undoes BlockUDP; it does nothing if UDP is not blocked.
func (l *Lab) AllowUDP(t testing.TB) {
	t.Helper()
	cmd := l.Firewall.Command(context.Background(), "nft", "list", "table", "inet", blockTable)
	if cmd.Run() != nil {
		return
	}
	l.Firewall.NFT(t, "delete table inet "+blockTable+"\n")
}

// DroppedUDP is how many UDP packets the firewall has dropped since
// BlockUDP (0 when UDP is not blocked): evidence that a client tried UDP.
func (l *Lab) DroppedUDP(t testing.TB) int {
	t.Helper()
	out, err := l.Firewall.Command(context.Background(), "nft", "list", "table", "inet", blockTable).Output()
	if err != nil {
		return 0
	}
	var n, bytes int
	for line := range strings.SplitSeq(string(out), "\n") {
		if i := strings.Index(line, "counter packets "); i >= 0 {
			if _, err := fmt.Sscanf(line[i:], "counter packets %d bytes %d", &n, &bytes); err != nil {
				t.Fatalf("netlab: read the drop counter: %v: %q", err, line)
			}
		}
	}
	return n
}

// Shape limits the firewall's link toward the client, as a slow downlink
// would: tbf (a token bucket) queues what exceeds Rate and drops what
// would wait longer than Latency. The kernel has no netem: the link
// delays and loses only as a full queue makes it.
type Shape struct {
	Rate    int           // bit/s
	Burst   int           // bytes sent at once at most; 0: 10 ms of Rate, at least 3,000
	Latency time.Duration // longest a packet waits; 0: 200 ms
	// Port, when set, limits only the packets to this port of the client
	// (UDP or TCP: one PeerConnection's candidate, say); the rest of the
	// link stays as fast as before.
	Port uint16
}

// LimitDownlink shapes what the firewall forwards to the client (the
// egress of its veth toward the client namespace), replacing an earlier
// limit, until Unlimit.
func (l *Lab) LimitDownlink(t testing.TB, s Shape) {
	t.Helper()
	if s.Rate <= 0 {
		t.Fatalf("netlab: LimitDownlink: rate %d bit/s", s.Rate)
	}
	if s.Burst == 0 {
		s.Burst = max(s.Rate/8/100, 3000)
	}
	if s.Latency == 0 {
		s.Latency = 200 * time.Millisecond
	}
	tbf := []string{"tbf", "rate", fmt.Sprintf("%dbit", s.Rate), "burst", fmt.Sprint(s.Burst),
		"latency", fmt.Sprintf("%dms", s.Latency.Milliseconds())}
	l.Unlimit(t)
	dev := []string{"dev", l.Firewall.Link}
	if s.Port == 0 {
		l.tc(t, append(append([]string{"qdisc", "add"}, dev...), append([]string{"root", "handle", "1:"}, tbf...)...)...)
		return
	}
	// htb only sorts: class 1:1 holds the port's packets, behind the
	// token bucket; class 1:2, the default, everything else. Neither
	// class limits (10 Gbit/s is beyond what a veth carries here).
	l.tc(t, append(append([]string{"qdisc", "add"}, dev...), "root", "handle", "1:", "htb", "default", "2")...)
	for _, class := range []string{"1:1", "1:2"} {
		l.tc(t, append(append([]string{"class", "add"}, dev...),
			"parent", "1:", "classid", class, "htb", "rate", "10gbit", "quantum", "60000")...)
	}
	l.tc(t, append(append([]string{"qdisc", "add"}, dev...), append([]string{"parent", "1:1", "handle", "10:"}, tbf...)...)...)
	l.tc(t, append(append([]string{"filter", "add"}, dev...),
		"parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "dport", fmt.Sprint(s.Port), "0xffff", "flowid", "1:1")...)
}

// Unlimit lifts LimitDownlink's limit; it does nothing when there is none.
func (l *Lab) Unlimit(t testing.TB) {
	t.Helper()
	out, err := l.Firewall.Command(context.Background(), "tc", "qdisc", "show", "dev", l.Firewall.Link, "root").Output()
	if err != nil {
		t.Fatalf("netlab: tc qdisc show: %v", err)
	}
	if strings.Contains(string(out), "qdisc tbf 1:") || strings.Contains(string(out), "qdisc htb 1:") {
		l.tc(t, "qdisc", "del", "dev", l.Firewall.Link, "root")
	}
}

// DownlinkDrops is how many packets LimitDownlink's queue has dropped
// (0 without a limit): a full queue, the mark of a link used to its limit.
func (l *Lab) DownlinkDrops(t testing.TB) int {
	t.Helper()
	out, err := l.Firewall.Command(context.Background(), "tc", "-s", "qdisc", "show", "dev", l.Firewall.Link).Output()
	if err != nil {
		t.Fatalf("netlab: tc -s qdisc show: %v", err)
	}
	// "qdisc tbf 10: parent 1:1 rate ...\n Sent 123 bytes 4 pkt (dropped 5, ..."
	n := 0
	inTBF := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, "qdisc ") {
			inTBF = strings.HasPrefix(line, "qdisc tbf ")
			continue
		}
		if i := strings.Index(line, "(dropped "); inTBF && i >= 0 {
			var d int
			if _, err := fmt.Sscanf(line[i:], "(dropped %d,", &d); err == nil {
				n += d
			}
		}
	}
	return n
}

func (l *Lab) tc(t testing.TB, args ...string) {
	t.Helper()
	if out, err := l.Firewall.Command(context.Background(), "tc", args...).CombinedOutput(); err != nil {
		t.Fatalf("netlab: tc %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// rerun runs t's test again inside the client namespace and reports its
// output; t fails if that run fails.
func (l *Lab) rerun(t *testing.T) {
	t.Helper()
	state, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	RunAgain(t, "["+l.Client.Name+"]", []string{"ip", "netns", "exec", l.Client.Name}, Env+"="+string(state))
}

// RunAgain runs t's test again in this test binary under the command
// wrap (which must exec its arguments), with env added, prints its output
// with each line prefixed by tag, and fails t if that run fails. The run
// keeps -test.v, -test.short, the deadline (less 10 s) and a subtest
// filter given to -test.run.
func RunAgain(t *testing.T, tag string, wrap []string, env ...string) {
	t.Helper()
	run := runPattern(t.Name())
	if f := flag.Lookup("test.run"); f != nil {
		// Keep a subtest filter of this test (-run 'TestA/sub|TestB'
		// runs TestA/sub again, not TestB).
		if _, sub, ok := strings.Cut(f.Value.String(), t.Name()+"/"); ok {
			sub, _, _ = strings.Cut(sub, "|")
			run += "/" + sub
		}
	}
	args := append(append([]string{}, wrap[1:]...), os.Args[0], "-test.run="+run, "-test.count=1")
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+(time.Until(d)-10*time.Second).Round(time.Second).String())
	}
	if f := flag.Lookup("test.short"); f != nil && f.Value.String() == "true" {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(wrap[0], args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(wrap, " "), err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "PASS" || line == "FAIL" {
			continue // the inner binary's verdict; ours follows
		}
		fmt.Println("    " + tag + " " + line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the test run again under %s failed: %v", wrap[0], err)
	}
}

// runPattern is a -test.run pattern that matches exactly the test (or
// subtest) named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
