package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/compliance"
)

func TestMetricsFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		f       metricsFlags
		apps    []uint32
		wantErr string
	}{
		{"defaults", metricsFlags{}, nil, ""},
		{"an address and apps", metricsFlags{listen: "127.0.0.1:9090", appLabels: "1400000001, 7"}, []uint32{1400000001, 7}, ""},
		{"no port", metricsFlags{listen: "127.0.0.1"}, nil, "--metrics-listen"},
		{"not a number", metricsFlags{appLabels: "room-1"}, nil, "not an SDKAppID"},
		{"zero", metricsFlags{appLabels: "0"}, nil, "not an SDKAppID"},
		{"too big", metricsFlags{appLabels: "4294967296"}, nil, "not an SDKAppID"},
		{"too many", metricsFlags{appLabels: strings.Repeat("1,", 33) + "1"}, nil, "at most 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("validate: %v, want %q", err, tt.wantErr)
			case tt.wantErr == "" && !slices.Equal(tt.f.apps, tt.apps):
				t.Fatalf("apps %v, want %v", tt.f.apps, tt.apps)
			}
		})
	}
}

// Every property of the public summary is a gauge, per process.
func TestLockdownProperties(t *testing.T) {
	t.Parallel()
	got := lockdownProperties(compliance.Summary{Processes: []compliance.ProcessSummary{
		{Role: "control", Enforced: true, Landlock: true},
		{Role: "worker", Index: 1, Seccomp: true, MemoryLocked: true},
	}})
	if len(got) != 2 || got[1].Role != "worker" || got[1].Index != 1 {
		t.Fatalf("processes %+v", got)
	}
	on := map[string]bool{}
	for _, p := range got[1].Properties {
		on[p.Name] = p.On
	}
	if len(on) != 8 || !on["seccomp"] || !on["memory_locked"] || on["landlock"] || on["enforced"] {
		t.Fatalf("worker properties %v", on)
	}
}
