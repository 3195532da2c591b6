package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's "Metrics" section documents every metric the Collector can
// export, and no other.
func TestREADMEDocumentsEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("no README: %v", err)
	}
	text := string(b)
	i := strings.Index(text, "\n## Metrics\n")
	if i < 0 {
		t.Fatal(`README.md has no "## Metrics" section`)
	}
	section := text[i+1:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(wwan_[a-z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	exported := map[string]bool{}
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, d := range newDescs(nil).all() {
		name := re.FindStringSubmatch(d.String())[1]
		exported[name] = true
		if !documented[name] {
			t.Errorf("%s is not in the README's metrics table", name)
		}
	}
	for name := range documented {
		if !exported[name] {
			t.Errorf("the README documents %s, which the Collector does not export", name)
		}
	}
}
