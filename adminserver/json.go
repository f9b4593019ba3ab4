package adminserver

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// decode reads r's body, at most admin.MaxBodyBytes, as exactly one JSON
// value into dst, refusing unknown fields and trailing data.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, admin.CodeUnsupportedMedia, "Content-Type must be application/json")
		}
	}
	tooLarge := errorf(http.StatusRequestEntityTooLarge, admin.CodeBodyTooLarge, "request body over %d bytes", admin.MaxBodyBytes)
	if r.ContentLength > admin.MaxBodyBytes {
		return tooLarge
	}
	body := http.MaxBytesReader(w, r.Body, admin.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// Exactly one value: anything but white space after it is an error.
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = errors.New("data after the JSON value")
			}
		}
	}
	var (
		maxErr  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &maxErr):
		return tooLarge
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, admin.CodeInvalidJSON, "empty body: a JSON object is required")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, admin.CodeUnknownField, "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return errorf(http.StatusBadRequest, admin.CodeInvalidJSON, "field %q has the wrong type", typeErr.Field)
		}
		return errorf(http.StatusBadRequest, admin.CodeInvalidJSON, "a JSON object is required")
	default:
		return errorf(http.StatusBadRequest, admin.CodeInvalidJSON, "malformed JSON")
	}
}

// setCommonHeaders: every reply is JSON that no cache may keep (some carry
// secrets or tokens).
func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return internal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// errorBody is the shape of every error reply.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	_ = writeJSON(w, e.status, errorBody{errorDetail{Code: e.code, Message: e.message}})
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// storeError maps an error of the store to a reply; notFound is the code
// for store.ErrNotFound (app_not_found or key_not_found).
func storeError(err error, notFound string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		msg := "no such application"
		if notFound == admin.CodeKeyNotFound {
			msg = "no such key in the application's key ring"
		}
		return errorf(http.StatusNotFound, notFound, "%s", msg)
	case errors.Is(err, auth.ErrUnknownApp):
		return errorf(http.StatusConflict, admin.CodeAppNotActive, "the application is not active")
	case errors.Is(err, auth.ErrUnknownKey):
		return errorf(http.StatusConflict, admin.CodeNoSigningKey, "the application has no signing key valid now")
	case errors.Is(err, store.ErrStatus):
		return errorf(http.StatusConflict, admin.CodeAppNotActive, "not allowed in the application's status")
	case errors.Is(err, store.ErrExists):
		return errorf(http.StatusConflict, admin.CodeConflict, "already exists")
	case errors.Is(err, store.ErrInvalid):
		return invalid("the store refused the value")
	default:
		return internal(err)
	}
}
