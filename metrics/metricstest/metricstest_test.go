package metricstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	promtool := RequirePromtool(t)
	good := "# HELP wwan_x_total A thing.\n# TYPE wwan_x_total counter\nwwan_x_total 1\n"
	if err := Check(promtool, []byte(good)); err != nil {
		t.Errorf("good text: %v", err)
	}
	bad := "# HELP wwan_x A thing.\n# TYPE wwan_x counter\nwwan_x 1\n"
	if err := Check(promtool, []byte(bad)); err == nil || !strings.Contains(err.Error(), "_total") {
		t.Errorf("a counter without _total: %v, want promtool's finding", err)
	}
}

func TestScrapeErr(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = w.Write([]byte("up 1\n"))
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if b, err := ScrapeErr(srv.URL + "/metrics"); err != nil || string(b) != "up 1\n" {
		t.Errorf("scrape: %q, %v", b, err)
	}
	if _, err := ScrapeErr(srv.URL + "/json"); err == nil {
		t.Error("a JSON answer passed")
	}
	if _, err := ScrapeErr(srv.URL + "/nothing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
}
