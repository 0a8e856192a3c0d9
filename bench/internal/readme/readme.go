// Package readme keeps the Go code in levee's README files compiled: every
// ```go block of a README.md must be the body of a runnable Example
// function, named by a marker on the line before the block:
//
//	<!-- example: breaker/example_test.go ExampleTransport -->
//
// The path is relative to the repository root. The block holds the
// function's body dedented by one tab, without its "// Output:" comment and
// what follows it. [Check] reports every block that is unmarked or differs
// from its example; [Rewrite] copies the examples into the blocks.
package readme

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var marker = regexp.MustCompile(`^<!--\s*example:\s*(\S+)\s+(Example\w*)\s*-->\s*$`)

// Block is one ```go block of a README.
type Block struct {
	File       string // README path, relative to the root
	Line       int    // 1-based line of the opening fence
	Source     string // example file named by the marker, relative to the root; "" when unmarked
	Example    string // example function named by the marker
	Body       string // the block's text, without the fences
	start, end int    // line indexes (0-based) of the body: [start, end)
}

// Readmes lists the README.md files under root, skipping hidden directories
// and testdata.
func Readmes(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "README.md" {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// Blocks returns the ```go blocks of one README.
func Blocks(root, readme string) ([]Block, error) {
	data, err := os.ReadFile(readme)
	if err != nil {
		return nil, err
	}
	rel, _ := filepath.Rel(root, readme)
	lines := strings.Split(string(data), "\n")
	var out []Block
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		b := Block{File: rel, Line: i + 1, start: i + 1}
		if i > 0 {
			if m := marker.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				b.Source, b.Example = m[1], m[2]
			}
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		if j == len(lines) {
			return nil, fmt.Errorf("%s:%d: ```go block is never closed", rel, i+1)
		}
		b.end = j
		b.Body = strings.Join(lines[b.start:b.end], "\n")
		out = append(out, b)
		i = j
	}
	return out, nil
}

// ExampleBody returns the body of the function name in the Go file path, as
// a README block shows it.
func ExampleBody(path, name string) (string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || fn.Name.Name != name || fn.Body == nil {
			continue
		}
		body := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		var keep []string
		for _, l := range strings.Split(body, "\n") {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "// Output:") || strings.HasPrefix(t, "// Unordered output:") {
				break
			}
			keep = append(keep, strings.TrimPrefix(l, "\t"))
		}
		for len(keep) > 0 && strings.TrimSpace(keep[0]) == "" {
			keep = keep[1:]
		}
		for len(keep) > 0 && strings.TrimSpace(keep[len(keep)-1]) == "" {
			keep = keep[:len(keep)-1]
		}
		return strings.Join(keep, "\n"), nil
	}
	return "", fmt.Errorf("%s: no function %s", path, name)
}

// Check returns one error per README block under root that has no marker,
// names a missing example, or differs from its example.
func Check(root string) ([]error, error) {
	files, err := Readmes(root)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, f := range files {
		blocks, err := Blocks(root, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, b := range blocks {
			if b.Source == "" {
				errs = append(errs, fmt.Errorf("%s:%d: ```go block without an <!-- example: path ExampleName --> marker on the line before", b.File, b.Line))
				continue
			}
			want, err := ExampleBody(filepath.Join(root, b.Source), b.Example)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %v", b.File, b.Line, err))
				continue
			}
			if b.Body != want {
				errs = append(errs, fmt.Errorf("%s:%d: block differs from %s %s (run `make readme`):\n--- README\n%s\n--- example\n%s", b.File, b.Line, b.Source, b.Example, b.Body, want))
			}
		}
	}
	return errs, nil
}

// Rewrite copies each marked block's example into it, in every README
// under root, and returns the READMEs it changed.
func Rewrite(root string) ([]string, error) {
	files, err := Readmes(root)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, f := range files {
		blocks, err := Blocks(root, f)
		if err != nil {
			return changed, err
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return changed, err
		}
		lines := strings.Split(string(data), "\n")
		var out []string
		next := 0
		for _, b := range blocks {
			if b.Source == "" {
				continue
			}
			want, err := ExampleBody(filepath.Join(root, b.Source), b.Example)
			if err != nil {
				return changed, fmt.Errorf("%s:%d: %v", b.File, b.Line, err)
			}
			out = append(out, lines[next:b.start]...)
			out = append(out, strings.Split(want, "\n")...)
			next = b.end
		}
		out = append(out, lines[next:]...)
		res := []byte(strings.Join(out, "\n"))
		if !bytes.Equal(res, data) {
			if err := os.WriteFile(f, res, 0o644); err != nil {
				return changed, err
			}
			changed = append(changed, f)
		}
	}
	return changed, nil
}
