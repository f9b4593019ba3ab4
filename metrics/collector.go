package metrics

import (
	"context"
	"math"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

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

// maxBuckets bounds a histogram a worker reports.
const maxBuckets = 64

// counterKind is one of a worker's plain counters: its description and
// where its value is in the worker's figures.
type counterKind struct {
	desc  *prometheus.Desc
	value func(*signaling.MediaStats) uint64
}

// sources is the collector of everything read at a scrape: the workers
// over IPC, the processes' CPU and memory, restarts, connections, the
// lock-down, the purges and the listed apps. Its descriptions are fixed
// at New, so the registry checks every scrape against them and the set
// of label names never grows.
type sources struct {
	cfg      Config
	lockdown *lockdownCache

	workerUp, rooms, peers, published, subscribed  *prometheus.Desc
	counters                                       []counterKind
	dropped, dataIn, dataOut, dataDrop, dataReject *prometheus.Desc
	rtt, loss                                      *prometheus.Desc
	workerCPU, workerRSS                           *prometheus.Desc
	controlCPU, controlRSS                         *prometheus.Desc
	restarts, conns, lockdownOn                    *prometheus.Desc
	purges, overdue, appRooms, appPeers            *prometheus.Desc
}

var _ prometheus.Collector = (*sources)(nil)

func newSources(cfg Config) *sources {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	w := func(name, help string) *prometheus.Desc { return desc(name, help, "worker") }
	wr := func(name, help string) *prometheus.Desc { return desc(name, help, "worker", "reason") }
	counter := func(name, help string, value func(*signaling.MediaStats) uint64) counterKind {
		return counterKind{w(name, help), value}
	}
	return &sources{
		cfg:        cfg,
		lockdown:   &lockdownCache{read: cfg.Lockdown, every: cfg.LockdownEvery, now: cfg.Now},
		workerUp:   w("lethe_worker_up", hWorkerUp),
		rooms:      w("lethe_rooms", hRooms),
		peers:      w("lethe_participants", hPeers),
		published:  w("lethe_published_tracks", hPublished),
		subscribed: w("lethe_subscribed_tracks", hSubscribed),
		counters: []counterKind{
			counter("lethe_packets_in_total", hPacketsIn, func(s *signaling.MediaStats) uint64 { return s.PacketsIn }),
			counter("lethe_packets_out_total", hPacketsOut, func(s *signaling.MediaStats) uint64 { return s.PacketsOut }),
			counter("lethe_bytes_in_total", hBytesIn, func(s *signaling.MediaStats) uint64 { return s.BytesIn }),
			counter("lethe_bytes_out_total", hBytesOut, func(s *signaling.MediaStats) uint64 { return s.BytesOut }),
			counter("lethe_retransmitted_packets_total", hRetrans, func(s *signaling.MediaStats) uint64 { return s.Retransmitted }),
			counter("lethe_padding_packets_total", hPadding, func(s *signaling.MediaStats) uint64 { return s.PaddingOut }),
			counter("lethe_nacks_total", hNACKs, func(s *signaling.MediaStats) uint64 { return s.NACKsIn }),
			counter("lethe_nack_misses_total", hNACKMisses, func(s *signaling.MediaStats) uint64 { return s.NACKMisses }),
			counter("lethe_rtx_limited_total", hRTXLimited, func(s *signaling.MediaStats) uint64 { return s.RTXLimited }),
			counter("lethe_plis_total", hPLIs, func(s *signaling.MediaStats) uint64 { return s.PLIsOut }),
		},
		dropped:    wr("lethe_packets_dropped_total", hDropped),
		dataIn:     w("lethe_data_messages_received_total", hDataIn),
		dataOut:    w("lethe_data_messages_delivered_total", hDataOut),
		dataDrop:   wr("lethe_data_messages_dropped_total", hDataDrop),
		dataReject: wr("lethe_data_messages_rejected_total", hDataReject),
		rtt:        w("lethe_rtt_seconds", hRTT),
		loss:       w("lethe_loss_ratio", hLoss),
		workerCPU:  w("lethe_worker_cpu_seconds_total", hCPU),
		workerRSS:  w("lethe_worker_resident_memory_bytes", hRSS),
		controlCPU: desc("lethe_control_cpu_seconds_total", hCPU),
		controlRSS: desc("lethe_control_resident_memory_bytes", hRSS),
		restarts:   desc("lethe_worker_restarts_total", hRestarts),
		conns:      desc("lethe_connections", hConns),
		lockdownOn: desc("lethe_lockdown", hLockdown, "role", "index", "property"),
		purges:     desc("lethe_purges_pending", hPurges),
		overdue:    desc("lethe_purge_oldest_overdue_seconds", hOverdue),
		appRooms:   desc("lethe_app_rooms", hAppRooms, "app"),
		appPeers:   desc("lethe_app_participants", hAppPeers, "app"),
	}
}

// Describe sends every description, whether or not its source is set.
func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.workerUp, s.rooms, s.peers, s.published, s.subscribed,
		s.dropped, s.dataIn, s.dataOut, s.dataDrop, s.dataReject, s.rtt, s.loss, s.workerCPU, s.workerRSS,
		s.controlCPU, s.controlRSS, s.restarts, s.conns, s.lockdownOn, s.purges, s.overdue, s.appRooms, s.appPeers} {
		ch <- d
	}
	for _, k := range s.counters {
		ch <- k.desc
	}
}

