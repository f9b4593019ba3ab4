package control

import (
	"errors"
	"testing"
)

// Ready: every configured worker up and locked down, unless the operator
// allowed running without the lock-down.
func TestPoolReady(t *testing.T) {
	t.Parallel()
	locked := func() *proc { return &proc{report: []byte(`{"enforced":true}`)} }
	tests := []struct {
		name  string
		procs []*proc
		allow bool
		want  error
	}{
		{"all up", []*proc{locked(), locked()}, false, nil},
		{"one not started again", []*proc{locked(), nil}, false, ErrWorkerDown},
		{"one dead", []*proc{locked(), {dead: true, report: []byte(`{"enforced":true}`)}}, false, ErrWorkerDown},
		{"one not locked down", []*proc{{report: []byte(`{"enforced":false}`)}, locked()}, false, ErrNotLockedDown},
		{"a report that says nothing", []*proc{{report: []byte(`not json`)}}, false, ErrNotLockedDown},
		{"unenforced allowed", []*proc{{report: []byte(`{"enforced":false}`)}}, true, nil},
		{"unenforced allowed, one down", []*proc{{report: []byte(`{"enforced":false}`)}, nil}, true, ErrWorkerDown},
	}
	for _, tt := range tests {
		p := &Pool{procs: tt.procs, cfg: PoolConfig{AllowUnenforced: tt.allow}}
		if err := p.Ready(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Ready() = %v, want %v", tt.name, err, tt.want)
		}
	}
	closed := &Pool{procs: []*proc{locked()}, closed: true}
	if err := closed.Ready(); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("closed pool: %v", err)
	}
}
