package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gowwan/wwan/mbim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	examplesDir = "../../testdata/examples"
	inputsDir   = "testdata/inputs"
	goldenDir   = "testdata/golden"
)

// readHex returns the hex digits of a .hex file: comment lines dropped,
// blanks removed.
func readHex(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		sb.WriteString(strings.Join(strings.Fields(l), ""))
	}
	return sb.String()
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := hex.DecodeString(readHex(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func exampleFile(name string) string { return filepath.Join(examplesDir, name+".hex") }
func input(name string) string       { return filepath.Join(inputsDir, name+".hex") }

// exampleArgs are the flags an example needs beyond the defaults.
var exampleArgs = map[string][]string{
	"connect-v3": {"--mbimex", "3"},
}

type goldenCase struct {
	name   string   // golden file base name
	input  string   // a .hex file fed on stdin
	args   []string // flags after "decode"
	noJSON bool     // tree form only
}

// goldenCases are every shipped example with the flags it needs, plus the
// cases that show what a flag changes.
func goldenCases(t *testing.T) []goldenCase {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.hex"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", examplesDir, err)
	}
	var cases []goldenCase
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hex")
		cases = append(cases, goldenCase{name: name, input: f, args: exampleArgs[name]})
	}
	return append(cases,
		goldenCase{name: "connect-v3.mbimex1", input: exampleFile("connect-v3"), args: []string{"--mbimex", "1"}},
		goldenCase{name: "subscriber-ready-status.redacted", input: exampleFile("subscriber-ready-status"), args: []string{"--redact"}},
		goldenCase{name: "open-done", input: input("open-done")},
		goldenCase{name: "fragments-libmbim", input: input("fragments-libmbim")},
	)
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./cmd/mbimctl -run TestGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run: go test ./cmd/mbimctl -run TestGolden -update, then review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	used := map[string]bool{}
	for _, tc := range cases {
		used[tc.name+".txt"] = true
		used[tc.name+".json"] = !tc.noJSON
	}
	// A golden file no case writes is left over from a removed case.
	stale, _ := filepath.Glob(filepath.Join(goldenDir, "*"))
	for _, f := range stale {
		if used[filepath.Base(f)] {
			continue
		}
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			continue // the goldens of other tests (commands/)
		}
		if *update {
			os.Remove(f)
		} else {
			t.Errorf("%s belongs to no test case: remove it (or run with -update)", f)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdin, err := os.ReadFile(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runCLI(t, string(stdin), append([]string{"decode"}, tc.args...)...)
			if code != exitOK || errOut != "" {
				t.Fatalf("decode %q < %s: code %d, stderr %q", tc.args, tc.input, code, errOut)
			}
			checkGolden(t, tc.name+".txt", out)
			if tc.noJSON {
				return
			}
			out, errOut, code = runCLI(t, string(stdin), append([]string{"decode", "--json"}, tc.args...)...)
			if code != exitOK || errOut != "" {
				t.Fatalf("decode --json %q < %s: code %d, stderr %q", tc.args, tc.input, code, errOut)
			}
			checkJSONLines(t, out, 1)
			checkGolden(t, tc.name+".json", out)
		})
	}
}

// checkJSONLines checks that out is n JSON objects, one per line, each with
// the header fields every message has.
func checkJSONLines(t *testing.T, out string, n int) []map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n || !strings.HasSuffix(out, "\n") {
		t.Fatalf("got %d lines of JSON, want %d:\n%s", len(lines), n, out)
	}
	var objs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line is not a JSON object: %v\n%s", err, l)
		}
		for _, k := range []string{"message_type", "message_length", "transaction_id"} {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON object lacks %q: %s", k, l)
			}
		}
		objs = append(objs, m)
	}
	return objs
}

// Every shipped example starts with a comment saying what it is, holds one
// message, and decodes without error.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.hex"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("# ")) {
			t.Errorf("%s: the first line must be a comment, \"# what it is\"", f)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".hex")
		out, _, code := runCLI(t, string(b), append([]string{"decode", "--json"}, exampleArgs[name]...)...)
		if code != exitOK {
			t.Errorf("%s: exit code %d", f, code)
			continue
		}
		m := checkJSONLines(t, out, 1)[0]
		if _, ok := m["fields"]; !ok {
			t.Errorf("%s: no typed fields decoded: %s", f, out)
		}
	}
}

