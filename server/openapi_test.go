package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/server"
)

// openAPI is what the test reads of docs/openapi.json.
type openAPI struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas struct {
			Error struct {
				Properties struct {
					Code struct {
						Enum []string `json:"enum"`
					} `json:"code"`
				} `json:"properties"`
			} `json:"Error"`
		} `json:"schemas"`
	} `json:"components"`
}

func readOpenAPI(t *testing.T) openAPI {
	t.Helper()
	data, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	return doc
}

// documented returns the doc's operations, path -> sorted methods.
func (d openAPI) documented() map[string][]string {
	ops := map[string][]string{}
	for path, item := range d.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "head", "delete", "patch", "options":
				ops[path] = append(ops[path], strings.ToUpper(m))
			}
		}
		slices.Sort(ops[path])
	}
	return ops
}

// TestOpenAPIMatchesRoutes: docs/openapi.json documents exactly the
// handler's routes and methods, and every error code.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := readOpenAPI(t)
	routes := map[string][]string{}
	for _, r := range server.Routes() {
		path := strings.ReplaceAll(r.Pattern, "...}", "}")
		routes[path] = slices.Sorted(slices.Values(r.Methods))
	}
	if diff := cmp.Diff(routes, doc.documented()); diff != "" {
		t.Errorf("docs/openapi.json's paths differ from server.Routes (-handler +doc):\n%s", diff)
	}
	codes := []string{
		server.CodeBadNamespace, server.CodeBadKey, server.CodeBadHeader, server.CodeBadJSON, server.CodeUnknownField,
		server.CodeBadField, server.CodeBadLength, server.CodeUnauthorized, server.CodeNotFound, server.CodeNoRoute,
		server.CodeNoMetrics, server.CodeMethodNotAllowed, server.CodeTooLarge, server.CodeTooManyHints,
		server.CodeColdCorrupt, server.CodeColdFailed, server.CodeDraining, server.CodeUnavailable, server.CodeInternal,
	}
	if diff := cmp.Diff(codes, doc.Components.Schemas.Error.Properties.Code.Enum); diff != "" {
		t.Errorf("docs/openapi.json's error codes differ from the Code constants (-handler +doc):\n%s", diff)
	}
}

// TestOpenAPIRoutesAnswer: every documented operation is answered by a
// live server (neither no_route nor method_not_allowed).
func TestOpenAPIRoutesAnswer(t *testing.T) {
	n := startNode(t, nodeOptions{})
	for path, methods := range readOpenAPI(t).documented() {
		url := n.url + strings.NewReplacer("{namespace}", testNS, "{key}", hashN(1).String()).Replace(path)
		for _, m := range methods {
			var body []byte
			if m == http.MethodPost {
				body = []byte(`{"blocks":[]}`)
			}
			a := do(t, m, url, body)
			if a.status == http.StatusMethodNotAllowed || (a.status == http.StatusNotFound && strings.Contains(string(a.body), server.CodeNoRoute)) {
				t.Errorf("%s %s (documented): %d %s", m, path, a.status, a.body)
			}
		}
	}
}
