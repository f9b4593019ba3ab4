package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// The killed-client test runs a participant in a separate process (this
// test binary re-executed) so that it can really be killed with SIGKILL.
const clientHelperEnv = "LETHE_E2E_CLIENT"

// runClientHelper joins the room named in the environment, publishes,
// prints "joined <participantId>" and waits to be killed.
func runClientHelper() int {
	f := strings.Split(os.Getenv(clientHelperEnv), "|") // url|app|user|token|room
	app, _ := strconv.ParseUint(f[1], 10, 32)
	room, _ := strconv.ParseUint(f[4], 10, 32)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, f[0], client.Options{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	j, err := c.Join(ctx, signaling.Join{SDKAppID: uint32(app), UserID: f[2], UserSig: f[3], RoomID: uint32(room)})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	v, err := client.NewVP8Track("v", "s", client.SourceOptions{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if err := c.Publish(ctx, v); err != nil {
		fmt.Println("error", err)
		return 1
	}
	v.Start(ctx)
	fmt.Println("joined", j.ParticipantID)
	<-ctx.Done()
	return 0
}

// startClientProcess runs a participant in its own process.
func startClientProcess(t *testing.T, s *server, user string, room uint32) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), clientHelperEnv+"="+strings.Join([]string{
		s.url, strconv.FormatUint(uint64(s.appID), 10), user, s.token(user), strconv.FormatUint(uint64(room), 10),
	}, "|"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		buf := make([]byte, 256)
		n, _ := out.Read(buf)
		line <- strings.TrimSpace(string(buf[:n]))
	}()
	select {
	case l := <-line:
		id, ok := strings.CutPrefix(l, "joined ")
		if !ok {
			t.Fatalf("client process: %q", l)
		}
		return cmd, id
	case <-time.After(20 * time.Second):
		t.Fatal("client process did not join")
	}
	return nil, ""
}
