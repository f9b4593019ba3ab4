package layout

import (
	"slices"
	"strings"
	"testing"
)

// Code that stores, verifies tokens or serves debug data. The media
// worker must not be able to reach any of it: media must never have a path
// to a disk, a database or a signing key from there. database/sql/driver
// stays allowed: it is only interfaces, and github.com/google/uuid
// (through Pion) imports it for Scanner/Valuer.
var storageAndSecrets = []string{
	"database/sql",
	"modernc.org/sqlite/...",
	module + "/store/...",
	module + "/auth/...",
	module + "/admin/...",
	module + "/adminserver/...",
	"net/http/pprof",
	"runtime/pprof",
	"expvar",
	// The metrics and Prometheus's client, which links expvar: the
	// control process serves them; the worker reports its figures over IPC.
	module + "/metrics",
	"github.com/prometheus/client_golang/...",
}

// The server's own packages: a client or a load generator a user imports
// links none of them.
var serverSide = []string{
	module + "/sfu/...",
	module + "/worker/...",
	module + "/control/...",
	module + "/store/...",
	module + "/auth/...",
	module + "/adminserver/...",
	module + "/compliance/...",
	"modernc.org/sqlite/...",
}

func TestImportRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pkg       string   // the package whose dependencies are checked
		platforms []string // "" is the host's
		banned    []string
		want      []string // dependencies that prove the list is real
	}{
		{
			name: "the media worker links no storage, secrets or debug servers",
			pkg:  module + "/worker", platforms: []string{"linux/amd64", "linux/arm64"},
			banned: append(slices.Clone(storageAndSecrets), module+"/control/...", module+"/client/...", module+"/web/..."),
			want:   []string{module + "/sfu", module + "/internal/rtpcache", module + "/compliance", "github.com/pion/webrtc/v4"},
		},
		{
			name: "the SFU links no storage, secrets or debug servers",
			pkg:  module + "/sfu", platforms: []string{"linux/amd64", "linux/arm64"},
			banned: append(slices.Clone(storageAndSecrets), module+"/signaling", module+"/worker/...", module+"/control/..."),
			want:   []string{module + "/internal/queue", "github.com/pion/webrtc/v4"},
		},
		{
			name: "the Go SDK links no server code",
			pkg:  module + "/client", platforms: []string{""},
			banned: serverSide, want: []string{module + "/signaling", "github.com/pion/webrtc/v4"},
		},
		{
			name: "the load generator links no server code",
			pkg:  module + "/loadtest", platforms: []string{""},
			banned: serverSide, want: []string{module + "/client"},
		},
		{
			name: "the control process's edge links no media code",
			pkg:  module + "/control", platforms: []string{""},
			banned: []string{module + "/sfu/...", module + "/worker/...", module + "/internal/rtpcache", module + "/internal/udpbatch"},
			want:   []string{module + "/signaling", module + "/internal/ipc"},
		},
	}
	for _, tt := range tests {
		for _, platform := range tt.platforms {
			t.Run(tt.name+"/"+strings.ReplaceAll(platform, "/", "_"), func(t *testing.T) {
				t.Parallel()
				goos, goarch, _ := strings.Cut(platform, "/")
				p := goList(t, goos, goarch, tt.pkg)[0]
				for _, d := range p.Deps {
					for _, b := range tt.banned {
						if matches(d, b) {
							t.Errorf("%s depends on %s (banned: %s)", tt.pkg, d, b)
						}
					}
				}
				for _, w := range tt.want {
					if !slices.Contains(p.Deps, w) {
						t.Errorf("%s: go list -deps misses %s; got %d packages", tt.pkg, w, len(p.Deps))
					}
				}
			})
		}
	}
}

// TestWireProtocolStandsAlone keeps signaling free of the project: every
// process, and every client, can link the protocol without anything else.
func TestWireProtocolStandsAlone(t *testing.T) {
	t.Parallel()
	p := goList(t, "", "", module+"/signaling")[0]
	for _, d := range p.Deps {
		if matches(d, module+"/...") {
			t.Errorf("signaling depends on %s", d)
		}
	}
}

// TestOnlyTheWorkerImportsTheSFU: the SFU handles media, so it runs only
// in the media worker, and the worker package is its only importer.
func TestOnlyTheWorkerImportsTheSFU(t *testing.T) {
	t.Parallel()
	n := 0
	for _, p := range goList(t, "", "", "./...") {
		n++
		if slices.Contains(p.Imports, module+"/sfu") && p.ImportPath != module+"/worker" {
			t.Errorf("%s imports sfu; only %s/worker may", p.ImportPath, module)
		}
	}
	if n < 10 {
		t.Fatalf("go list ./... found only %d packages", n)
	}
}

// TestInternalHoldsLeaves: internal/ is for leaf pieces, which import
// nothing of the project above them, so any package may use them.
func TestInternalHoldsLeaves(t *testing.T) {
	t.Parallel()
	for _, p := range goList(t, "", "", "./internal/...") {
		for _, imp := range p.Imports {
			if matches(imp, module+"/...") && !matches(imp, module+"/internal/...") {
				t.Errorf("%s imports %s: internal/ holds leaves only", p.ImportPath, imp)
			}
		}
	}
}
