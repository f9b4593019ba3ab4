package adminserver

import (
	"context"
	"net/http"

	"github.com/lethe-rtc/lethe/admin"
)

// Runtime measures the server's processes for GET /v1/admin/runtime.
type Runtime interface {
	Runtime(ctx context.Context) admin.RuntimeJSON
}

func (h *handler) runtime(w http.ResponseWriter, r *http.Request) error {
	if h.rt == nil {
		return errorf(http.StatusServiceUnavailable, admin.CodeUnavailable, "runtime figures are not available")
	}
	rt := h.rt.Runtime(r.Context())
	if rt.Processes == nil {
		rt.Processes = []admin.ProcessJSON{}
	}
	return writeJSON(w, http.StatusOK, rt)
}