// The same bytes decode the same in every tolerated spelling of hex.
func TestHexForms(t *testing.T) {
	h := readHex(t, exampleFile("device-caps"))
	want, _, code := runCLI(t, h, "decode")
	if code != exitOK {
		t.Fatalf("plain hex: exit code %d", code)
	}
	pairs := func(s, sep, prefix string) string {
		var p []string
		for i := 0; i < len(s); i += 2 {
			p = append(p, prefix+s[i:i+2])
		}
		return strings.Join(p, sep)
	}
	wrap := func(s string, n int, eol string) string {
		var l []string
		for len(s) > n {
			l, s = append(l, s[:n]), s[n:]
		}
		return strings.Join(append(l, s), eol)
	}
	stdinForms := map[string]string{
		"lower":              h,
		"upper":              strings.ToUpper(h),
		"trailing newline":   h + "\n",
		"space per byte":     pairs(h, " ", ""),
		"colon per byte":     pairs(h, ":", ""),
		"dash per byte":      pairs(h, "-", ""),
		"0x per byte":        pairs(h, " ", "0x"),
		"0X per byte":        pairs(strings.ToUpper(h), " ", "0X"),
		"0x on the string":   "0x" + h,
		"0x, upper digits":   "0x" + strings.ToUpper(h),
		"mixed case":         strings.ToUpper(h[:100]) + h[100:],
		"lines of 32":        wrap(h, 32, "\n"),
		"odd line lengths":   wrap(h, 37, "\n"),
		"CRLF":               wrap(h, 64, "\r\n") + "\r\n",
		"tabs and blanks":    "\t " + pairs(h, " \t ", "") + " \n\n",
		"comments":           "# device caps\n  # indented comment\n" + wrap(h, 64, "\n# between lines\n") + "\n# the end",
		"words":              strings.Join(strings.Fields(wrap(h, 8, " ")), " "),
		"wireshark-ish":      wrap(pairs(h, " ", ""), 48, "\n"),
		"separators mixed":   pairs(h[:40], ":", "") + "-" + pairs(h[40:], " ", "0x"),
		"blank lines around": "\n\n" + h + "\n\n",
	}
	for name, in := range stdinForms {
		got, errOut, code := runCLI(t, in, "decode")
		if code != exitOK || got != want {
			t.Errorf("stdin %s: code %d, stderr %q, output:\n%s", name, code, errOut, got)
		}
	}
	argForms := map[string][]string{
		"one argument":       {h},
		"0x argument":        {"0x" + h},
		"argument per byte":  strings.Fields(pairs(h, " ", "")),
		"0x per argument":    strings.Fields(pairs(h, " ", "0x")),
		"split mid-byte":     {h[:31], h[31:]},
		"multi-line arg":     {wrap(h, 50, "\n")},
		"comment in an arg":  {"# caps\n" + h},
		"colons in args":     {pairs(h[:60], ":", ""), pairs(h[60:], ":", "")},
		"empty args between": {h[:20], "", " ", h[20:]},
	}
	for name, args := range argForms {
		got, errOut, code := runCLI(t, "", append([]string{"decode"}, args...)...)
		if code != exitOK || got != want {
			t.Errorf("arguments %s: code %d, stderr %q, output:\n%s", name, code, errOut, got)
		}
	}
	// With arguments, standard input is not read.
	got, _, code := runCLI(t, "zz not hex", "decode", h)
	if code != exitOK || got != want {
		t.Errorf("arguments with stdin: code %d, output:\n%s", code, got)
	}
	// Flags may come after the hex.
	got, _, code = runCLI(t, "", "decode", h, "--mbimex", "1")
	if code != exitOK || got != want {
		t.Errorf("flags after the hex: code %d, output:\n%s", code, got)
	}
}

