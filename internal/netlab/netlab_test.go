package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoEnv makes the test binary an echo server on the given port (UDP
// and TCP): it answers each datagram, and each line on a connection,
// with the address it came from.
const echoEnv = "NETLAB_ECHO_PORT"

func TestMain(m *testing.M) {
	if port := os.Getenv(echoEnv); port != "" {
		os.Exit(echo(port))
	}
	if port := os.Getenv(bulkEnv); port != "" {
		p, err := strconv.Atoi(port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(bulk(p))
	}
	os.Exit(m.Run())
}

func echo(port string) int {
	u, err := net.ListenPacket("udp4", "0.0.0.0:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := u.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = u.WriteTo([]byte(from.String()), from)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				fmt.Fprintln(c, c.RemoteAddr())
			}
		}()
	}
}

// startEcho runs the echo server on the lab's server host.
func startEcho(t *testing.T, l *Lab, port int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Server.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", echoEnv, port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("echo server: %q %v", line, err)
	}
}

// udpEcho sends one datagram to addr and returns the answer: the address
// the server saw.
func udpEcho(addr netip.AddrPort) (string, error) {
	c, err := net.Dial("udp4", addr.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 100)
	for range 5 { // a datagram may be lost while ARP settles
		if _, err := c.Write([]byte("hi")); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return "", err
		}
	}
	return "", errors.New("no answer")
}

