// Command readme copies the runnable examples that the README files name
// into their ```go blocks (see package bench/internal/readme), so the code a
// README shows is code that compiles and runs in `make test`.
//
// Usage, from the repository root: make readme
// (or: cd bench && go run ./cmd/readme -root ..)
package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/levee-go/levee/bench/internal/readme"
)

func main() {
	root := flag.String("root", "..", "repository root")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("readme: ")
	changed, err := readme.Rewrite(*root)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range changed {
		fmt.Println("rewrote", f)
	}
	errs, err := readme.Check(*root)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range errs {
		log.Print(e)
	}
	if len(errs) > 0 {
		log.Fatalf("%d README blocks need a fix", len(errs))
	}
}
