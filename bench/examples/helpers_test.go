package examples_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newSearchNode starts a loopback server that answers like one
// Elasticsearch node: the product header elasticsearch.NewClient checks and
// a search result with one hit.
func newSearchNode() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/_search") {
			_, _ = io.WriteString(w, `{"took":1,"timed_out":false,"hits":{"total":{"value":1,"relation":"eq"},"hits":[{"_id":"1","_source":{"name":"levee"}}]}}`)
			return
		}
		_, _ = io.WriteString(w, `{"name":"es-1","version":{"number":"8.19.7"},"tagline":"You Know, for Search"}`)
	}))
}

// User and db stand in for a service's own types.
type User struct{ ID, Name string }

type database struct{}

func (database) LoadUser(_ context.Context, id string) (*User, error) {
	return &User{ID: id, Name: "Ada"}, nil
}

var db database

func score(_ context.Context, id int) (int, bool, error) { return id * 10, true, nil }
