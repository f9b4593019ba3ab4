package adminserver

import (
	"context"
	"net/http"

	"github.com/lethe-rtc/lethe/admin"
)

// Runtime measures the server's processes for GET /v1/admin/runtime.
type Runtime interface {
	// Runtime measures; with gc, each process collects garbage first.
	Runtime(ctx context.Context, gc bool) admin.RuntimeJSON
}

func (h *handler) runtime(w http.ResponseWriter, r *http.Request) error {
	if h.rt == nil {
		return errorf(http.StatusServiceUnavailable, admin.CodeUnavailable, "runtime figures are not available")
	}
	var gc bool
	switch v := r.URL.Query().Get("gc"); v {
	case "", "0", "false":
	case "1", "true":
		gc = true
	default:
		return invalid("gc must be true or false")
	}
	rt := h.rt.Runtime(r.Context(), gc)
	if rt.Processes == nil {
		rt.Processes = []admin.ProcessJSON{}
	}
	return writeJSON(w, http.StatusOK, rt)
}
