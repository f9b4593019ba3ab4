package adminserver

import (
	"errors"
	"net/http"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
)

// terminateApp ends the application's life: terminated (final), keys
// deleted at once, purge scheduled (app.terminate, logged by the store).
// Terminating a terminated app changes nothing, or brings its purge
// earlier; never later.
func (h *handler) terminateApp(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	a, err = h.store.TerminateApp(r.Context(), a.SDKAppID, h.now())
	if err != nil {
		return appStoreError(err)
	}
	return writeJSON(w, http.StatusOK, toAppJSON(a))
}

// deleteApp deletes the application on request: terminated if it was not,
// then purged at once with its keys and log, and the WAL checkpointed.
func (h *handler) deleteApp(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	switch err := h.store.RequestDeletion(r.Context(), a.SDKAppID, h.now()); {
	case err == nil:
		return writeJSON(w, http.StatusOK, admin.DeletionJSON{Deleted: true, Checkpointed: true})
	case errors.Is(err, store.ErrBusy):
		return writeJSON(w, http.StatusOK, admin.DeletionJSON{Deleted: true})
	default:
		return appStoreError(err)
	}
}

// retention reports the pending purges. It names no one application, so,
// like the list of applications, it is not in any application's log.
func (h *handler) retention(w http.ResponseWriter, r *http.Request) error {
	pending, err := h.store.PendingPurges(r.Context())
	if err != nil {
		return internal(err)
	}
	now := h.now()
	reply := admin.RetentionJSON{
		RetentionCapSeconds: int64(h.store.RetentionCap() / time.Second),
		Pending:             make([]admin.PurgeJSON, 0, len(pending)),
	}
	for _, p := range pending {
		reply.Pending = append(reply.Pending, admin.PurgeJSON{SDKAppID: p.SDKAppID, DueAt: p.DueAt.UTC()})
		if over := now.Sub(p.DueAt); over > 0 {
			reply.OldestOverdueSeconds = max(reply.OldestOverdueSeconds, int64(over/time.Second))
		}
	}
	return writeJSON(w, http.StatusOK, reply)
}
