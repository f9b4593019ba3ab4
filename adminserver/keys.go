package adminserver

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpKeyList); err != nil {
		return err
	}
	keys, err := h.store.Keys(r.Context(), a.SDKAppID, h.now())
	if err != nil {
		return storeError(err, admin.CodeAppNotFound)
	}
	reply := admin.KeysJSON{Keys: make([]admin.KeyJSON, 0, len(keys))}
	for _, k := range keys {
		reply.Keys = append(reply.Keys, admin.KeyJSON{
			KID: k.ID, State: string(k.State), NotBefore: k.NotBefore.UTC(), NotAfter: k.NotAfter.UTC(),
			CreatedAt: optTime(k.CreatedAt), VerifyUntil: optTime(k.VerifyUntil),
		})
	}
	return writeJSON(w, http.StatusOK, reply)
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	k, err := h.store.RotateKey(r.Context(), a.SDKAppID, h.now())
	if err != nil {
		return storeError(err, admin.CodeAppNotFound)
	}
	state := store.KeySigning
	if a.Status != store.StatusActive {
		state = store.KeyVerifying
	}
	return writeJSON(w, http.StatusCreated, admin.KeyJSON{
		KID: k.ID, State: string(state), NotBefore: k.NotBefore.UTC(), NotAfter: k.NotAfter.UTC(),
	})
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	kid := r.PathValue("kid")
	if !auth.ValidKeyID(kid) {
		return invalid("kid must be 1-%d characters from [A-Za-z0-9_-]", admin.MaxKeyIDLen)
	}
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	if err := h.store.RevokeKey(r.Context(), a.SDKAppID, kid, h.now()); err != nil {
		return storeError(err, admin.CodeKeyNotFound)
	}
	return noContent(w)
}

func (h *handler) currentKey(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	if a.Status != store.StatusActive {
		return errorf(http.StatusConflict, admin.CodeAppNotActive, "the application is %s", a.Status)
	}
	k, err := h.signingKey(r, a)
	if err != nil {
		return err
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpKeyFetch); err != nil {
		return err
	}
	reply := admin.SecretKeyJSON{
		KID:          k.ID,
		SecretBase64: base64.StdEncoding.EncodeToString(k.Secret),
		NotBefore:    k.NotBefore.UTC(),
		NotAfter:     k.NotAfter.UTC(),
	}
	if printableASCII(k.Secret) {
		reply.Secret = string(k.Secret)
	}
	return writeJSON(w, http.StatusOK, reply)
}

// signingKey is the app's key that signs at now.
func (h *handler) signingKey(r *http.Request, a App) (auth.Key, error) {
	k, err := h.store.SigningKey(r.Context(), a.SDKAppID, h.now())
	if err != nil {
		return auth.Key{}, storeError(err, admin.CodeAppNotFound)
	}
	return k, nil
}

func printableASCII(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
