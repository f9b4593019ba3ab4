package metrics

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lethe-rtc/lethe/signaling"
)

const namespace = "lethe"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// The collector's metrics. Worker series carry the worker's index only.
var (
	descWorkerUp   = desc("worker_up", "1 when the worker answered this scrape's stats request, else 0.", "worker")
	descRooms      = desc("rooms", "Rooms open on the worker.", "worker")
	descPeers      = desc("participants", "Participants on the worker.", "worker")
	descPublished  = desc("published_tracks", "Tracks published to the worker.", "worker")
	descSubscribed = desc("subscribed_tracks", "Tracks the worker sends to subscribers.", "worker")
	descPacketsIn  = desc("packets_in_total", "RTP packets read from publishers.", "worker")
	descPacketsOut = desc("packets_out_total", "RTP packets written to subscribers.", "worker")
	descBytesIn    = desc("bytes_in_total", "RTP bytes (header and payload) read from publishers.", "worker")
	descBytesOut   = desc("bytes_out_total", "RTP bytes written to subscribers, retransmissions and padding included.", "worker")
	descRetrans    = desc("retransmitted_packets_total", "Packets re-sent in answer to NACKs.", "worker")
	descPadding    = desc("padding_packets_total", "Padding-only packets sent to probe subscribers' downlinks.", "worker")
	descNACKs      = desc("nacks_total", "Sequence numbers subscribers asked for again (NACKs).", "worker")
	descNACKMisses = desc("nack_misses_total", "NACKed packets no longer cached.", "worker")
	descRTXLimited = desc("rtx_limited_total", "NACKed packets not re-sent: retransmissions had used their share of the downlink.", "worker")
	descPLIs       = desc("plis_total", "Keyframe requests (PLIs) sent to publishers.", "worker")
	descDropped    = desc("packets_dropped_total", "Packets not forwarded, by reason.", "worker", "reason")
	descRTT        = desc("rtt_seconds", "Round-trip times from subscribers' receiver reports.", "worker")
	descLoss       = desc("loss_ratio", "Fraction of packets lost per subscriber receiver report block.", "worker")
	descCPU        = desc("worker_cpu_seconds_total", "User and system CPU time of the worker process.", "worker")
	descRSS        = desc("worker_resident_memory_bytes", "Resident memory of the worker process.", "worker")
	descRestarts   = desc("worker_restarts_total", "Workers replaced after a crash.")
	descConns      = desc("connections", "Signaling (WebSocket) connections to the control process.")
	descLockdown   = desc("lockdown", "1 when the lock-down property is in force in the process, else 0.", "role", "index", "property")
	descPurges     = desc("purges_pending", "Purges of terminated or deleted applications scheduled and not done yet.")
	descOverdue    = desc("purge_oldest_overdue_seconds", "How long past its due time the most overdue pending purge is; 0 when none is.")
	descAppRooms   = desc("app_rooms", "Rooms of an application listed in --metrics-app-labels.", "app")
	descAppPeers   = desc("app_participants", "Participants of an application listed in --metrics-app-labels.", "app")
)

var allDescs = []*prometheus.Desc{descWorkerUp, descRooms, descPeers, descPublished, descSubscribed,
	descPacketsIn, descPacketsOut, descBytesIn, descBytesOut, descRetrans, descPadding, descNACKs, descNACKMisses,
	descRTXLimited, descPLIs, descDropped, descRTT, descLoss, descCPU, descRSS, descRestarts, descConns,
	descLockdown, descPurges, descOverdue, descAppRooms, descAppPeers}

// collector reads the current figures from its sources on every scrape.
type collector struct {
	cfg      Config
	lockdown *lockdownCache
}

