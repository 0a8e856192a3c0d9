package readme

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleSrc = `package x_test

import "fmt"

func ExampleHello() {
	greeting := "hello"
	fmt.Println(greeting)
	// Output: hello
}
`

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckAndRewrite(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "x", "example_test.go"), exampleSrc)
	readmeText := "# x\n\n<!-- example: x/example_test.go ExampleHello -->\n```go\ngreeting := \"bye\"\n```\n\n```go\nunmarked()\n```\n"
	write(t, filepath.Join(root, "x", "README.md"), readmeText)

	errs, err := Check(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 {
		t.Fatalf("Check: %d errors, want 2 (a stale block, an unmarked one): %v", len(errs), errs)
	}
	if !strings.Contains(errs[0].Error(), "differs") || !strings.Contains(errs[1].Error(), "without an") {
		t.Errorf("Check: errors = %v", errs)
	}

	changed, err := Rewrite(root)
	if err != nil || len(changed) != 1 {
		t.Fatalf("Rewrite = %v, %v; want one README changed", changed, err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "x", "README.md"))
	want := "# x\n\n<!-- example: x/example_test.go ExampleHello -->\n```go\ngreeting := \"hello\"\nfmt.Println(greeting)\n```\n\n```go\nunmarked()\n```\n"
	if string(got) != want {
		t.Errorf("Rewrite wrote\n%s\nwant\n%s", got, want)
	}
	errs, _ = Check(root)
	if len(errs) != 1 {
		t.Errorf("Check after Rewrite: %v, want only the unmarked block", errs)
	}
}

func TestExampleBodyMissing(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "e_test.go"), exampleSrc)
	if _, err := ExampleBody(filepath.Join(root, "e_test.go"), "ExampleNope"); err == nil {
		t.Error("ExampleBody of a missing function: no error")
	}
}
