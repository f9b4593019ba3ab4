package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// parsed is the document as generic JSON.
func parsed(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(Document(), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return doc
}

func TestVersion(t *testing.T) {
	t.Parallel()
	doc := parsed(t)
	v, _ := doc["openapi"].(string)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Fatalf("openapi %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info lacks title or version: %v", info)
	}
	for _, k := range []string{"servers", "paths", "components"} {
		if doc[k] == nil {
			t.Errorf("no %s", k)
		}
	}
}

// walk calls fn with the JSON pointer and value of every node under v.
func walk(ptr string, v any, fn func(ptr string, v any)) {
	fn(ptr, v)
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			walk(ptr+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), c, fn)
		}
	case []any:
		for i, c := range v {
			walk(ptr+"/"+itoa(i), c, fn)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// resolve follows a local JSON pointer ("#/a/b") in doc.
func resolve(doc any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Every $ref is local and resolves; every component is used.
func TestRefs(t *testing.T) {
	t.Parallel()
	doc := parsed(t)
	used := map[string]bool{}
	n := 0
	walk("#", doc, func(ptr string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return
		}
		n++
		if _, ok := resolve(doc, ref); !ok {
			t.Errorf("%s: $ref %q does not resolve", ptr, ref)
		}
		used[ref] = true
	})
	if n == 0 {
		t.Fatal("no $ref at all")
	}
	comps, _ := doc["components"].(map[string]any)
	for kind, c := range comps {
		if kind == "securitySchemes" {
			continue
		}
		for name := range c.(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never used", ref)
			}
		}
	}
}

var templateParam = regexp.MustCompile(`\{([^}]+)\}`)

// Every operation has a unique operationId, responses, known tags and
// security schemes, and declares each parameter of its path template.
func TestOperations(t *testing.T) {
	t.Parallel()
	doc := parsed(t)
	comps := doc["components"].(map[string]any)
	schemes := comps["securitySchemes"].(map[string]any)
	var tags []string
	for _, tg := range doc["tags"].([]any) {
		tags = append(tags, tg.(map[string]any)["name"].(string))
	}
	deref := func(v any) map[string]any {
		m := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			r, _ := resolve(doc, ref)
			m, _ = r.(map[string]any)
		}
		return m
	}
	ids := map[string]string{}
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	paths := doc["paths"].(map[string]any)
	for _, op := range ops {
		name := op.Method + " " + op.Path
		item := paths[op.Path].(map[string]any)
		o := item[strings.ToLower(op.Method)].(map[string]any)
		id, _ := o["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", name)
		} else if prev, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q also on %s", name, id, prev)
		}
		ids[id] = name
		if resp, _ := o["responses"].(map[string]any); len(resp) == 0 {
			t.Errorf("%s: no responses", name)
		}
		for _, tg := range o["tags"].([]any) {
			if !slices.Contains(tags, tg.(string)) {
				t.Errorf("%s: tag %q not declared", name, tg)
			}
		}
		sec, ok := o["security"].([]any)
		if !ok {
			t.Errorf("%s: no security (say [] for none)", name)
		}
		for _, req := range sec {
			for s := range req.(map[string]any) {
				if schemes[s] == nil {
					t.Errorf("%s: security scheme %q not declared", name, s)
				}
			}
		}
		declared := map[string]bool{}
		for _, ps := range [][]any{asList(item["parameters"]), asList(o["parameters"])} {
			for _, p := range ps {
				p := deref(p)
				if p["in"] == "path" {
					if p["required"] != true {
						t.Errorf("%s: path parameter %v not required", name, p["name"])
					}
					declared[p["name"].(string)] = true
				}
			}
		}
		want := map[string]bool{}
		for _, m := range templateParam.FindAllStringSubmatch(op.Path, -1) {
			want[m[1]] = true
		}
		if len(want) != len(declared) {
			t.Errorf("%s: path parameters %v declared, template has %v", name, declared, want)
		}
		for p := range want {
			if !declared[p] {
				t.Errorf("%s: {%s} not declared", name, p)
			}
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func TestHandler(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(Handler())
	defer hs.Close()
	res, err := http.Get(hs.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
	}
	if string(body) != string(document) {
		t.Fatal("the body is not the document")
	}
}

// Every path is one a router test walks: adminserver's (/v1/admin/,
// /metrics), control's (/v1/whip, /v1/whep), or this package's own.
func TestPathsAreWalked(t *testing.T) {
	t.Parallel()
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		switch {
		case strings.HasPrefix(op.Path, "/v1/admin/"), op.Path == "/metrics",
			op.Path == "/v1/whip", op.Path == "/v1/whip/{id}", op.Path == "/v1/whep", op.Path == "/v1/whep/{id}":
		case op.Path == Path && op.Method == "GET":
		default:
			t.Errorf("%s %s: no router test walks it", op.Method, op.Path)
		}
	}
}
