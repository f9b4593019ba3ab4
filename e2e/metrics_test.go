package e2e

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lethe-rtc/lethe/client"
)

// scrapeMetrics GETs url (with the admin key of s, unless key is false)
// and parses the text format with Prometheus's own parser.
func (s *server) scrapeMetrics(t *testing.T, url string, key bool) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key {
		k, err := os.ReadFile(filepath.Join(s.dataDir, "admin.key"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(k)))
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sum adds up every sample of name (a histogram's sample count).
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var v float64
	for _, m := range f.Metric {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		}
	}
	return v
}

// seriesOf names every series of fams by its name and labels.
func seriesOf(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, f := range fams {
		for _, m := range f.Metric {
			id := name
			for _, l := range m.Label {
				id += "," + l.GetName() + "=" + l.GetValue()
			}
			out[id] = true
		}
	}
	return out
}

// labelValues lists every label value of fams.
func labelValues(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for _, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}

// /metrics on the main listener is behind the admin key; its counters
// move while media flows; no label value is a room or user id; and the
// set of series is the same after 100 rooms came and went.
func TestMetrics(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	url := s.httpBase() + "/metrics"

	resp, err := s.httpClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without the admin key: %d, want 401", resp.StatusCode)
	}

	// Distinctive ids: a numeric room, a string room, user ids with a
	// random part (join adds one).
	room := uint32(900000000 + time.Now().UnixNano()%99999999)
	strRoom := "metricsroom-" + rand.Text()[:8]
	pub := s.join(t, "mxpub", room, "")
	sub := s.join(t, "mxsub", room, "")
	pub.publishAV(t, false, client.SourceOptions{})
	sub.firstVideo(t)
	other := s.join(t, "mxstr", 0, strRoom)
	defer other.Close()

	first := s.scrapeMetrics(t, url, true)
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(15 * time.Second)
	for {
		fams = s.scrapeMetrics(t, url, true)
		moved := sum(fams, "lethe_packets_in_total") > sum(first, "lethe_packets_in_total") &&
			sum(fams, "lethe_packets_out_total") > sum(first, "lethe_packets_out_total") &&
			sum(fams, "lethe_bytes_out_total") > sum(first, "lethe_bytes_out_total")
		if moved && sum(fams, "lethe_rtt_seconds") > 0 && sum(fams, "lethe_loss_ratio") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not move with media flowing: packets in %v→%v, out %v→%v, rtt %v, loss %v",
				sum(first, "lethe_packets_in_total"), sum(fams, "lethe_packets_in_total"),
				sum(first, "lethe_packets_out_total"), sum(fams, "lethe_packets_out_total"),
				sum(fams, "lethe_rtt_seconds"), sum(fams, "lethe_loss_ratio"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		"lethe_rooms": 2, "lethe_participants": 3, "lethe_published_tracks": 2, "lethe_subscribed_tracks": 2,
		"lethe_worker_up": 1, "lethe_connections": 3,
	} {
		if got := sum(fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := sum(fams, "lethe_join_latency_seconds"); got < 3 {
		t.Errorf("join latency observations %v, want 3 or more", got)
	}
	for _, name := range []string{"lethe_worker_cpu_seconds_total", "lethe_worker_resident_memory_bytes", "lethe_lockdown"} {
		if sum(fams, name) <= 0 {
			t.Errorf("%s missing or zero", name)
		}
	}
	for _, name := range []string{"lethe_data_messages_received_total", "lethe_packets_dropped_total", "lethe_worker_restarts_total", "lethe_admin_requests_total"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if got := sum(fams, "lethe_purges_pending"); got != 0 {
		t.Errorf("purges pending %v on a fresh server", got)
	}
	if sum(fams, "lethe_admin_requests_total") < 1 {
		t.Error("no admin requests counted")
	}

	ids := []string{pub.uid, sub.uid, other.uid, strRoom, strconv.FormatUint(uint64(room), 10), strconv.FormatUint(uint64(s.appID), 10)}
	noIDs := func(fams map[string]*dto.MetricFamily) {
		t.Helper()
		for _, v := range labelValues(fams) {
			for _, id := range ids {
				if strings.Contains(v, id) {
					t.Errorf("label value %q holds the id %q", v, id)
				}
			}
		}
	}
	noIDs(fams)

	// 100 rooms come and go; the series stay the same.
	base := seriesOf(s.scrapeMetrics(t, url, true))
	start := time.Now()
	for i := range 100 {
		r := uint32(800000000 + i)
		ids = append(ids, strconv.FormatUint(uint64(r), 10))
		p := s.join(t, "mxroom", r, "")
		ids = append(ids, p.uid)
		if i%25 == 0 {
			noIDs(s.scrapeMetrics(t, url, true))
		}
		if err := p.Leave(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		_ = p.Close()
	}
	t.Logf("100 rooms joined and left in %v", time.Since(start).Round(time.Millisecond))
	deadline = time.Now().Add(10 * time.Second)
	for {
		fams = s.scrapeMetrics(t, url, true)
		if sum(fams, "lethe_rooms") == 2 && sum(fams, "lethe_participants") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rooms %v, participants %v after the 100 rooms left", sum(fams, "lethe_rooms"), sum(fams, "lethe_participants"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	noIDs(fams)
	after := seriesOf(fams)
	for id := range after {
		if !base[id] {
			t.Errorf("new series %s", id)
		}
	}
	for id := range base {
		if !after[id] {
			t.Errorf("series %s gone", id)
		}
	}
	if len(after) != len(base) {
		t.Errorf("%d series after 100 rooms, %d before", len(after), len(base))
	}
	if got := sum(fams, "lethe_join_latency_seconds"); got < 103 {
		t.Errorf("join latency observations %v, want 103 or more", got)
	}
}

// --metrics-listen serves /metrics there without a key and takes it off
// the main listener; --metrics-app-labels labels the listed app's series
// with its id, and only that.
func TestMetricsListen(t *testing.T) {
	leakCheck(t)
	dir := filepath.Join(t.TempDir(), "data")
	s := startServerIn(t, dir, "--metrics-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`metrics:\s+(http://\S+/metrics)`).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no metrics address in the banner:\n%s", s.stdout.String())
	}
	fams := s.scrapeMetrics(t, m[1], false)
	if fams["lethe_worker_up"] == nil || fams["lethe_app_rooms"] != nil {
		t.Errorf("families %v", fams)
	}
	resp, err := s.httpClient().Get(s.httpBase() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on --listen with --metrics-listen set: %d, want 404", resp.StatusCode)
	}
	s.stop()

	// The same data dir, so the same default app, now listed.
	s = startServerIn(t, dir, "--metrics-listen", "127.0.0.1:0", "--metrics-app-labels", strconv.FormatUint(uint64(s.appID), 10))
	m = regexp.MustCompile(`metrics:\s+(http://\S+/metrics)`).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no metrics address in the banner:\n%s", s.stdout.String())
	}
	p := s.join(t, "mxapp", 4242, "")
	defer p.Close()
	fams = s.scrapeMetrics(t, m[1], false)
	app := strconv.FormatUint(uint64(s.appID), 10)
	f := fams["lethe_app_participants"]
	if f == nil || len(f.Metric) != 1 || f.Metric[0].Label[0].GetValue() != app || f.Metric[0].Gauge.GetValue() != 1 {
		t.Errorf("lethe_app_participants %v, want 1 for app %s", f, app)
	}
}
