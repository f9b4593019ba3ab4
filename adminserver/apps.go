package adminserver

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
)

// maxSeconds bounds a duration in a request before it is converted, so
// that it cannot overflow; the store's bounds are far below.
const maxSeconds = 10 * 365 * 24 * 3600

// applyPolicy returns p with the patch's fields set, checked against the
// store's bounds.
func applyPolicy(pp *admin.PolicyPatch, p Policy) (Policy, error) {
	if pp == nil {
		return p, nil
	}
	if s := pp.KeyLifetimeSeconds; s != nil {
		if *s <= 0 || *s > maxSeconds {
			return p, invalid("keyLifetimeSeconds must be %d..%d", int64(store.MinKeyLifetime/time.Second), int64(store.MaxKeyLifetime/time.Second))
		}
		p.KeyLifetime = time.Duration(*s) * time.Second
	}
	if s := pp.MaxTokenTTLSeconds; s != nil {
		if *s <= 0 || *s > maxSeconds {
			return p, invalid("maxTokenTtlSeconds must be 1..%d", int64(store.MaxMaxTokenTTL/time.Second))
		}
		p.MaxTokenTTL = time.Duration(*s) * time.Second
	}
	if s := pp.RetentionSeconds; s != nil {
		if *s <= 0 || *s > maxSeconds {
			return p, invalid("retentionSeconds must be %d..%d", int64(store.MinRetention/time.Second), int64(store.MaxRetention/time.Second))
		}
		p.Retention = time.Duration(*s) * time.Second
	}
	if pp.RequirePrivateMapKey != nil {
		p.RequirePrivateMapKey = *pp.RequirePrivateMapKey
	}
	if pp.RequireConsent != nil {
		p.RequireConsent = *pp.RequireConsent
	}
	if pp.MaxAnchorsPerRoom != nil {
		p.MaxAnchors = *pp.MaxAnchorsPerRoom
	}
	if pp.MaxParticipantsPerRoom != nil {
		p.MaxParticipants = *pp.MaxParticipantsPerRoom
	}
	if err := p.Validate(); err != nil {
		return p, invalid("%s", storeMessage(err))
	}
	return p, nil
}

// storeMessage is the text of a store validation error without its prefix.
// Store errors carry no secrets and do not echo the values they refuse.
func storeMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, store.ErrInvalid.Error()+": "); i >= 0 {
		msg = msg[i+len(store.ErrInvalid.Error())+2:]
	}
	return msg
}

func toPolicyJSON(p Policy) admin.PolicyJSON {
	if p.KeyLifetime == 0 {
		p.KeyLifetime = store.DefaultKeyLifetime
	}
	if p.MaxTokenTTL == 0 {
		p.MaxTokenTTL = store.DefaultMaxTokenTTL
	}
	if p.Retention == 0 {
		p.Retention = store.DefaultRetention
	}
	return admin.PolicyJSON{
		KeyLifetimeSeconds:     int64(p.KeyLifetime / time.Second),
		MaxTokenTTLSeconds:     int64(p.MaxTokenTTL / time.Second),
		RequirePrivateMapKey:   p.RequirePrivateMapKey,
		MaxAnchorsPerRoom:      p.MaxAnchors,
		MaxParticipantsPerRoom: p.MaxParticipants,
		RetentionSeconds:       int64(p.Retention / time.Second),
		RequireConsent:         p.RequireConsent,
	}
}

func toAppJSON(a App) admin.AppJSON {
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	j := admin.AppJSON{
		SDKAppID:  a.SDKAppID,
		Name:      a.Name,
		Tags:      tags,
		Status:    string(a.Status),
		CreatedAt: a.CreatedAt.UTC(),
		Policy:    toPolicyJSON(a.Policy),
	}
	if !a.PurgeAt.IsZero() {
		at := a.PurgeAt.UTC()
		j.PurgeAt = &at
	}
	return j
}

func (h *handler) listApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := h.store.Apps(r.Context())
	if err != nil {
		return internal(err)
	}
	reply := admin.AppsJSON{Apps: make([]admin.AppJSON, 0, len(apps))}
	for _, a := range apps {
		reply.Apps = append(reply.Apps, toAppJSON(a))
	}
	return writeJSON(w, http.StatusOK, reply)
}

func checkName(name string) error {
	if !validName(name) {
		return invalid("name must be 1-%d bytes without control characters or surrounding spaces", admin.MaxNameLen)
	}
	return nil
}