// A stream of messages back to back, fragments included, prints one tree
// per message with a blank line between them, or one JSON line per message.
func TestStream(t *testing.T) {
	names := []string{
		input("open-done"), exampleFile("device-caps"), exampleFile("fragmented-indication"),
		exampleFile("visible-providers"), input("close-done"),
	}
	var trees []string
	var stream strings.Builder
	for _, f := range names {
		stream.WriteString(readHex(t, f))
		out, _, code := runCLI(t, readHex(t, f), "decode")
		if code != exitOK {
			t.Fatalf("%s: code %d", f, code)
		}
		trees = append(trees, out)
	}
	got, errOut, code := runCLI(t, stream.String(), "decode")
	if want := strings.Join(trees, "\n"); code != exitOK || got != want {
		t.Errorf("stream: code %d, stderr %q\ngot:\n%s\nwant:\n%s", code, errOut, got, want)
	}
	// The same with the stream cut into arguments at arbitrary points.
	s := stream.String()
	got, _, code = runCLI(t, "", "decode", s[:7], s[7:333], s[333:])
	if want := strings.Join(trees, "\n"); code != exitOK || got != want {
		t.Errorf("stream in arguments: code %d\ngot:\n%s", code, got)
	}
	out, _, code := runCLI(t, s, "decode", "--json")
	if code != exitOK {
		t.Fatalf("--json: code %d", code)
	}
	objs := checkJSONLines(t, out, len(names))
	for i, want := range []string{"OPEN_DONE", "COMMAND_DONE", "INDICATE_STATUS", "COMMAND_DONE", "CLOSE_DONE"} {
		if objs[i]["message_type"] != want {
			t.Errorf("message %d: message_type %v, want %s", i+1, objs[i]["message_type"], want)
		}
	}
}

// fragmentHex splits msg for a peer with the given limit, as a device does.
func fragmentHex(t *testing.T, msg []byte, limit int) []string {
	t.Helper()
	n, err := mbim.FragmentCount(msg, limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range n {
		f, err := mbim.AppendFragment(nil, msg, limit, i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hex.EncodeToString(f))
	}
	return out
}

func TestFragments(t *testing.T) {
	// The shipped fragmented example reassembles to the libmbim vector.
	whole, _, code := runCLI(t, readHex(t, input("stk-pac-notification")), "decode")
	if code != exitOK {
		t.Fatalf("unfragmented: code %d", code)
	}
	got, _, code := runCLI(t, readHex(t, exampleFile("fragmented-indication")), "decode")
	if code != exitOK || got != whole {
		t.Errorf("fragmented-indication.hex: code %d, output differs from the unfragmented message:\n%s\nwant:\n%s", code, got, whole)
	}

	// Every example, split at several sizes, decodes as the whole message.
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.hex"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hex")
		msg := readBytes(t, f)
		if m, err := mbim.ParseMessage(msg); err != nil || m.IsFragment() {
			continue // already fragmented
		}
		args := append([]string{"decode"}, exampleArgs[name]...)
		want, _, _ := runCLI(t, hex.EncodeToString(msg), args...)
		for _, limit := range []int{21, 24, 48, 64, 100, len(msg) - 1} {
			frags := fragmentHex(t, msg, limit)
			got, errOut, code := runCLI(t, strings.Join(frags, "\n"), args...)
			if code != exitOK || got != want {
				t.Errorf("%s in %d fragments of %d bytes: code %d, stderr %q, output:\n%s", name, len(frags), limit, code, errOut, got)
			}
		}
	}

	// A message that is not a fragment may come between two fragments: it is
	// printed first, and the fragmented message when its last fragment comes.
	frags := fragmentHex(t, readBytes(t, input("stk-pac-notification")), 48)
	openDone := readHex(t, input("open-done"))
	in := frags[0] + "\n" + openDone + "\n" + strings.Join(frags[1:], "\n")
	open, _, _ := runCLI(t, openDone, "decode")
	got, errOut, code := runCLI(t, in, "decode")
	if want := open + "\n" + whole; code != exitOK || got != want {
		t.Errorf("interleaved: code %d, stderr %q\ngot:\n%s\nwant:\n%s", code, errOut, got, want)
	}
}

