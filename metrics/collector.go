package metrics

import (
	"context"
	"os"
	"strconv"

	dto "github.com/prometheus/client_model/go"

	"github.com/lethe-rtc/lethe/signaling"
)

// Help texts of the metrics, by name (docs/metrics.md lists them too).
const (
	hWorkerUp   = "1 when the worker answered this scrape's stats request, else 0."
	hRooms      = "Rooms open on the worker."
	hPeers      = "Participants on the worker."
	hPublished  = "Tracks published to the worker."
	hSubscribed = "Tracks the worker sends to subscribers."
	hPacketsIn  = "RTP packets read from publishers."
	hPacketsOut = "RTP packets written to subscribers."
	hBytesIn    = "RTP bytes (header and payload) read from publishers."
	hBytesOut   = "RTP bytes written to subscribers, retransmissions and padding included."
	hRetrans    = "Packets re-sent in answer to NACKs."
	hPadding    = "Padding-only packets sent to probe subscribers' downlinks."
	hNACKs      = "Sequence numbers subscribers asked for again (NACKs)."
	hNACKMisses = "NACKed packets no longer cached."
	hRTXLimited = "NACKed packets not re-sent: retransmissions had used their share of the downlink."
	hPLIs       = "Keyframe requests (PLIs) sent to publishers."
	hDropped    = "Packets not forwarded, by reason."
	hRTT        = "Round-trip times from subscribers' receiver reports, in seconds."
	hLoss       = "Fraction of packets lost, per receiver report block from subscribers."
	hCPU        = "User and system CPU time of the process, in seconds."
	hRSS        = "Resident memory of the process, in bytes."
	hRestarts   = "Workers replaced after a crash."
	hConns      = "Signaling (WebSocket) connections to the control process."
	hLockdown   = "1 when the lock-down property is in force in the process, else 0."
	hPurges     = "Purges of terminated or deleted applications scheduled and not done yet."
	hOverdue    = "How long past its due time the most overdue pending purge is, in seconds; 0 when none is."
	hAppRooms   = "Rooms of an application listed in --metrics-app-labels."
	hAppPeers   = "Participants of an application listed in --metrics-app-labels."
	hDataIn     = "Data messages accepted from senders."
	hDataOut    = "Data messages written to receivers."
	hDataDrop   = "Data messages not written to a receiver, by reason."
	hDataReject = "Data messages refused from their senders, by reason."
	hJoin       = "Time from a join message to the joined sent back, for the joins that succeed, in seconds."
	hAdmin      = "Admin API requests (scrapes behind the admin key included) by HTTP status."
)

// Gather reads every source and returns the metric families, by name.
func (m *Metrics) Gather(ctx context.Context) []*dto.MetricFamily {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	f := newFamilies()
	c := m.cfg
	if c.Workers != nil {
		for _, w := range c.Workers(ctx) {
			m.worker(f, w)
		}
	}
	if c.CPUSeconds != nil {
		if s, err := c.CPUSeconds(os.Getpid()); err == nil {
			f.counter("lethe_control_cpu_seconds_total", hCPU, s)
		}
	}
	if c.RSS != nil {
		if rss := c.RSS(os.Getpid()); rss > 0 {
			f.gauge("lethe_control_resident_memory_bytes", hRSS, float64(rss))
		}
	}
	if c.Restarts != nil {
		f.counter("lethe_worker_restarts_total", hRestarts, float64(c.Restarts()))
	}
	if c.Connections != nil {
		f.gauge("lethe_connections", hConns, float64(c.Connections()))
	}
	if c.Lockdown != nil {
		for _, p := range m.lockdown.get() {
			for _, pr := range p.Properties {
				f.gauge("lethe_lockdown", hLockdown, bool01(pr.On), "role", p.Role, "index", strconv.Itoa(p.Index), "property", pr.Name)
			}
		}
	}
	if c.Purges != nil {
		if due, err := c.Purges(ctx); err == nil {
			now, overdue := c.Now(), 0.0
			for _, d := range due {
				overdue = max(overdue, now.Sub(d).Seconds())
			}
			f.gauge("lethe_purges_pending", hPurges, float64(len(due)))
			f.gauge("lethe_purge_oldest_overdue_seconds", hOverdue, overdue)
		}
	}
	for _, app := range c.AppLabels {
		rooms, peers := c.App(app)
		id := strconv.FormatUint(uint64(app), 10)
		f.gauge("lethe_app_rooms", hAppRooms, float64(rooms), "app", id)
		f.gauge("lethe_app_participants", hAppPeers, float64(peers), "app", id)
	}
	counts, sum := m.join.snapshot()
	f.histogram("lethe_join_latency_seconds", hJoin, JoinBuckets, counts, sum)
	m.mu.Lock()
	for status, n := range m.admin {
		code := "other"
		if status != 0 {
			code = strconv.Itoa(status)
		}
		f.counter("lethe_admin_requests_total", hAdmin, float64(n), "code", code)
	}
	m.mu.Unlock()
	return f.sorted()
}

