package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/procfs"
)

// Report is what a load test measured. Rates, loss and latency cover the
// measured window only; join times cover every join.
type Report struct {
	Load      LoadSummary      `json:"load"`
	Window    Duration         `json:"window"`
	Total     RoomReport       `json:"total"`
	Rooms     []RoomReport     `json:"rooms"`
	Signaling SignalingReport  `json:"signaling"`
	Server    *ServerReport    `json:"server,omitempty"`
	Generator *GeneratorReport `json:"generator,omitempty"`
	// Classes are the subscribers' downlink classes (Config.Classes).
	Classes []ClassReport `json:"classes,omitempty"`
	Errors  []string      `json:"errors,omitempty"`
}

// ClassReport is what the subscribers of one downlink class received:
// the video layer at the end of the window, how long they took to
// settle on it, freezes after that, and loss in the window.
type ClassReport struct {
	DownlinkBps int `json:"downlinkBps"` // 0: unlimited
	Subscribers int `json:"subscribers"`
	VideoTracks int `json:"videoTracks"`
	// Layer is the layer most video tracks received at the end (0 the
	// lowest; -1: none had layer markers); LayerTracks counts the
	// tracks on each layer, and Paused those the server had paused for
	// the subscriber's downlink at the end (trackPaused), on no layer.
	Layer       int   `json:"layer"`
	LayerTracks []int `json:"layerTracks"`
	Paused      int   `json:"paused"`
	// Settle is, per video track, the time from its subscriber's join to
	// the last layer change (to its first packet if it never changed).
	SettleP50 Duration `json:"settleP50"`
	SettleMax Duration `json:"settleMax"`
	Switches  uint64   `json:"layerSwitches"`
	// BadSwitches did not land on a keyframe; SeqJumps and SwitchGaps are
	// sequence discontinuities loss does not explain, inside a layer and
	// at a switch.
	BadSwitches uint64 `json:"badSwitches"`
	SeqJumps    uint64 `json:"seqJumps"`
	SwitchGaps  uint64 `json:"switchGaps"`
	// Freezes are times over a second without a complete video frame
	// after the track's last layer change.
	Freezes     uint64  `json:"freezes"`
	Packets     uint64  `json:"packets"` // in the window, audio and video
	Lost        uint64  `json:"lost"`
	LossPercent float64 `json:"lossPercent"`
	// DownlinkDropped counts the packets the class's shaped downlink
	// dropped over the whole run.
	DownlinkDropped uint64 `json:"downlinkDropped"`
}

// SignalingReport counts the server events the participants received over
// the whole run (ramp-up included), and the sessions the server ended.
type SignalingReport struct {
	Events            uint64 `json:"events"`
	ParticipantEvents uint64 `json:"participantEvents"` // participantJoined, -Updated, -Left
	EventsDropped     uint64 `json:"eventsDropped"`     // by the client, for want of a reader: should be 0
	// Ended counts the sessions the server ended before the load did,
	// by bye code (3001: worker lost, 1003: rate limited, ...).
	Ended map[int]int `json:"ended,omitempty"`
}

// GeneratorReport is the load generator's own CPU use during the window:
// on one machine with the server, the two compete for the same cores.
type GeneratorReport struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUPercent float64 `json:"cpuPercent"` // of one core
	Cores      int     `json:"cores"`      // on this machine
}

// saturation is how much of the machine's CPU the generator and, when it
// is measured here, the server used in the window: 1 is every core busy.
func (rep *Report) saturation() float64 {
	g := rep.Generator
	if g == nil || g.Cores == 0 {
		return 0
	}
	used := g.CPUPercent
	if rep.Server != nil {
		used += rep.Server.CPUPercent
	}
	return used / 100 / float64(g.Cores)
}

// saturated is the share of the machine above which loss and latency
// say more about the machine than about the server.
const saturated = 0.85

// LoadSummary restates the load.
type LoadSummary struct {
	Rooms, Publishers, Anchors, Subscribers int
	Audio, Video                            bool
	Codec                                   string
	VideoBitrate, FPS, AudioBitrate         int
	Pacing                                  float64 // × VideoBitrate; 0: bursts
	Transport                               string  // Config.Transport: udp, tcp or relay
	Simulcast                               bool    `json:",omitempty"`
	Classes                                 []int   `json:",omitempty"` // downlink bit/s, 0 unlimited
}