// The input is read and decoded as it comes: a message is printed as soon as
// its last byte has been read, before the rest of the input exists.
func TestPrintAsYouGo(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run([]string{"decode"}, inR, outW, &errOut)
		outW.Close()
		done <- code
	}()
	lines := make(chan string)
	go func() {
		r := bufio.NewReader(outR)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- l
		}
	}()
	write := func(s string) {
		if _, err := io.WriteString(inW, s); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(prefix string) {
		t.Helper()
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("got line %q, want %q...", l, prefix)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no output %q... while the input is still open", prefix)
		}
	}
	write(readHex(t, input("open-done")) + "\n")
	expect("OPEN_DONE (16 bytes")
	expect("  status: ")
	write(readHex(t, input("close-done"))[:10] + "\n") // half a message
	write(readHex(t, input("close-done"))[10:] + "\n")
	expect("\n")
	expect("CLOSE_DONE (16 bytes")
	expect("  status: ")
	write("0100 zz\n")
	inW.Close()
	for l := range lines {
		t.Errorf("unexpected output after the error: %q", l)
	}
	if code := <-done; code != exitMalformed {
		t.Errorf("exit code %d, want %d", code, exitMalformed)
	}
	if want := "mbimctl: decode: bad character 'z' at line 4, column 6: want hex digits, optionally separated by blanks, ':' or '-'\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}

