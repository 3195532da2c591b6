// Package metricstest has helpers for tests that scrape a wwan /metrics
// endpoint: Scrape fetches the exposition text over HTTP, and
// CheckWithPromtool runs Prometheus' own linter, `promtool check metrics`,
// on it. Debian's prometheus package ships promtool; a test that needs it
// is skipped, saying so, when it is not installed.
package metricstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Promtool is the command CheckWithPromtool runs.
const Promtool = "promtool"

// PromtoolPath returns the path of promtool, or "" when it is not on
// PATH.
func PromtoolPath() string {
	p, err := exec.LookPath(Promtool)
	if err != nil {
		return ""
	}
	return p
}

// RequirePromtool skips the test when promtool is not installed, and
// returns its path.
func RequirePromtool(t testing.TB) string {
	t.Helper()
	p := PromtoolPath()
	if p == "" {
		t.Skip("promtool is not installed (Debian: apt-get install prometheus); skipping the rest of this test, which needs it")
	}
	return p
}

// CheckWithPromtool runs `promtool check metrics` on body (Prometheus
// text exposition format) and fails the test with promtool's findings when
// it reports any. It skips the test when promtool is not installed, so
// call it after the test's other checks.
func CheckWithPromtool(t testing.TB, body []byte) {
	t.Helper()
	if err := Check(RequirePromtool(t), body); err != nil {
		t.Errorf("%v\nthe exposition text was:\n%s", err, body)
	}
}

// Check runs promtool (a path from PromtoolPath) on body and returns an
// error carrying its findings, or nil when it has none.
func Check(promtool string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("promtool check metrics: exit status %d:\n%s", ee.ExitCode(), out)
		}
		return fmt.Errorf("promtool check metrics: %w", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return errors.New("promtool check metrics:\n" + s)
	}
	return nil
}

// Scrape GETs url as Prometheus does without protocol negotiation and
// returns the body, failing the test unless the answer is 200 with the
// text exposition format.
func Scrape(t testing.TB, url string) []byte {
	t.Helper()
	body, err := ScrapeErr(url)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// ScrapeErr is Scrape returning an error instead of failing a test.
func ScrapeErr(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, body)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "text/plain" {
		return body, fmt.Errorf("scrape %s: Content-Type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	return body, nil
}