// RoomReport is one room's figures, or the total.
type RoomReport struct {
	Room         uint32   `json:"room,omitempty"`
	Participants int      `json:"participants"`
	Joined       int      `json:"joined"`
	JoinP50      Duration `json:"joinP50"`
	JoinP99      Duration `json:"joinP99"`
	Tracks       int      `json:"tracksReceived"`
	Packets      uint64   `json:"packets"`
	Bytes        uint64   `json:"bytes"`
	BitrateMbps  float64  `json:"receivedMbps"`
	Lost         uint64   `json:"lost"`
	LossPercent  float64  `json:"lossPercent"`
	BadMarkers   uint64   `json:"badMarkers"`
	NACKs        uint64   `json:"nacks"` // sequence numbers publishers were asked for again
	PLIs         uint64   `json:"plis"`  // keyframe requests publishers received
	LatencyP50   Duration `json:"latencyP50"`
	LatencyP95   Duration `json:"latencyP95"`
	LatencyP99   Duration `json:"latencyP99"`
	LatencyMax   Duration `json:"latencyMax"`
}

// ServerReport is the server's resource use during the window, read from
// /proc for its process and its workers.
type ServerReport struct {
	PID              int     `json:"pid"`
	Processes        int     `json:"processes"`
	CPUSeconds       float64 `json:"cpuSeconds"`
	CPUPercent       float64 `json:"cpuPercent"` // of one core
	ForwardedPackets uint64  `json:"forwardedPackets"`
	// CPUMicrosPerPacket is server CPU time / packets received by all
	// participants during the window.
	CPUMicrosPerPacket float64 `json:"cpuMicrosPerPacket"`
	PeakRSSBytes       uint64  `json:"peakRssBytes"`
	// RSSPerParticipant is the growth of resident memory from before the
	// first join to the end, per participant.
	RSSPerParticipant uint64 `json:"rssPerParticipantBytes"`
	// The control process alone (the tree's root): its CPU in the window
	// and its resident memory's high-water mark since it started.
	ControlCPUSeconds   float64 `json:"controlCpuSeconds"`
	ControlPeakRSSBytes uint64  `json:"controlPeakRssBytes"`
}

// Duration marshals as milliseconds with microsecond precision.
type Duration time.Duration

// MarshalJSON writes milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Duration(d).Microseconds()) / 1000)
}

func (d Duration) String() string {
	return fmt.Sprintf("%.2fms", float64(time.Duration(d).Microseconds())/1000)
}

// counts is one room's (or the total's) counters at one moment.
type counts struct {
	packets, bytes, lost, bad, nacks, plis uint64
	tracks                                 int
	hist                                   client.LatencyHistogram
}

type snapshot struct {
	rooms   map[uint32]*counts
	classes map[int]*counts
	total   counts
}

func (c *counts) add(o *counts) {
	c.packets += o.packets
	c.bytes += o.bytes
	c.lost += o.lost
	c.bad += o.bad
	c.nacks += o.nacks
	c.plis += o.plis
	c.tracks += o.tracks
	c.hist.Merge(&o.hist)
}

func (r *runner) snapshot() snapshot {
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	s := snapshot{rooms: make(map[uint32]*counts), classes: make(map[int]*counts)}
	for _, p := range parts {
		rc := s.rooms[p.room]
		if rc == nil {
			rc = &counts{}
			s.rooms[p.room] = rc
		}
		p.mu.Lock()
		checkers := slices.Clone(p.checkers)
		p.mu.Unlock()
		var pc counts
		for _, ch := range checkers {
			st := ch.Stats()
			pc.packets += st.Packets
			pc.bytes += st.Bytes
			pc.lost += st.Lost
			pc.bad += st.BadMarkers
			pc.tracks++
			h := ch.Latency()
			pc.hist.Merge(&h)
		}
		for _, t := range p.tracks {
			st := t.Stats()
			pc.nacks += st.NACKs
			pc.plis += st.PLIs
		}
		for _, t := range p.sim {
			st := t.Stats()
			pc.nacks += st.NACKs
			pc.plis += st.PLIs
		}
		rc.add(&pc)
		s.total.add(&pc)
		if p.class >= 0 {
			cc := s.classes[p.class]
			if cc == nil {
				cc = &counts{}
				s.classes[p.class] = cc
			}
			cc.add(&pc)
		}
	}
	return s
}

