// Command gen writes the typed MBIM code of package mbim from the service
// specifications in hack/spec (see hack/spec/README.md).
//
//	go run ./hack/gen [-spec hack/spec] [-out mbim]
//
// The output is deterministic (no timestamps, sorted input), gofmt'd, and
// headed with the standard "Code generated" line. With -check it writes
// nothing and fails when a committed file differs from what it would write.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	specDir := flag.String("spec", "hack/spec", "folder of *.spec files")
	outDir := flag.String("out", "mbim", "package folder to write zz_*.go into")
	check := flag.Bool("check", false, "write nothing; fail if the committed files are stale")
	flag.Parse()
	if err := run(*specDir, *outDir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(specDir, outDir string, check bool) error {
	m, err := load(specDir)
	if err != nil {
		return err
	}
	out := map[string][]byte{}
	for _, f := range m.files {
		src, err := gofmt(m.emitFile(f))
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		out["zz_"+strings.ReplaceAll(f.name, "-", "_")+".go"] = src
	}
	src, err := gofmt(m.emitTables())
	if err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	out["zz_tables.go"] = src

	// Remove generated files that no longer have a spec.
	old, _ := filepath.Glob(filepath.Join(outDir, "zz_*.go"))
	var stale []string
	for _, p := range old {
		if _, keep := out[filepath.Base(p)]; !keep {
			stale = append(stale, p)
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	if check {
		var diffs []string
		for _, n := range names {
			cur, err := os.ReadFile(filepath.Join(outDir, n))
			if err != nil || !bytes.Equal(cur, out[n]) {
				diffs = append(diffs, n)
			}
		}
		diffs = append(diffs, stale...)
		if len(diffs) > 0 {
			return fmt.Errorf("generated code is stale (run go generate ./mbim): %s", strings.Join(diffs, ", "))
		}
		return nil
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(outDir, n), out[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func gofmt(src []byte) ([]byte, error) {
	out, err := format.Source(src)
	if err != nil {
		// Show the broken source with line numbers: this is a generator bug.
		var b strings.Builder
		for i, l := range strings.Split(string(src), "\n") {
			fmt.Fprintf(&b, "%5d  %s\n", i+1, l)
		}
		return nil, fmt.Errorf("%w\n%s", err, b.String())
	}
	return out, nil
}
