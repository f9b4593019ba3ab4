package openapi

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// The schemas and the Go SDK's wire types (package admin, which the server
// encodes and decodes with) have the same fields: every JSON field of a
// type is a property of its schema, of a matching JSON type, and every
// property is a field; a field without omitempty in a reply is required.
func TestSchemasMatchTypes(t *testing.T) {
	t.Parallel()
	doc := parsed(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, tc := range []struct {
		schema string
		v      any
		reply  bool
	}{
		{"App", admin.AppJSON{}, true},
		{"Apps", admin.AppsJSON{}, true},
		{"Policy", admin.PolicyJSON{}, true},
		{"PolicyPatch", admin.PolicyPatch{}, false},
		{"CreateAppRequest", admin.CreateAppRequest{}, false},
		{"UpdateAppRequest", admin.UpdateAppRequest{}, false},
		{"Deletion", admin.DeletionJSON{}, true},
		{"Retention", admin.RetentionJSON{}, true},
		{"Purge", admin.PurgeJSON{}, true},
		{"Runtime", admin.RuntimeJSON{}, false}, // the per-process figures may be absent with error
		{"Log", admin.LogJSON{}, true},
		{"LogEntry", admin.LogEntryJSON{}, true},
		{"Key", admin.KeyJSON{}, true},
		{"Keys", admin.KeysJSON{}, true},
		{"SecretKey", admin.SecretKeyJSON{}, true},
		{"UserSigRequest", admin.UserSigRequest{}, false},
		{"UserSig", admin.UserSigJSON{}, true},
		{"RoomName", admin.RoomJSON{}, false},
		{"Room", admin.RoomInfoJSON{}, false}, // roomId or strRoomId: oneOf says which is required
		{"Rooms", admin.RoomsJSON{}, true},
		{"Participant", admin.ParticipantJSON{}, false}, // tracks is omitted when empty
		{"RemoveUserRequest", admin.RemoveUserRequest{}, false},
		{"BlockRequest", admin.BlockRequest{}, false},
		{"Webhook", admin.WebhookJSON{}, true},
		{"WebhookStats", admin.WebhookStatsJSON{}, true},
		{"WebhookPatch", admin.WebhookPatch{}, false},
		{"WebhookTest", admin.WebhookTestJSON{}, false},
	} {
		s, ok := schemas[tc.schema].(map[string]any)
		if !ok {
			t.Errorf("no schema %s", tc.schema)
			continue
		}
		compare(t, tc.schema, s, reflect.TypeOf(tc.v), tc.reply)
	}
}

// field is one JSON field of a struct type, embedded structs flattened.
type field struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

func fields(t reflect.Type) []field {
	var out []field
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			out = append(out, fields(f.Type)...)
			continue
		}
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, field{name, slices.Contains(strings.Split(opts, ","), "omitempty"), f.Type})
	}
	return out
}

// jsonType is the JSON Schema type t encodes as.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.Kind().String()
}

func compare(t *testing.T, name string, s map[string]any, typ reflect.Type, reply bool) {
	t.Helper()
	props, _ := s["properties"].(map[string]any)
	var required []string
	for _, r := range asList(s["required"]) {
		required = append(required, r.(string))
	}
	seen := map[string]bool{}
	for _, f := range fields(typ) {
		seen[f.name] = true
		p, ok := props[f.name].(map[string]any)
		if !ok {
			t.Errorf("%s: field %q of %s is not a property", name, f.name, typ)
			continue
		}
		if _, isRef := p["$ref"]; isRef {
			if jsonType(f.typ) != "object" {
				t.Errorf("%s.%s: a $ref for a Go %s", name, f.name, f.typ)
			}
		} else if got := p["type"]; got != jsonType(f.typ) {
			t.Errorf("%s.%s: type %v, Go %s encodes as %s", name, f.name, got, f.typ, jsonType(f.typ))
		}
		if reply && !f.omitempty && !slices.Contains(required, f.name) {
			t.Errorf("%s.%s: always sent, not required", name, f.name)
		}
		if f.omitempty && slices.Contains(required, f.name) && reply {
			t.Errorf("%s.%s: required, but omitted when empty", name, f.name)
		}
	}
	for p := range props {
		if !seen[p] {
			t.Errorf("%s: property %q is no field of %s", name, p, typ)
		}
	}
}