// tcpEcho connects to addr and returns the address the server saw.
func tcpEcho(addr netip.AddrPort) (string, error) {
	c, err := net.DialTimeout("tcp4", addr.String(), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	fmt.Fprintln(c, "hi")
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func host(s string) string {
	h, _, _ := net.SplitHostPort(s)
	return h
}

// TestRouted: without NAT the client reaches the server's own address
// through the firewall, over UDP and TCP; BlockUDP drops UDP only, and
// AllowUDP lets it through again.
func TestRouted(t *testing.T) {
	l := Enter(t, Options{})
	if l == nil {
		return
	}
	if l.Public != l.Server.Addr {
		t.Fatalf("Public %v, want the server's address %v", l.Public, l.Server.Addr)
	}
	startEcho(t, l, 9000)
	to := netip.AddrPortFrom(l.Public, 9000)
	for name, f := range map[string]func(netip.AddrPort) (string, error){"udp": udpEcho, "tcp": tcpEcho} {
		seen, err := f(to)
		if err != nil {
			t.Fatalf("%s to %v: %v", name, to, err)
		}
		if host(seen) != l.Client.Addr.String() {
			t.Errorf("%s: the server saw %s, want the client's address %v", name, seen, l.Client.Addr)
		}
	}

	l.BlockUDP(t)
	if seen, err := udpEcho(to); err == nil {
		t.Fatalf("udp went through a blocked firewall: %s", seen)
	}
	if n := l.DroppedUDP(t); n == 0 {
		t.Error("the firewall counted no dropped UDP packet")
	}
	if _, err := tcpEcho(to); err != nil {
		t.Fatalf("tcp with UDP blocked: %v", err)
	}
	l.AllowUDP(t)
	if _, err := udpEcho(to); err != nil {
		t.Fatalf("udp after AllowUDP: %v", err)
	}
	l.AllowUDP(t) // twice is fine
}

// TestNAT: with NAT the client reaches the server at the public address
// only; the server's private address is not routed from the client, and
// what the server sends out leaves from the public address.
func TestNAT(t *testing.T) {
	l := Enter(t, Options{NAT: true})
	if l == nil {
		return
	}
	if l.Public == l.Server.Addr {
		t.Fatal("Public is the server's private address")
	}
	startEcho(t, l, 9000)
	seen, err := udpEcho(netip.AddrPortFrom(l.Public, 9000))
	if err != nil {
		t.Fatalf("udp to the public address: %v", err)
	}
	if host(seen) != l.Client.Addr.String() {
		t.Errorf("the server saw %s, want the client's address %v", seen, l.Client.Addr)
	}
	if _, err := tcpEcho(netip.AddrPortFrom(l.Public, 9000)); err != nil {
		t.Fatalf("tcp to the public address: %v", err)
	}
	if seen, err := udpEcho(netip.AddrPortFrom(l.Server.Addr, 9000)); err == nil {
		t.Fatalf("the private address answered from the client host: %s", seen)
	}

	// The server's own packets to the client leave from the public address.
	ln, err := net.ListenPacket("udp4", "0.0.0.0:9001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	send := l.Server.Command(context.Background(), "sh", "-c",
		fmt.Sprintf("echo hi > /dev/udp/%s/9001", l.Client.Addr))
	if _, err := os.Stat("/bin/bash"); err == nil {
		send = l.Server.Command(context.Background(), "bash", "-c",
			fmt.Sprintf("echo hi > /dev/udp/%s/9001", l.Client.Addr))
	}
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("send from the server: %v: %s", err, out)
	}
	_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	_, from, err := ln.ReadFrom(buf)
	if err != nil {
		t.Fatalf("nothing from the server: %v", err)
	}
	if host(from.String()) != l.Public.String() {
		t.Errorf("the server's packet came from %v, want the public address %v", from, l.Public)
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestA":          "^TestA$",
		"TestA/sub_case": "^TestA$/^sub_case$",
		"TestA/x(1)":     `^TestA$/^x\(1\)$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

// bulkEnv makes the test binary a bulk sender: on the given port and the
// next one it accepts TCP connections and writes to each as fast as it
// can until the peer goes.
const bulkEnv = "NETLAB_BULK_PORT"

func bulk(port int) int {
	for _, p := range []int{port, port + 1} {
		ln, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			buf := make([]byte, 32<<10)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					for {
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	fmt.Println("ready")
	select {}
}

// startBulk runs the bulk sender on the lab's server host.
func startBulk(t *testing.T, l *Lab, port int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Server.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", bulkEnv, port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("bulk sender: %q %v", line, err)
	}
}

// dial connects to the bulk sender at addr; the download starts at once.
func dial(t *testing.T, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %v: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// localPort is c's port on the client host.
func localPort(c net.Conn) uint16 { return uint16(c.LocalAddr().(*net.TCPAddr).Port) }

// throughput reads the download on c for about d, after a first half
// second left out (the bucket's burst, TCP's slow start, what queued
// before), and returns the rate it saw in bit/s. Only an upper bound is
// asserted on a limited link: a loaded machine makes the figure lower,
// not higher.
func throughput(t *testing.T, c net.Conn, d time.Duration) float64 {
	t.Helper()
	buf := make([]byte, 64<<10)
	warm := time.Now().Add(500 * time.Millisecond)
	var start time.Time
	n := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read the download: %v", err)
		}
		now := time.Now()
		switch {
		case now.Before(warm):
		case start.IsZero():
			start = now
		default:
			n += k
			if el := now.Sub(start); el >= d {
				return float64(n) * 8 / el.Seconds()
			}
		}
	}
}

// TestLimitDownlink: a bulk TCP download from the server host is held
// near the limit (well under twice it), runs far faster once the limit
// is lifted, and a limit on one client port leaves the others fast.
func TestLimitDownlink(t *testing.T) {
	l := Enter(t, Options{})
	if l == nil {
		return
	}
	const port, rate = 9100, 2_000_000
	startBulk(t, l, port)
	addr := netip.AddrPortFrom(l.Public, port)

	l.LimitDownlink(t, Shape{Rate: rate})
	if got := throughput(t, dial(t, addr), 2*time.Second); got > 2*rate {
		t.Errorf("limited to %d bit/s, the download ran at %.0f bit/s", rate, got)
	} else {
		t.Logf("limited to %d bit/s: %.0f bit/s", rate, got)
	}
	if l.DownlinkDrops(t) == 0 {
		t.Error("a bulk download through the limit filled no queue: nothing dropped")
	}
	l.Unlimit(t)
	if d := l.DownlinkDrops(t); d != 0 {
		t.Errorf("after Unlimit the queue still counts %d drops: the limit is still there", d)
	}
	if got := throughput(t, dial(t, addr), time.Second); got < 5*rate {
		t.Errorf("after Unlimit the download ran at %.0f bit/s, not clearly over the old limit of %d", got, rate)
	} else {
		t.Logf("unlimited: %.0f bit/s", got)
	}
	l.Unlimit(t) // twice is fine

	slow, fast := dial(t, addr), dial(t, addr)
	l.LimitDownlink(t, Shape{Rate: rate, Port: localPort(slow)})
	got := throughput(t, slow, 2*time.Second)
	if got > 2*rate {
		t.Errorf("client port %d limited to %d bit/s, its download ran at %.0f bit/s", localPort(slow), rate, got)
	}
	other := throughput(t, fast, time.Second)
	if other < 5*rate {
		t.Errorf("only client port %d is limited, yet port %d's download ran at %.0f bit/s", localPort(slow), localPort(fast), other)
	}
	t.Logf("one port limited to %d bit/s: %.0f bit/s; another port: %.0f bit/s", rate, got, other)
	l.LimitDownlink(t, Shape{Rate: 4 * rate}) // replaces the port's limit with one on the whole link
	if got := throughput(t, fast, 2*time.Second); got > 8*rate {
		t.Errorf("a limit of %d bit/s on the whole link let a download run at %.0f bit/s", 4*rate, got)
	}
}