// diff turns two snapshots into a report of the window between them.
func (r *runner) report(a, b snapshot, window time.Duration, server *ServerReport) *Report {
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	errs := slices.Clone(r.errs)
	r.mu.Unlock()
	cfg := r.cfg
	rep := &Report{
		Load: LoadSummary{
			Rooms: cfg.Rooms, Publishers: cfg.Publishers, Anchors: cfg.Anchors, Subscribers: cfg.Subscribers, Audio: cfg.Audio, Video: cfg.Video,
			Codec: cfg.Codec, VideoBitrate: cfg.VideoBitrate, FPS: cfg.FPS, AudioBitrate: cfg.AudioBitrate,
			Pacing: cfg.Pacing, Transport: cfg.Transport, Simulcast: cfg.Simulcast, Classes: cfg.Classes,
		},
		Window: Duration(window), Server: server, Errors: errs,
	}
	joins := map[uint32][]time.Duration{}
	var allJoins []time.Duration
	members := map[uint32]int{}
	for _, p := range parts {
		rep.Signaling.Events += p.events.total.Load()
		rep.Signaling.ParticipantEvents += p.events.participants.Load()
		rep.Signaling.EventsDropped += p.c.DroppedEvents()
		if p.events.ended.Load() {
			if rep.Signaling.Ended == nil {
				rep.Signaling.Ended = map[int]int{}
			}
			rep.Signaling.Ended[int(p.events.endCode.Load())]++
		}
		members[p.room]++
		if p.joinTime > 0 {
			joins[p.room] = append(joins[p.room], p.joinTime)
			allJoins = append(allJoins, p.joinTime)
		}
	}
	rooms := make([]uint32, 0, len(b.rooms))
	for room := range b.rooms {
		rooms = append(rooms, room)
	}
	slices.Sort(rooms)
	for _, room := range rooms {
		before := a.rooms[room]
		if before == nil {
			before = &counts{}
		}
		rr := roomReport(before, b.rooms[room], window, joins[room])
		rr.Room, rr.Participants = room, members[room]
		rep.Rooms = append(rep.Rooms, rr)
	}
	rep.Total = roomReport(&a.total, &b.total, window, allJoins)
	rep.Total.Participants = len(parts)
	for i, rate := range cfg.Classes {
		cr := classReport(rate, i, parts, a.classes[i], b.classes[i])
		r.mu.Lock()
		for _, dl := range r.downlinks[i] {
			cr.DownlinkDropped += dl.Stats().Dropped
		}
		r.mu.Unlock()
		rep.Classes = append(rep.Classes, cr)
	}
	return rep
}

// classReport sums up the subscribers of class i at the end of the
// window; a and b are the class's counters at its start and end.
func classReport(rate, i int, parts []*participant, a, b *counts) ClassReport {
	cr := ClassReport{DownlinkBps: rate, Layer: -1, LayerTracks: []int{}}
	var settle []time.Duration
	for _, p := range parts {
		if p.class != i {
			continue
		}
		cr.Subscribers++
		p.mu.Lock()
		video, ids := slices.Clone(p.video), slices.Clone(p.videoIDs)
		p.mu.Unlock()
		for j, ch := range video {
			st := ch.Stats()
			cr.VideoTracks++
			if j < len(ids) && p.events != nil && p.events.isPaused(ids[j]) {
				cr.Paused++
			} else if st.Layer >= 0 {
				for len(cr.LayerTracks) <= st.Layer {
					cr.LayerTracks = append(cr.LayerTracks, 0)
				}
				cr.LayerTracks[st.Layer]++
			}
			settled := st.FirstPacketAt
			if st.LayerSwitches > 0 {
				settled = st.LastSwitchAt
			}
			if !settled.IsZero() && !p.joinedAt.IsZero() {
				settle = append(settle, settled.Sub(p.joinedAt))
			}
			cr.Switches += st.LayerSwitches
			cr.BadSwitches += st.BadSwitches
			cr.SeqJumps += st.SeqJumps
			cr.SwitchGaps += st.SwitchGaps
			cr.Freezes += st.FreezesSinceSwitch
		}
	}
	for l, n := range cr.LayerTracks {
		if n > 0 && (cr.Layer < 0 || n > cr.LayerTracks[cr.Layer]) {
			cr.Layer = l
		}
	}
	cr.SettleP50, cr.SettleMax = Duration(quantile(settle, 0.5)), Duration(quantile(settle, 1))
	if a == nil {
		a = &counts{}
	}
	if b != nil {
		cr.Packets, cr.Lost = b.packets-a.packets, sub(b.lost, a.lost)
		if n := cr.Packets + cr.Lost; n > 0 {
			cr.LossPercent = 100 * float64(cr.Lost) / float64(n)
		}
	}
	return cr
}

