package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gowwan/wwan/metrics/metricstest"
)

const dashboardPath = "../hack/grafana/wwan.json"

// dashboardExprs returns every PromQL expression of the Grafana dashboard
// (panel targets, annotations, template queries).
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "expr" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(dash)
	return exprs
}

// The dashboard uses only metrics the Collector exports, and uses the
// metrics the issue asks to see at a glance.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	exported := map[string]bool{}
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, d := range newDescs(nil).all() {
		exported[re.FindStringSubmatch(d.String())[1]] = true
	}
	used := map[string]bool{}
	name := regexp.MustCompile(`\bwwan_[a-z0-9_]+`)
	exprs := dashboardExprs(t)
	if len(exprs) == 0 {
		t.Fatal("no expressions in the dashboard")
	}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			base := n
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(n, suf); ok && exported[b] {
					base = b
				}
			}
			if !exported[base] {
				t.Errorf("the dashboard uses %s, which the Collector does not export (in %q)", n, e)
			}
			used[base] = true
		}
	}
	for _, n := range []string{"wwan_signal_rssi_dbm", "wwan_signal_rsrp_dbm", "wwan_data_class", "wwan_handoffs_total",
		"wwan_handoff_duration_seconds", "wwan_mbim_transaction_duration_seconds", "wwan_mbim_transactions_total",
		"wwan_session_state", "wwan_info"} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}

// Every expression of the dashboard is valid PromQL: promtool checks them
// as recording rules, with Grafana's variables replaced.
func TestDashboardPromQL(t *testing.T) {
	promtool := metricstest.RequirePromtool(t)
	r := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	for i, e := range dashboardExprs(t) {
		if strings.HasPrefix(e, "label_values(") {
			continue // a Grafana function, not PromQL
		}
		q, err := json.Marshal(r.Replace(e))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&rules, "  - record: wwan:dashboard_%d\n    expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s\nrules:\n%s", err, out, rules.String())
	}
}