var _ prometheus.Collector = (*collector)(nil)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	if c.cfg.Workers != nil {
		for _, w := range c.cfg.Workers(ctx) {
			c.worker(ch, w)
		}
	}
	if c.cfg.Restarts != nil {
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(c.cfg.Restarts()))
	}
	if c.cfg.Connections != nil {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(c.cfg.Connections()))
	}
	if c.cfg.Lockdown != nil {
		for _, p := range c.lockdown.get() {
			for _, pr := range p.Properties {
				ch <- prometheus.MustNewConstMetric(descLockdown, prometheus.GaugeValue, bool01(pr.On), p.Role, strconv.Itoa(p.Index), pr.Name)
			}
		}
	}
	if c.cfg.Purges != nil {
		if due, err := c.cfg.Purges(ctx); err == nil {
			now, overdue := c.cfg.Now(), 0.0
			for _, d := range due {
				overdue = max(overdue, now.Sub(d).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(descPurges, prometheus.GaugeValue, float64(len(due)))
			ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, overdue)
		}
	}
	for _, app := range c.cfg.AppLabels {
		rooms, peers := c.cfg.App(app)
		id := strconv.FormatUint(uint64(app), 10)
		ch <- prometheus.MustNewConstMetric(descAppRooms, prometheus.GaugeValue, float64(rooms), id)
		ch <- prometheus.MustNewConstMetric(descAppPeers, prometheus.GaugeValue, float64(peers), id)
	}
}

func (c *collector) worker(ch chan<- prometheus.Metric, w Worker) {
	idx := strconv.Itoa(w.Index)
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, idx)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), idx)
	}
	if c.cfg.CPUSeconds != nil && w.PID > 0 {
		if s, err := c.cfg.CPUSeconds(w.PID); err == nil {
			ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, s, idx)
		}
	}
	if c.cfg.RSS != nil && w.PID > 0 {
		if rss := c.cfg.RSS(w.PID); rss > 0 {
			gauge(descRSS, float64(rss))
		}
	}
	m := w.Media
	if m == nil {
		gauge(descWorkerUp, 0)
		return
	}
	gauge(descWorkerUp, 1)
	gauge(descRooms, float64(m.Rooms))
	gauge(descPeers, float64(m.Participants))
	gauge(descPublished, float64(m.PublishedTracks))
	gauge(descSubscribed, float64(m.SubscribedTracks))
	counter(descPacketsIn, m.PacketsIn)
	counter(descPacketsOut, m.PacketsOut)
	counter(descBytesIn, m.BytesIn)
	counter(descBytesOut, m.BytesOut)
	counter(descRetrans, m.Retransmitted)
	counter(descPadding, m.PaddingOut)
	counter(descNACKs, m.NACKsIn)
	counter(descNACKMisses, m.NACKMisses)
	counter(descRTXLimited, m.RTXLimited)
	counter(descPLIs, m.PLIsOut)
	// Every reason, zero or not, so the series stay the same; only the
	// reasons this process knows: a worker cannot add label values.
	for i, reason := range signaling.DropReasons {
		var v uint64
		if i < len(m.Dropped) {
			v = m.Dropped[i]
		}
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(v), idx, reason)
	}
	if h, ok := constHistogram(descRTT, m.RTT, m.RTTBounds, idx); ok {
		ch <- h
	}
	if h, ok := constHistogram(descLoss, m.Loss, m.LossBounds, idx); ok {
		ch <- h
	}
}

// constHistogram turns a worker's bucket counts into a Prometheus
// histogram (cumulative buckets); false when counts and bounds disagree.
func constHistogram(d *prometheus.Desc, h signaling.Histogram, bounds []float64, idx string) (prometheus.Metric, bool) {
	if len(h.Counts) != len(bounds)+1 || len(bounds) > 64 {
		return nil, false
	}
	buckets := make(map[float64]uint64, len(bounds))
	var total uint64
	for i, b := range bounds {
		total += h.Counts[i]
		buckets[b] = total
	}
	total += h.Counts[len(bounds)]
	m, err := prometheus.NewConstHistogram(d, total, h.Sum, buckets, idx)
	return m, err == nil
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
