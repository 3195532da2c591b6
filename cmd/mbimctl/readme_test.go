package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// readmeSection returns the README's "## mbimctl commands" section.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## mbimctl commands\n")
	if i < 0 {
		t.Fatal(`README.md has no "## mbimctl commands" section`)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:3+j]
	}
	return s
}

// jsonKeys collects the keys of v, recursively through objects and
// arrays.
func jsonKeys(v any, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			keys[k] = true
			jsonKeys(x, keys)
		}
	case []any:
		for _, x := range v {
			jsonKeys(x, keys)
		}
	}
}

// The README documents the JSON schema of every command: each key of every
// golden JSON output is named there, in the paragraph of its command.
func TestReadmeDocumentsTheJSON(t *testing.T) {
	section := readmeSection(t)
	// The paragraph of each command: from "**`name`**" to the next one.
	paragraphs := map[string]string{}
	for _, p := range strings.Split(section, "\n\n") {
		for _, field := range strings.Split(p, "**`")[1:] {
			name, _, _ := strings.Cut(field, "`**")
			paragraphs[name] += p
		}
	}
	golden := map[string][]string{} // command -> golden JSON files
	for _, tc := range commandCases() {
		golden[tc.args[0]] = append(golden[tc.args[0]], tc.name+".json")
	}
	golden["list"] = []string{"list.json"}
	for cmd, files := range golden {
		para, ok := paragraphs[cmd]
		if !ok {
			t.Errorf("README: no paragraph **`%s`** in the JSON schemas", cmd)
			continue
		}
		keys := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(goldenDir, commandGoldenDir, f))
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			jsonKeys(v, keys)
		}
		var missing []string
		for k := range keys {
			if !strings.Contains(para, "`"+k+"`") {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("README: the paragraph of %s does not name %s", cmd, strings.Join(missing, ", "))
		}
	}
	// watch: the keys of a line (the data are the commands').
	b, err := os.ReadFile(filepath.Join(goldenDir, commandGoldenDir, "watch.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if !strings.Contains(paragraphs["watch"], "`"+k+"`") {
				t.Errorf("README: the paragraph of watch does not name %s", k)
			}
		}
	}
	// Every command of the table is in the README's list of commands.
	for _, c := range commands {
		if c.name == "decode" || c.name == "run" || c.name == "proxy" {
			continue // documented in their own sections
		}
		if !strings.Contains(section, "| `"+c.name) && !strings.Contains(section, ", `"+c.name+"`") {
			t.Errorf("README: the table of commands lacks %s", c.name)
		}
	}
}
