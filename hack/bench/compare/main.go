// Command compare joins libmbim and wwan benchmark results into one table.
//
// Both inputs are in Go benchmark format: the libmbim C harness
// (hack/bench/libmbim_bench.c) prints the same lines as go test -bench, so
// one parser reads both:
//
//	BenchmarkDecode/<vector name>-1  <iterations>  <ns> ns/op  [<n> allocs/op ...]
//
// A benchmark may appear on several lines (one per run, and for libmbim one
// more line with allocs/op from its allocation-counting build); each unit's
// values are collected separately and the median is shown. Rows follow the
// order of the libmbim input; wwan benchmarks with no libmbim counterpart are
// counted but not shown. The ratio is libmbim ns/op divided by wwan ns/op, so
// a ratio above 1 means wwan is faster; the geometric mean of the ratios is
// given for Decode and Encode separately.
//
// Usage:
//
//	compare -libmbim FILE -go FILE [-md FILE]
//
// The table is printed to standard output; -md also writes it as Markdown.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// result holds every value seen for one benchmark, by unit ("ns/op", ...).
type result struct {
	values map[string][]float64
}

func (r *result) median(unit string) (float64, bool) {
	if r == nil || len(r.values[unit]) == 0 {
		return 0, false
	}
	v := slices.Clone(r.values[unit])
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2], true
	}
	return (v[n/2-1] + v[n/2]) / 2, true
}

func (r *result) runs(unit string) int {
	if r == nil {
		return 0
	}
	return len(r.values[unit])
}

// benchSet is one parsed input file.
type benchSet struct {
	results map[string]*result // key: name without "Benchmark" and "-N"
	order   []string           // first-seen order of keys
	notes   []string           // "# skipped ..." comment lines
	env     []string           // environment lines (libmbim version, cpu, ...)
}

// procsSuffix is the "-N" GOMAXPROCS suffix go test appends to names.
var procsSuffix = regexp.MustCompile(`-[0-9]+$`)