func checkTags(tags []string) error {
	if msg, ok := validTags(tags); !ok {
		return invalid("tags: %s", msg)
	}
	return nil
}

func (h *handler) createApp(w http.ResponseWriter, r *http.Request) error {
	var req admin.CreateAppRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := checkName(req.Name); err != nil {
		return err
	}
	if err := checkTags(req.Tags); err != nil {
		return err
	}
	p, err := applyPolicy(req.Policy, store.DefaultPolicy())
	if err != nil {
		return err
	}
	a, err := h.store.CreateApp(r.Context(), req.Name, req.Tags, p, h.now())
	if err != nil {
		return appStoreError(err)
	}
	infoOf(r).app = a.SDKAppID
	w.Header().Set("Location", "/v1/admin/apps/"+strconv.FormatUint(uint64(a.SDKAppID), 10))
	return writeJSON(w, http.StatusCreated, toAppJSON(a))
}

func (h *handler) getApp(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpAppGet); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.withWebhook(r, toAppJSON(a)))
}

func (h *handler) updateApp(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	var req admin.UpdateAppRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil && req.Tags == nil && req.Policy == nil && req.Webhook == nil {
		return invalid("nothing to update: give name, tags, policy and/or webhook")
	}
	u := AppUpdate{Name: req.Name, Tags: req.Tags}
	if req.Name != nil {
		if err := checkName(*req.Name); err != nil {
			return err
		}
	}
	if req.Tags != nil {
		if err := checkTags(*req.Tags); err != nil {
			return err
		}
	}
	if req.Policy != nil {
		p, err := applyPolicy(req.Policy, a.Policy)
		if err != nil {
			return err
		}
		u.Policy = &p
	}
	if req.Webhook != nil {
		wh, err := checkWebhook(*req.Webhook)
		if err != nil {
			return err
		}
		u.Webhook = &wh
	}
	a, err = h.store.UpdateApp(r.Context(), a.SDKAppID, u, h.now())
	if err != nil {
		return appStoreError(err)
	}
	return writeJSON(w, http.StatusOK, h.withWebhook(r, toAppJSON(a)))
}

func (h *handler) suspendApp(w http.ResponseWriter, r *http.Request) error {
	return h.setStatus(w, r, store.StatusSuspended)
}

func (h *handler) resumeApp(w http.ResponseWriter, r *http.Request) error {
	return h.setStatus(w, r, store.StatusActive)
}

func (h *handler) setStatus(w http.ResponseWriter, r *http.Request, status store.Status) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	a, err = h.store.SetStatus(r.Context(), a.SDKAppID, status, h.now())
	if err != nil {
		return appStoreError(err)
	}
	return writeJSON(w, http.StatusOK, toAppJSON(a))
}

// appStoreError maps a store error of an app mutation; a refused value
// keeps the store's explanation.
func appStoreError(err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return invalid("%s", storeMessage(err))
	}
	return storeError(err, admin.CodeAppNotFound)
}

func (h *handler) appLog(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	limit := admin.DefaultLogLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > admin.MaxLogLimit {
			return invalid("limit must be 1..%d", admin.MaxLogLimit)
		}
		limit = n
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpLogRead); err != nil {
		return err
	}
	entries, err := h.store.Log(r.Context(), a.SDKAppID, limit)
	if err != nil {
		return storeError(err, admin.CodeAppNotFound)
	}
	reply := admin.LogJSON{Entries: make([]admin.LogEntryJSON, 0, len(entries))}
	for _, e := range entries {
		tags := e.Tags
		if tags == nil {
			tags = []string{}
		}
		reply.Entries = append(reply.Entries, admin.LogEntryJSON{
			ID: e.ID, SDKAppID: e.SDKAppID, AppName: e.AppName, Tags: tags,
			Status: string(e.Status), CreatedAt: e.CreatedAt.UTC(), Operation: string(e.Operation),
		})
	}
	return writeJSON(w, http.StatusOK, reply)
}

// appendLog records op for application id; if it cannot, the request fails
// (and a read or a secret is not handed out unlogged).
func (h *handler) appendLog(r *http.Request, id uint32, op Operation) error {
	if err := h.store.AppendLog(r.Context(), id, op, h.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return storeError(err, admin.CodeAppNotFound)
		}
		return internal(err)
	}
	return nil
}
