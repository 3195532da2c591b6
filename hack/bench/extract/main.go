// Command extract prints the wire bytes of the libmbim test vectors as
// "name hex" lines, one vector per line, for the libmbim C benchmark harness
// (hack/bench/libmbim_bench.c), which cannot read JSON itself.
//
// When a vector has hex_lengths_fixed (its declared length fields were too
// short in the original libmbim test), that corrected form is printed instead
// of hex, so both libmbim and wwan decode the same, consistent bytes.
//
// Usage:
//
//	go run ./hack/bench/extract [-vectors testdata/libmbim-vectors.json] [name ...]
//
// With names, only those vectors are printed, in the order given, and a name
// that is not in the file is an error. Without names, every vector that has
// wire bytes is printed.
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

type vector struct {
	Name            string `json:"name"`
	Hex             string `json:"hex"`
	HexLengthsFixed string `json:"hex_lengths_fixed"`
}

func main() {
	path := flag.String("vectors", "testdata/libmbim-vectors.json", "path to the libmbim vectors JSON file")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: extract [-vectors FILE] [name ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*path, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "extract: %v\n", err)
		os.Exit(1)
	}
}

func run(path string, names []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var vectors []vector
	if err := json.Unmarshal(data, &vectors); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	byName := make(map[string]string, len(vectors))
	var order []string
	for _, v := range vectors {
		h := v.Hex
		if v.HexLengthsFixed != "" {
			h = v.HexLengthsFixed
		}
		if h == "" {
			continue // e.g. fragment-split cases carry no single message
		}
		if _, err := hex.DecodeString(h); err != nil {
			return fmt.Errorf("%s: vector %q: %w", path, v.Name, err)
		}
		if _, dup := byName[v.Name]; dup {
			return fmt.Errorf("%s: duplicate vector name %q", path, v.Name)
		}
		byName[v.Name] = h
		order = append(order, v.Name)
	}
	if len(names) == 0 {
		names = order
	}

	w := bufio.NewWriter(os.Stdout)
	for _, n := range names {
		h, ok := byName[n]
		if !ok {
			return fmt.Errorf("%s: no vector named %q", path, n)
		}
		fmt.Fprintf(w, "%s %s\n", n, h)
	}
	return w.Flush()
}