// Reading standard input a byte at a time gives the same result.
func TestOneByteReader(t *testing.T) {
	in := readHex(t, input("open-done")) + "\n" + readHex(t, exampleFile("fragmented-indication")) + "\n"
	want, _, _ := runCLI(t, in, "decode")
	var out, errOut bytes.Buffer
	code := run([]string{"decode"}, iotest.OneByteReader(strings.NewReader(in)), &out, &errOut)
	if code != exitOK || out.String() != want {
		t.Errorf("code %d, stderr %q, output:\n%s", code, errOut.String(), out.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteError(t *testing.T) {
	var errOut bytes.Buffer
	code := run([]string{"decode", readHex(t, input("open-done"))}, strings.NewReader(""), failingWriter{}, &errOut)
	if code != exitOther || !strings.Contains(errOut.String(), "broken pipe") {
		t.Errorf("code %d, stderr %q; want %d and the write error", code, errOut.String(), exitOther)
	}
}

func TestErrors(t *testing.T) {
	openDone := readHex(t, input("open-done"))
	caps := readHex(t, exampleFile("device-caps"))
	overflow := readHex(t, input("visible-providers-overflow"))
	stk := readBytes(t, input("stk-pac-notification"))
	stkFrags := fragmentHex(t, stk, 48)
	libFrags := fragmentHex(t, readBytes(t, input("fragments-libmbim")), 28)

	// A fragmented message whose body is malformed: the error names the
	// byte in the input, inside the fragment that holds it.
	ovFrags := fragmentHex(t, readBytes(t, input("visible-providers-overflow")), 64)
	ovStream, _ := hex.DecodeString(strings.Join(ovFrags, ""))
	ovMsg := readBytes(t, input("visible-providers-overflow"))
	// The whole message's error is at byte 68; with 44 payload bytes per
	// fragment, that byte is 4 bytes into fragment 2's payload.
	if !bytes.Equal(ovStream[64+20+4:64+20+8], ovMsg[68:72]) {
		t.Fatalf("test setup: byte 88 of the fragments is not byte 68 of the message")
	}

	const hexHint = ": want hex digits, optionally separated by blanks, ':' or '-'"
	for _, tc := range []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStderr string // exact
		wantStdout string // exact; "-" means the tree of openDone
	}{
		{
			name: "odd hex length", args: []string{"decode", "0100008010000000010000000000000"},
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: odd number of hex digits (31): the last digit, '0' at argument 1, column 31, has no pair\n",
		},
		{
			name: "odd hex length on stdin", stdin: "# c\n01000080 10000000\n01000000 0000000\n", args: []string{"decode"},
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: odd number of hex digits (31): the last digit, '0' at line 3, column 16, has no pair\n",
		},
		{
			name: "odd hex after a message", args: []string{"decode", openDone, "a"},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: odd number of hex digits (33): the last digit, 'a' at argument 2, column 1, has no pair\n",
		},
		{
			name: "bad character in an argument", args: []string{"decode", "01000080", "1000000g"},
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: bad character 'g' at argument 2, column 8" + hexHint + "\n",
		},
		{
			name: "bad character on stdin", args: []string{"decode"}, stdin: "01000080\n10000000 01000000 0000zz00\n",
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: bad character 'z' at line 2, column 23" + hexHint + "\n",
		},
		{
			name: "bad character after a message", args: []string{"decode"}, stdin: openDone + "\n01,02\n",
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: bad character ',' at line 2, column 3" + hexHint + "\n",
		},
		{
			name: "bad character in the same line as a message", args: []string{"decode", openDone + " 0x01 x"},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: bad character 'x' at argument 1, column 39" + hexHint + "\n",
		},
		{
			name: "0x inside a run of digits", args: []string{"decode", "00x1"},
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: bad character 'x' at argument 1, column 3" + hexHint + "\n",
		},
		{
			name: "non-ASCII character", args: []string{"decode", "0102\n03é"},
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: bad character 'é' at argument 1, line 2, column 3" + hexHint + "\n",
		},
		{
			name: "invalid UTF-8", args: []string{"decode"}, stdin: "01\xff",
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: bad character byte 0xff at line 1, column 3" + hexHint + "\n",
		},
		{
			name: "trailing comment on a hex line", args: []string{"decode"}, stdin: openDone + " # open done\n",
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: bad character '#' at line 1, column 34" + hexHint + "\n",
		},
		{
			name: "empty input", args: []string{"decode"}, stdin: "",
			wantCode: exitMalformed, wantStderr: "mbimctl: decode: no hex digits in the input\n",
		},
		{
			name: "only comments", args: []string{"decode"}, stdin: "# nothing\n\n",
			wantCode: exitMalformed, wantStderr: "mbimctl: decode: no hex digits in the input\n",
		},
		{
			name: "truncated header", args: []string{"decode", openDone, "03000080"},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 2 at byte 16: incomplete message: 4 bytes, need 12\n",
		},
		{
			name: "truncated message", args: []string{"decode", openDone, caps[:100]},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 2 at byte 16: incomplete message: 50 bytes, need 208\n",
		},
		{
			name: "bytes after the declared length", args: []string{"decode", "--mbimex", "1"}, stdin: readHex(t, input("connect-v3-declared-lengths")),
			wantCode:   exitMalformed,
			wantStdout: "", // checked below: the 130-byte message decodes, 2 bytes are left
			wantStderr: "mbimctl: decode: message 2 at byte 130: incomplete message: 2 bytes, need 12\n",
		},
		{
			name: "malformed framing", args: []string{"decode", openDone, readHex(t, input("buffer-length-exceeds-message"))},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 2 at byte 16: information_buffer_length at byte 60: malformed message\n",
		},
		{
			name: "unknown message type", args: []string{"decode", openDone, readHex(t, input("unknown-message-type"))},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 2 at byte 16: message_type at byte 16: unknown message type\n",
		},
		{
			name: "malformed body", args: []string{"decode", openDone, overflow},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 2 at byte 16: providers[0].provider_id at byte 84: field out of bounds\n",
		},
		{
			name: "declared lengths cut a TLV", args: []string{"decode", "--mbimex", "3", readHex(t, input("connect-v3-declared-lengths"))},
			wantCode: exitMalformed,
			// The field path is the mbim package's.
			wantStderr: "mbimctl: decode: message 1 at byte 0: unnamed_ies at byte 112: field out of bounds\n",
		},
		{
			name: "malformed body of a reassembled message", args: []string{"decode", openDone, strings.Join(ovFrags, "")},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: fmt.Sprintf("mbimctl: decode: message 2 at byte 16 (reassembled from messages 2-%d): providers[0].provider_id at byte %d: field out of bounds\n",
				1+len(ovFrags), 16+64+20+4),
		},
		{
			name: "missing fragment", args: []string{"decode", openDone, stkFrags[0], stkFrags[2]},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 3 at byte 64: fragmented INDICATE_STATUS (transaction 2): FRAGMENT_OUT_OF_SEQUENCE: fragment_current at byte 80: malformed message\n",
		},
		{
			name: "fragment without its first", args: []string{"decode", libFrags[1]},
			wantCode:   exitMalformed,
			wantStderr: "mbimctl: decode: message 1 at byte 0: fragmented INDICATE_STATUS (transaction 1): FRAGMENT_OUT_OF_SEQUENCE: fragment_current at byte 16: malformed message\n",
		},
		{
			name: "input ends inside a fragmented message", args: []string{"decode", openDone, stkFrags[0], stkFrags[1]},
			wantCode: exitMalformed, wantStdout: "-",
			wantStderr: "mbimctl: decode: message 2 at byte 16: incomplete fragmented message (transaction 2): the input ends after fragment 2 of 3\n",
		},
		{name: "bad --mbimex 4", args: []string{"decode", "--mbimex", "4", openDone}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: invalid value \"4\" for flag -mbimex: want 1, 2 or 3 (or 1.0, 2.0, 3.0)\nRun 'mbimctl help decode' for usage.\n"},
		{name: "bad --mbimex 0", args: []string{"decode", "--mbimex=0", openDone}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: invalid value \"0\" for flag -mbimex: want 1, 2 or 3 (or 1.0, 2.0, 3.0)\nRun 'mbimctl help decode' for usage.\n"},
		{name: "bad --mbimex 1.5", args: []string{"decode", "--mbimex=1.5", openDone}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: invalid value \"1.5\" for flag -mbimex: want 1, 2 or 3 (or 1.0, 2.0, 3.0)\nRun 'mbimctl help decode' for usage.\n"},
		{name: "bad --mbimex v3", args: []string{"decode", "--mbimex", "v3", openDone}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: invalid value \"v3\" for flag -mbimex: want 1, 2 or 3 (or 1.0, 2.0, 3.0)\nRun 'mbimctl help decode' for usage.\n"},
		{name: "empty --mbimex", args: []string{"decode", "--mbimex=", openDone}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: invalid value \"\" for flag -mbimex: want 1, 2 or 3 (or 1.0, 2.0, 3.0)\nRun 'mbimctl help decode' for usage.\n"},
		{name: "--mbimex without a value", args: []string{"decode", "--mbimex"}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: flag needs an argument: -mbimex\nRun 'mbimctl help decode' for usage.\n"},
		{name: "unknown flag", args: []string{"decode", "--bogus", openDone}, wantCode: exitUsage,
			wantStderr: "mbimctl: decode: flag provided but not defined: -bogus\nRun 'mbimctl help decode' for usage.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if errOut != tc.wantStderr {
				t.Errorf("stderr:\n%q\nwant:\n%q", errOut, tc.wantStderr)
			}
			wantOut := tc.wantStdout
			if wantOut == "-" {
				wantOut, _, _ = runCLI(t, "", "decode", openDone)
			}
			if tc.name == "bytes after the declared length" {
				if !strings.HasPrefix(out, "COMMAND_DONE (130 bytes") {
					t.Errorf("stdout %q, want the 130-byte message", out)
				}
				return
			}
			if out != wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, wantOut)
			}
		})
	}
}