func roomReport(a, b *counts, window time.Duration, joins []time.Duration) RoomReport {
	// Latency over the window only: subtract the histogram at its start.
	var h client.LatencyHistogram
	h.Merge(&b.hist)
	h.Subtract(&a.hist)
	rr := RoomReport{
		Joined: len(joins), Tracks: b.tracks,
		Packets: b.packets - a.packets, Bytes: b.bytes - a.bytes,
		Lost: sub(b.lost, a.lost), BadMarkers: b.bad - a.bad,
		NACKs: b.nacks - a.nacks, PLIs: b.plis - a.plis,
		LatencyP50: Duration(h.Quantile(0.50)), LatencyP95: Duration(h.Quantile(0.95)),
		LatencyP99: Duration(h.Quantile(0.99)), LatencyMax: Duration(b.hist.Max()),
	}
	rr.BitrateMbps = float64(rr.Bytes) * 8 / window.Seconds() / 1e6
	if n := rr.Packets + rr.Lost; n > 0 {
		rr.LossPercent = 100 * float64(rr.Lost) / float64(n)
	}
	rr.JoinP50, rr.JoinP99 = Duration(quantile(joins, 0.50)), Duration(quantile(joins, 0.99))
	return rr
}

func sub(b, a uint64) uint64 {
	if b < a {
		return 0
	}
	return b - a
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i, 1), len(s))-1]
}

func serverReport(pid int, base, a, b procfs.Sample, window time.Duration, packets uint64, participants int) *ServerReport {
	sr := &ServerReport{
		PID: pid, Processes: b.Processes, CPUSeconds: b.CPUSeconds - a.CPUSeconds,
		ForwardedPackets: packets, PeakRSSBytes: b.PeakRSS,
		ControlCPUSeconds: b.RootCPUSeconds - a.RootCPUSeconds, ControlPeakRSSBytes: b.RootPeakRSS,
	}
	sr.CPUPercent = 100 * sr.CPUSeconds / window.Seconds()
	if packets > 0 {
		sr.CPUMicrosPerPacket = sr.CPUSeconds * 1e6 / float64(packets)
	}
	if participants > 0 && b.RSSBytes > base.RSSBytes {
		sr.RSSPerParticipant = (b.RSSBytes - base.RSSBytes) / uint64(participants)
	}
	return sr
}

// progress writes the live line.
func (r *runner) progress(phase string) {
	if r.cfg.Progress == nil {
		return
	}
	s := r.snapshot()
	want := r.cfg.Rooms * r.cfg.perRoom()
	fmt.Fprintf(r.cfg.Progress, "\r%-9s joined %d/%d  tracks %d  rx %d pkts  lost %d  p99 %s   ",
		phase, r.joined.Load(), want, s.total.tracks, s.total.packets, s.total.lost, Duration(s.total.hist.Quantile(0.99)))
}

