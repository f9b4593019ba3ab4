package worker

import (
	"encoding/json"
	"testing"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/signaling"
)

// A stats answer carries the media figures when the host has a source of
// them, and none otherwise (the runtime figures alone).
func TestHostStatsMedia(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts []HostOption
		want *signaling.MediaStats
	}{
		{"no source", nil, nil},
		{"a source", []HostOption{WithMediaStats(func() signaling.MediaStats {
			return signaling.MediaStats{Rooms: 2, PacketsIn: 7, Dropped: make([]uint64, len(signaling.DropReasons))}
		})}, &signaling.MediaStats{Rooms: 2, PacketsIn: 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			join, _ := fakeJoin(nil)
			h := newHostHarness(t, join, tt.opts...)
			h.sendFrame(t, ipc.OpStats, 0, signaling.StatsRequest{})
			f := h.next(t)
			if f.Op != ipc.OpStats {
				t.Fatalf("frame %s, want stats", f.Op)
			}
			var st signaling.Stats
			if err := json.Unmarshal(f.Data, &st); err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && st.Media != nil:
				t.Errorf("media %+v without a source", st.Media)
			case tt.want != nil && (st.Media == nil || st.Media.Rooms != tt.want.Rooms || st.Media.PacketsIn != tt.want.PacketsIn ||
				len(st.Media.Dropped) != len(signaling.DropReasons)):
				t.Errorf("media %+v, want %+v", st.Media, tt.want)
			}
		})
	}
}