// Collect reads every source once, waiting at most Config.Timeout for
// the workers and the store.
func (s *sources) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	c := s.cfg
	if c.Workers != nil {
		for _, w := range c.Workers(ctx) {
			s.worker(ch, w)
		}
	}
	if c.CPUSeconds != nil {
		if sec, err := c.CPUSeconds(os.Getpid()); err == nil {
			counter(s.controlCPU, sec)
		}
	}
	if c.RSS != nil {
		if rss := c.RSS(os.Getpid()); rss > 0 {
			gauge(s.controlRSS, float64(rss))
		}
	}
	if c.Restarts != nil {
		counter(s.restarts, float64(c.Restarts()))
	}
	if c.Connections != nil {
		gauge(s.conns, float64(c.Connections()))
	}
	if c.Lockdown != nil {
		for _, p := range s.lockdown.get() {
			for _, pr := range p.Properties {
				gauge(s.lockdownOn, bool01(pr.On), p.Role, strconv.Itoa(p.Index), pr.Name)
			}
		}
	}
	if c.Purges != nil {
		if due, err := c.Purges(ctx); err == nil {
			now, overdue := c.Now(), 0.0
			for _, d := range due {
				overdue = max(overdue, now.Sub(d).Seconds())
			}
			gauge(s.purges, float64(len(due)))
			gauge(s.overdue, overdue)
		}
	}
	for _, app := range c.AppLabels {
		rooms, peers := c.App(app)
		id := strconv.FormatUint(uint64(app), 10)
		gauge(s.appRooms, float64(rooms), id)
		gauge(s.appPeers, float64(peers), id)
	}
}

func (s *sources) worker(ch chan<- prometheus.Metric, w Worker) {
	idx := strconv.Itoa(w.Index)
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, idx)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), idx)
	}
	c := s.cfg
	if c.CPUSeconds != nil && w.PID > 0 {
		if sec, err := c.CPUSeconds(w.PID); err == nil {
			ch <- prometheus.MustNewConstMetric(s.workerCPU, prometheus.CounterValue, sec, idx)
		}
	}
	if c.RSS != nil && w.PID > 0 {
		if rss := c.RSS(w.PID); rss > 0 {
			gauge(s.workerRSS, float64(rss))
		}
	}
	m := w.Media
	if m == nil {
		gauge(s.workerUp, 0)
		return
	}
	gauge(s.workerUp, 1)
	gauge(s.rooms, float64(m.Rooms))
	gauge(s.peers, float64(m.Participants))
	gauge(s.published, float64(m.PublishedTracks))
	gauge(s.subscribed, float64(m.SubscribedTracks))
	for _, k := range s.counters {
		counter(k.desc, k.value(m))
	}
	// Every reason, zero or not, so the series stay the same; only the
	// reasons this process knows: a worker cannot add label values.
	reasons(ch, s.dropped, idx, signaling.DropReasons, m.Dropped)
	counter(s.dataIn, m.DataReceived)
	counter(s.dataOut, m.DataDelivered)
	reasons(ch, s.dataDrop, idx, signaling.DataDropReasons, m.DataDropped)
	reasons(ch, s.dataReject, idx, signaling.DataRejectReasons, m.DataRejected)
	if h, ok := histogram(s.rtt, m.RTTBounds, m.RTT, idx); ok {
		ch <- h
	}
	if h, ok := histogram(s.loss, m.LossBounds, m.Loss, idx); ok {
		ch <- h
	}
}

// reasons sends a counter per reason of names, from the worker's counts
// in the same order (zero where it sent fewer).
func reasons(ch chan<- prometheus.Metric, d *prometheus.Desc, idx string, names []string, counts []uint64) {
	for i, reason := range names {
		var v uint64
		if i < len(counts) {
			v = counts[i]
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), idx, reason)
	}
}

// histogram turns a worker's per-bucket counts (the last above every
// bound) into a histogram of cumulative buckets; not ok when the counts
// and bounds disagree, or the bounds are too many or not increasing.
func histogram(d *prometheus.Desc, bounds []float64, h signaling.Histogram, idx string) (prometheus.Metric, bool) {
	if len(h.Counts) != len(bounds)+1 || len(bounds) > maxBuckets {
		return nil, false
	}
	buckets := make(map[float64]uint64, len(bounds))
	var total uint64
	for i, b := range bounds {
		if math.IsNaN(b) || (i > 0 && b <= bounds[i-1]) {
			return nil, false
		}
		total += h.Counts[i]
		buckets[b] = total
	}
	total += h.Counts[len(bounds)]
	return prometheus.MustNewConstHistogram(d, total, h.Sum, buckets, idx), true
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
