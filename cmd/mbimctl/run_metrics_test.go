package main

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gowwan/wwan/metrics/metricstest"
)

// TestRunSimScrape scrapes a real `mbimctl run -d sim --metrics-listen`
// over HTTP while the simulated modem tours the technologies: the counters
// move as the tour does, and promtool accepts what is served. The daemon
// runs as a dry run so that no root is needed.
func TestRunSimScrape(t *testing.T) {
	isolateRun(t)
	ln, url := metricsListener(t)
	addr := ln.Addr().String()
	ln.Close()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		_, errOut, code := runCLI(t, "", "run", "-d", "sim", "--dry-run", "--json", "--duration", "4s",
			"--sim-step", "100ms", "--apn", "internet", "--metrics-listen", addr)
		done <- result{code, errOut}
	}()

	// Scrape until the first handoffs are counted, then again later: the
	// tour goes on, so the count must grow. Every loop is bounded.
	first, firstBody := 0.0, []byte(nil)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := metricstest.ScrapeErr(url + "/metrics"); err == nil {
			if n := sumSeries(b, "wwan_handoffs_total"); n > 0 {
				first, firstBody = n, b
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if firstBody == nil {
		t.Fatalf("no handoff counted by the daemon's /metrics within 3s")
	}
	time.Sleep(600 * time.Millisecond)
	later := metricstest.Scrape(t, url+"/metrics")
	if n := sumSeries(later, "wwan_handoffs_total"); n <= first {
		t.Errorf("wwan_handoffs_total went from %v to %v while the tour ran", first, n)
	}
	for _, want := range []string{"wwan_scrape_success 1", `wwan_session_state{state="ACTIVATED"} 1`, "wwan_info{"} {
		if !bytes.Contains(later, []byte(want)) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	r := <-done
	if r.code != exitOK {
		t.Fatalf("run exited %d: %s", r.code, r.stderr)
	}
	metricstest.CheckWithPromtool(t, later)
}

// sumSeries adds up every sample of a metric in exposition text.
func sumSeries(body []byte, name string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