// WriteText prints the report for people.
func (rep *Report) WriteText(w io.Writer) {
	l := rep.Load
	pacing := "frames in bursts"
	if l.Pacing > 0 {
		pacing = fmt.Sprintf("paced at %g×", l.Pacing)
	}
	anchors := ""
	if l.Anchors > 0 {
		anchors = fmt.Sprintf(" + %d silent anchor(s)", l.Anchors)
	}
	rate := fmt.Sprintf("%d kbit/s", l.VideoBitrate/1000)
	if l.Simulcast {
		rate = "simulcast"
		for i, s := range client.DefaultSimulcastLayers() {
			sep := "/"
			if i == 0 {
				sep = " "
			}
			rate += fmt.Sprintf("%s%s=%dk", sep, s.RID, s.Bitrate/1000)
		}
	}
	fmt.Fprintf(w, "load: %d room(s) × %d publisher(s)%s + %d subscriber(s); audio=%v video=%v (%s %s @ %d fps, %s); %s; window %s\n",
		l.Rooms, l.Publishers, anchors, l.Subscribers, l.Audio, l.Video, l.Codec, rate, l.FPS, pacing,
		transportLine(l.Transport), time.Duration(rep.Window).Round(time.Millisecond))
	fmt.Fprintf(w, "%-8s %5s %9s %9s %7s %9s %8s %7s %6s %6s %9s %9s %9s\n",
		"room", "joined", "joinP50", "joinP99", "tracks", "rx Mbit/s", "packets", "lost", "nacks", "plis", "latP50", "latP95", "latP99")
	line := func(name string, r RoomReport) {
		fmt.Fprintf(w, "%-8s %5d %9s %9s %7d %9.2f %8d %7d %6d %6d %9s %9s %9s\n", name, r.Joined, r.JoinP50, r.JoinP99,
			r.Tracks, r.BitrateMbps, r.Packets, r.Lost, r.NACKs, r.PLIs, r.LatencyP50, r.LatencyP95, r.LatencyP99)
	}
	if len(rep.Rooms) <= 20 {
		for _, r := range rep.Rooms {
			line(fmt.Sprint(r.Room), r)
		}
	}
	line("total", rep.Total)
	sg := rep.Signaling
	fmt.Fprintf(w, "signaling: %d events received (%d about participants), %d dropped by the clients, %d session(s) ended by the server %v\n",
		sg.Events, sg.ParticipantEvents, sg.EventsDropped, sumValues(sg.Ended), sg.Ended)
	if s := rep.Server; s != nil {
		fmt.Fprintf(w, "server: %d process(es), %.2f CPU-s in the window (%.0f%% of a core), %d packets forwarded, %.2f µs CPU per forwarded packet, peak RSS %.1f MiB, %.0f KiB per participant\n",
			s.Processes, s.CPUSeconds, s.CPUPercent, s.ForwardedPackets, s.CPUMicrosPerPacket,
			float64(s.PeakRSSBytes)/(1<<20), float64(s.RSSPerParticipant)/1024)
		fmt.Fprintf(w, "control process: %.2f CPU-s in the window, peak RSS %.1f MiB\n",
			s.ControlCPUSeconds, float64(s.ControlPeakRSSBytes)/(1<<20))
	}
	if g := rep.Generator; g != nil {
		fmt.Fprintf(w, "generator: %.2f CPU-s in the window (%.0f%% of a core) on a %d-core machine\n",
			g.CPUSeconds, g.CPUPercent, g.Cores)
		if sat := rep.saturation(); sat >= saturated {
			fmt.Fprintf(w, "warning: this machine was %.0f%% busy with the generator and the server: loss and latency measure the machine, not the server; run the generator on another machine\n", 100*sat)
		}
	}
	if len(rep.Classes) > 0 {
		fmt.Fprintf(w, "%-10s %5s %6s %6s %-12s %6s %9s %9s %8s %6s %7s %8s %7s %7s\n",
			"downlink", "subs", "video", "layer", "tracks/layer", "paused", "settleP50", "settleMax", "switches", "bad", "jumps", "freezes", "lost", "loss%")
		for _, c := range rep.Classes {
			name := "unlimited"
			if c.DownlinkBps > 0 {
				name = fmt.Sprintf("%dk", c.DownlinkBps/1000)
			}
			fmt.Fprintf(w, "%-10s %5d %6d %6d %-12s %6d %9s %9s %8d %6d %7d %8d %7d %7.2f\n",
				name, c.Subscribers, c.VideoTracks, c.Layer, fmt.Sprint(c.LayerTracks), c.Paused, c.SettleP50, c.SettleMax,
				c.Switches, c.BadSwitches, c.SeqJumps+c.SwitchGaps, c.Freezes, c.Lost, c.LossPercent)
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintln(w, "error:", e)
	}
}

func sumValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// transportLine says how the participants reached the media.
func transportLine(t string) string {
	switch t {
	case TransportTCP:
		return "everyone over ICE-TCP"
	case TransportRelay:
		return "subscribers through the TURN relay over TCP"
	}
	return "everyone over UDP"
}
