package bench

import (
	"testing"

	"github.com/levee-go/levee/bench/internal/readme"
)

// TestReadmeCode keeps every Go block of every README.md a copy of a
// runnable example, so the code the READMEs show compiles and runs.
func TestReadmeCode(t *testing.T) {
	errs, err := readme.Check("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Error(e)
	}
}
