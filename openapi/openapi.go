package openapi

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Path is where the document is served.
const Path = "/v1/openapi.json"

//go:embed openapi.json
var document []byte

// Document returns the document's bytes (a copy).
func Document() []byte { return slices.Clone(document) }

// Handler serves the document. It needs no credentials: it describes the
// API and holds no secret, user, room or setting of this server.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(document)
	})
}

// methods are the keys of a path item that are operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operation is one method of one path of the document.
type Operation struct {
	Method string // upper case: "GET"
	Path   string // as in the document: "/v1/admin/apps/{app}"
}

// Operations lists every path and method the document describes, sorted.
func Operations() ([]Operation, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, err
	}
	var ops []Operation
	for p, item := range doc.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				ops = append(ops, Operation{Method: strings.ToUpper(m), Path: p})
			}
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return ops, nil
}
