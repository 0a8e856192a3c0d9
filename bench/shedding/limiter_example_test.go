package shedding_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/levee-go/levee/breaker"
	"github.com/levee-go/levee/shedding"
)

// The Elasticsearch client behind an adaptive concurrency limit and a
// breaker, one of each per node: the limit keeps a flood from queueing up
// in the cluster, the breaker stops calls to a node that fails. The limit
// goes outermost, so that its rejections never count as the node's
// failures.
func Example_elasticsearchLimiter() {
	node := newLimiterSearchNode()
	defer node.Close()

	// The two parts elasticsearch.NewClient is made of; with NewClient, set
	// the same Transport and RetryOnError in elasticsearch.Config.
	u, _ := url.Parse(node.URL)
	tp, err := elastictransport.New(elastictransport.Config{
		URLs:      []*url.URL{u},
		Transport: shedding.Transport(breaker.Transport(http.DefaultTransport)),
		RetryOnError: func(_ *http.Request, err error) bool { // rejections fail fast
			return !errors.Is(err, shedding.ErrLimited) && !errors.Is(err, breaker.ErrServiceUnavailable)
		},
	})
	if err != nil {
		panic(err)
	}
	es := esapi.New(tp)
	res, err := es.Search(es.Search.WithIndex("products"), es.Search.WithBody(strings.NewReader(`{"query":{"match_all":{}}}`)))
	if err != nil {
		// errors.Is(err, shedding.ErrLimited): the node's limit is full, nothing was sent
		panic(err)
	}
	defer res.Body.Close()
	fmt.Println(res.StatusCode)
	// Output: 200
}

func newLimiterSearchNode() *httptest.Server {
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