// Every accepted spelling of the MBIMEx version selects the same layouts.
func TestMBIMExVersions(t *testing.T) {
	h := readHex(t, exampleFile("connect-v3"))
	for _, tc := range []struct {
		values []string
		layout string
	}{
		{[]string{"", "1", "1.0"}, "ConnectInfo"},
		{[]string{"2", "2.0"}, "ConnectInfo"},
		{[]string{"3", "3.0"}, "ConnectInfoV3"},
	} {
		for _, v := range tc.values {
			args := []string{"decode", "--json", h}
			if v != "" {
				args = append(args, "--mbimex="+v)
			}
			out, errOut, code := runCLI(t, "", args...)
			if code != exitOK {
				t.Errorf("--mbimex %q: code %d, stderr %q", v, code, errOut)
				continue
			}
			m := checkJSONLines(t, out, 1)[0]
			if m["layout"] != tc.layout {
				t.Errorf("--mbimex %q: layout %v, want %s", v, m["layout"], tc.layout)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	h := readHex(t, exampleFile("subscriber-ready-status"))
	plain, _, _ := runCLI(t, h, "decode")
	red, _, code := runCLI(t, h, "decode", "--redact")
	if code != exitOK {
		t.Fatalf("code %d", code)
	}
	for _, secret := range []string{"310410000110761", "89010104054601100612", "11111111111"} {
		if !strings.Contains(plain, secret) {
			t.Errorf("without --redact the output lacks %s", secret)
		}
		if strings.Contains(red, secret) {
			t.Errorf("with --redact the output shows %s:\n%s", secret, red)
		}
	}
}
