package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// The edge of the real server against outside testing (issue 11): DNS
// rebinding, the attestation's access, a wrong-key flood on the admin
// API, invalid UTF-8, and the connection caps.
func TestEdgeDefenses(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--dev", "--max-connections-per-ip", "6")
	base := strings.TrimSuffix(strings.Replace(s.url, "ws://", "http://", 1), "/v1/signal")
	port := base[strings.LastIndex(base, ":")+1:]
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	readKey := func(name string) string {
		b, err := os.ReadFile(filepath.Join(s.dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	get := func(path string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}

	t.Run("rebinding", func(t *testing.T) {
		evil := "evil.example:" + port
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		ws, resp, err := d.Dial(s.url, http.Header{"Host": {evil}, "Origin": {"http://" + evil}})
		if err == nil {
			ws.Close()
			t.Fatal("a page on a rebinding name upgraded to signaling")
		}
		if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("signaling for %s: %v %v, want 421", evil, resp, err)
		}
		for _, path := range []string{"/v1/compliance/attestation", "/v1/admin/apps", "/", "/v1/dev/token?user=u&room=1", "/healthz"} {
			if code, body := get(path, "Host", evil, "Authorization", "Bearer "+readKey(store.AdminKeyFile)); code != http.StatusMisdirectedRequest ||
				!strings.Contains(body, "host_not_allowed") {
				t.Errorf("GET %s for %s: %d %.100s, want 421 host_not_allowed", path, evil, code, body)
			}
		}
		// The server's own names still work.
		for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
			if code, _ := get("/healthz", "Host", host); code != http.StatusOK {
				t.Errorf("Host %s: %d", host, code)
			}
		}
	})

	t.Run("attestation", func(t *testing.T) {
		pid := strconv.Itoa(s.cmd.Process.Pid)
		code, body := get("/v1/compliance/attestation")
		if code != http.StatusOK || !strings.Contains(body, `"detail"`) || !strings.Contains(body, `"enforced"`) {
			t.Fatalf("public attestation: %d %.300s", code, body)
		}
		for _, secret := range []string{`"pid"`, pid, s.dataDir, lethePath} {
			if strings.Contains(body, secret) {
				t.Errorf("the public attestation shows %q", secret)
			}
		}
		for _, key := range []string{store.AuditorKeyFile, store.AdminKeyFile} {
			code, body := get("/v1/compliance/attestation", "Authorization", "Bearer "+readKey(key))
			if code != http.StatusOK || !strings.Contains(body, `"pid": `+pid) {
				t.Errorf("attestation with %s: %d %.200s, want the full one", key, code, body)
			}
		}
		if code, _ := get("/v1/compliance/attestation", "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
			t.Errorf("attestation with a wrong key: %d, want 401", code)
		}
		// The auditor key reads the attestation and nothing else.
		if code, _ := get("/v1/admin/apps", "Authorization", "Bearer "+readKey(store.AuditorKeyFile)); code != http.StatusUnauthorized {
			t.Errorf("admin API with the auditor key: %d, want 401", code)
		}
	})

	t.Run("wrong-key flood", func(t *testing.T) {
		const flood = 400
		var wg sync.WaitGroup
		var mu sync.Mutex
		status := map[int]int{}
		for w := range 4 {
			wg.Go(func() {
				for i := range flood / 4 {
					req, _ := http.NewRequest("GET", base+"/v1/admin/apps", nil)
					req.Header.Set("Authorization", "Bearer guess-"+strconv.Itoa(w)+"-"+strconv.Itoa(i))
					resp, err := hc.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					status[resp.StatusCode]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if status[http.StatusTooManyRequests] == 0 || status[http.StatusOK] != 0 {
			t.Errorf("flood answered %v, want 401s and 429s", status)
		}
		// Right after it, the operator's own requests go through: the real
		// CLI with the admin key.
		for range 3 {
			out, err := exec.Command(lethePath, "app", "--server", base, "--admin-key-file", filepath.Join(s.dataDir, store.AdminKeyFile), "list").CombinedOutput()
			if err != nil || !strings.Contains(string(out), strconv.FormatUint(uint64(s.appID), 10)) {
				t.Fatalf("app list after the flood: %v\n%s", err, out)
			}
		}
		if n := strings.Count(s.stderr.String(), "admin request refused"); n > 3 {
			t.Errorf("%d log lines for a flood of %d, want at most one per kind of refusal", n, flood)
		}
	})

	t.Run("invalid UTF-8", func(t *testing.T) {
		ws, _, err := websocket.DefaultDialer.Dial(s.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":1,"data":{"x":"`+"\xff"+`"}}`)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var types []string
		for {
			_, raw, err := ws.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
					t.Fatalf("after %v: %v, want close status 1007", types, err)
				}
				break
			}
			var env signaling.Envelope
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatal(err)
			}
			types = append(types, env.Type)
		}
		if strings.Join(types, ",") != "error,bye" {
			t.Errorf("before the close: %v, want error, bye", types)
		}
	})

	t.Run("connection caps", func(t *testing.T) {
		var open []*websocket.Conn
		defer func() {
			for _, ws := range open {
				ws.Close()
			}
		}()
		for i := range 6 {
			ws, _, err := websocket.DefaultDialer.Dial(s.url, nil)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			open = append(open, ws)
		}
		for range 20 {
			ws, resp, err := websocket.DefaultDialer.Dial(s.url, nil)
			if err == nil {
				ws.Close()
				t.Fatal("a 7th connection from one address was accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("7th connection: %v %v, want 503", resp, err)
			}
		}
		if n := strings.Count(s.stderr.String(), "address at its maximum"); n != 1 {
			t.Errorf("%d log lines for 20 refusals, want 1", n)
		}
		// One closes; a new one gets its place.
		open[0].Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ws, _, err := websocket.DefaultDialer.Dial(s.url, nil)
			if err == nil {
				open[0] = ws
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no place after a close: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