func (m *Metrics) worker(f *families, w Worker) {
	idx := strconv.Itoa(w.Index)
	c := m.cfg
	if c.CPUSeconds != nil && w.PID > 0 {
		if s, err := c.CPUSeconds(w.PID); err == nil {
			f.counter("lethe_worker_cpu_seconds_total", hCPU, s, "worker", idx)
		}
	}
	if c.RSS != nil && w.PID > 0 {
		if rss := c.RSS(w.PID); rss > 0 {
			f.gauge("lethe_worker_resident_memory_bytes", hRSS, float64(rss), "worker", idx)
		}
	}
	s := w.Media
	if s == nil {
		f.gauge("lethe_worker_up", hWorkerUp, 0, "worker", idx)
		return
	}
	f.gauge("lethe_worker_up", hWorkerUp, 1, "worker", idx)
	f.gauge("lethe_rooms", hRooms, float64(s.Rooms), "worker", idx)
	f.gauge("lethe_participants", hPeers, float64(s.Participants), "worker", idx)
	f.gauge("lethe_published_tracks", hPublished, float64(s.PublishedTracks), "worker", idx)
	f.gauge("lethe_subscribed_tracks", hSubscribed, float64(s.SubscribedTracks), "worker", idx)
	for _, k := range []struct {
		name, help string
		v          uint64
	}{
		{"lethe_packets_in_total", hPacketsIn, s.PacketsIn},
		{"lethe_packets_out_total", hPacketsOut, s.PacketsOut},
		{"lethe_bytes_in_total", hBytesIn, s.BytesIn},
		{"lethe_bytes_out_total", hBytesOut, s.BytesOut},
		{"lethe_retransmitted_packets_total", hRetrans, s.Retransmitted},
		{"lethe_padding_packets_total", hPadding, s.PaddingOut},
		{"lethe_nacks_total", hNACKs, s.NACKsIn},
		{"lethe_nack_misses_total", hNACKMisses, s.NACKMisses},
		{"lethe_rtx_limited_total", hRTXLimited, s.RTXLimited},
		{"lethe_plis_total", hPLIs, s.PLIsOut},
	} {
		f.counter(k.name, k.help, float64(k.v), "worker", idx)
	}
	// Every reason, zero or not, so the series stay the same; only the
	// reasons this process knows: a worker cannot add label values.
	reasons(f, "lethe_packets_dropped_total", hDropped, idx, signaling.DropReasons, s.Dropped)
	f.counter("lethe_data_messages_received_total", hDataIn, float64(s.DataReceived), "worker", idx)
	f.counter("lethe_data_messages_delivered_total", hDataOut, float64(s.DataDelivered), "worker", idx)
	reasons(f, "lethe_data_messages_dropped_total", hDataDrop, idx, signaling.DataDropReasons, s.DataDropped)
	reasons(f, "lethe_data_messages_rejected_total", hDataReject, idx, signaling.DataRejectReasons, s.DataRejected)
	f.histogram("lethe_rtt_seconds", hRTT, s.RTTBounds, s.RTT.Counts, s.RTT.Sum, "worker", idx)
	f.histogram("lethe_loss_ratio", hLoss, s.LossBounds, s.Loss.Counts, s.Loss.Sum, "worker", idx)
}

// reasons adds a counter per reason of names, from the worker's counts in
// the same order (zero where it sent fewer).
func reasons(f *families, name, help, idx string, names []string, counts []uint64) {
	for i, reason := range names {
		var v uint64
		if i < len(counts) {
			v = counts[i]
		}
		f.counter(name, help, float64(v), "worker", idx, "reason", reason)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