func parse(r io.Reader) (*benchSet, error) {
	s := &benchSet{results: make(map[string]*result)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	lineno := 0
	for sc.Scan() {
		lineno++
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# skipped"):
			s.notes = append(s.notes, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			continue
		case strings.HasPrefix(line, "# libmbim"):
			s.env = append(s.env, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			continue
		case strings.HasPrefix(line, "cpu:"), strings.HasPrefix(line, "goos:"), strings.HasPrefix(line, "goarch:"):
			s.env = append(s.env, line)
			continue
		case !strings.HasPrefix(line, "Benchmark"):
			continue // PASS, ok, pkg:, comments, test log output
		}
		f := strings.Fields(line)
		// Name, iterations, then value/unit pairs. A bare "BenchmarkX" line
		// (go test prints the name before a sub-benchmark's results) has no
		// iterations and is skipped.
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		res := s.results[name]
		if res == nil {
			res = &result{values: make(map[string][]float64)}
			s.results[name] = res
			s.order = append(s.order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: bad value %q: %v", lineno, f[i], err)
			}
			res.values[f[i+1]] = append(res.values[f[i+1]], v)
		}
	}
	return s, sc.Err()
}

func parseFile(path string) (*benchSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// row is one message in the table; a missing value is NaN.
type row struct {
	message               string
	libNs, wwanNs         float64
	libAllocs, wwanAllocs float64
	ratio                 float64
}

type group struct {
	kind    string // "Decode" or "Encode"
	rows    []row
	geomean float64 // NaN if no row has both sides
	paired  int     // rows that contribute to geomean
}

func get(r *result, unit string) float64 {
	if v, ok := r.median(unit); ok {
		return v
	}
	return math.NaN()
}

type report struct {
	groups      []group
	libRuns     int
	wwanRuns    int
	missingWwan []string
	wwanOnly    int
	notes       []string
	env         []string
}

func join(lib, wwan *benchSet) report {
	var rep report
	byKind := map[string]*group{}
	for _, kind := range []string{"Decode", "Encode"} {
		rep.groups = append(rep.groups, group{kind: kind})
	}
	for i := range rep.groups {
		byKind[rep.groups[i].kind] = &rep.groups[i]
	}

	for _, name := range lib.order {
		kind, msg, ok := strings.Cut(name, "/")
		g := byKind[kind]
		if !ok || g == nil {
			continue
		}
		l, w := lib.results[name], wwan.results[name]
		r := row{
			message:    msg,
			libNs:      get(l, "ns/op"),
			wwanNs:     get(w, "ns/op"),
			libAllocs:  get(l, "allocs/op"),
			wwanAllocs: get(w, "allocs/op"),
		}
		r.ratio = r.libNs / r.wwanNs // NaN if either is missing
		if w == nil {
			rep.missingWwan = append(rep.missingWwan, name)
		}
		rep.libRuns = max(rep.libRuns, l.runs("ns/op"))
		rep.wwanRuns = max(rep.wwanRuns, w.runs("ns/op"))
		g.rows = append(g.rows, r)
	}
	for _, name := range wwan.order {
		if _, ok := lib.results[name]; !ok {
			rep.wwanOnly++
		}
	}

	for i := range rep.groups {
		g := &rep.groups[i]
		sum := 0.0
		for _, r := range g.rows {
			if !math.IsNaN(r.ratio) && !math.IsInf(r.ratio, 0) && r.ratio > 0 {
				sum += math.Log(r.ratio)
				g.paired++
			}
		}
		g.geomean = math.NaN()
		if g.paired > 0 {
			g.geomean = math.Exp(sum / float64(g.paired))
		}
	}
	rep.notes = append(slices.Clone(lib.notes), wwan.notes...)
	// The libmbim input holds the same version line once per harness build.
	for _, e := range append(slices.Clone(lib.env), wwan.env...) {
		if !slices.Contains(rep.env, e) {
			rep.env = append(rep.env, e)
		}
	}
	return rep
}

const missing = "—"

func fmtNs(v float64) string {
	switch {
	case math.IsNaN(v):
		return missing
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func fmtAllocs(v float64) string {
	if math.IsNaN(v) {
		return missing
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return missing
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}

var header = []string{"message", "libmbim ns/op", "wwan ns/op", "wwan allocs/op", "libmbim allocs/op", "ratio (libmbim/wwan)"}

func cells(r row) []string {
	return []string{r.message, fmtNs(r.libNs), fmtNs(r.wwanNs), fmtAllocs(r.wwanAllocs), fmtAllocs(r.libAllocs), fmtRatio(r.ratio)}
}

func geomeanCells(g group) []string {
	label := fmt.Sprintf("geomean (%d of %d)", g.paired, len(g.rows))
	return []string{label, "", "", "", "", fmtRatio(g.geomean)}
}

func (rep report) footer() []string {
	var out []string
	if rep.libRuns > 0 || rep.wwanRuns > 0 {
		out = append(out, fmt.Sprintf("ns/op and allocs/op are medians (libmbim: %d runs, wwan: %d runs). Ratio > 1 means wwan is faster.", rep.libRuns, rep.wwanRuns))
	}
	if len(rep.missingWwan) > 0 {
		out = append(out, fmt.Sprintf("No wwan result for %d case(s): %s.", len(rep.missingWwan), strings.Join(rep.missingWwan, ", ")))
	}
	if rep.wwanOnly > 0 {
		out = append(out, fmt.Sprintf("%d wwan benchmark(s) with no libmbim counterpart are not shown.", rep.wwanOnly))
	}
	out = append(out, rep.notes...)
	return out
}

func writeText(w io.Writer, rep report) error {
	// Collect all lines first so every group shares the same column widths.
	var lines [][]string
	for i, g := range rep.groups {
		if i > 0 {
			lines = append(lines, nil)
		}
		h := slices.Clone(header)
		h[0] = g.kind
		lines = append(lines, h)
		for _, r := range g.rows {
			lines = append(lines, cells(r))
		}
		lines = append(lines, geomeanCells(g))
	}
	width := make([]int, len(header))
	for _, l := range lines {
		for i, c := range l {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		for i, c := range l {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch i {
			case 0: // message: left-aligned
				bw.WriteString(c + pad)
			default: // numbers: right-aligned
				bw.WriteString("  " + pad + c)
			}
		}
		bw.WriteString("\n")
	}
	bw.WriteString("\n")
	for _, s := range rep.footer() {
		fmt.Fprintln(bw, s)
	}
	for _, s := range rep.env {
		fmt.Fprintln(bw, s)
	}
	return bw.Flush()
}

func writeMarkdown(w io.Writer, rep report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# libmbim vs wwan: MBIM decode and encode")
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "Generated by `hack/bench/libmbim-compare.sh`.")
	for _, g := range rep.groups {
		fmt.Fprintf(bw, "\n## %s\n\n", g.kind)
		fmt.Fprintln(bw, "| "+strings.Join(header, " | ")+" |")
		fmt.Fprintln(bw, "|---|"+strings.Repeat("---:|", len(header)-1))
		for _, r := range g.rows {
			c := cells(r)
			c[0] = "`" + c[0] + "`"
			fmt.Fprintln(bw, "| "+strings.Join(c, " | ")+" |")
		}
		c := geomeanCells(g)
		c[0], c[len(c)-1] = "**"+c[0]+"**", "**"+c[len(c)-1]+"**"
		fmt.Fprintln(bw, "| "+strings.Join(c, " | ")+" |")
	}
	fmt.Fprintln(bw)
	for _, s := range rep.footer() {
		fmt.Fprintf(bw, "- %s\n", s)
	}
	if len(rep.env) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "Environment:")
		fmt.Fprintln(bw)
		for _, s := range rep.env {
			fmt.Fprintf(bw, "- %s\n", s)
		}
	}
	return bw.Flush()
}

func main() {
	libPath := flag.String("libmbim", "", "libmbim harness output (Go benchmark format)")
	goPath := flag.String("go", "", "go test -bench output for wwan")
	mdPath := flag.String("md", "", "also write the table as Markdown to this file")
	flag.Parse()
	if err := run(*libPath, *goPath, *mdPath); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func run(libPath, goPath, mdPath string) error {
	if libPath == "" || goPath == "" {
		return errors.New("usage: compare -libmbim FILE -go FILE [-md FILE]")
	}
	lib, err := parseFile(libPath)
	if err != nil {
		return err
	}
	if len(lib.order) == 0 {
		return fmt.Errorf("%s: no benchmark results", libPath)
	}
	wwan, err := parseFile(goPath)
	if err != nil {
		return err
	}
	rep := join(lib, wwan)
	if err := writeText(os.Stdout, rep); err != nil {
		return err
	}
	if mdPath != "" {
		f, err := os.Create(mdPath)
		if err != nil {
			return err
		}
		if err := writeMarkdown(f, rep); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}
