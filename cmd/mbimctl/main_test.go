package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// runCLI runs mbimctl in-process with stdin as its standard input.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestNoArguments(t *testing.T) {
	out, errOut, code := runCLI(t, "")
	if code != exitUsage || out != "" || !strings.Contains(errOut, "Usage:") {
		t.Errorf("mbimctl: code %d, stdout %q, stderr %q; want usage on stderr, code %d", code, out, errOut, exitUsage)
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"frob"}, {"frob", "--json"}, {"--json"}, {"-x", "decode"}} {
		out, errOut, code := runCLI(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "Run 'mbimctl help'") {
			t.Errorf("mbimctl %q: code %d, stdout %q, stderr %q; want a usage error", args, code, out, errOut)
		}
	}
	_, errOut, _ := runCLI(t, "", "frob")
	if want := "mbimctl: unknown command \"frob\"\n"; !strings.HasPrefix(errOut, want) {
		t.Errorf("stderr %q, want it to start with %q", errOut, want)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}} {
		out, errOut, code := runCLI(t, "", args...)
		if code != exitOK || errOut != "" {
			t.Errorf("mbimctl %q: code %d, stderr %q", args, code, errOut)
		}
		for _, c := range commands {
			if !strings.Contains(out, "\n  "+c.name+" ") {
				t.Errorf("mbimctl %q does not list command %s:\n%s", args, c.name, out)
			}
		}
		for _, x := range exitCodeHelp {
			if !strings.Contains(out, fmt.Sprintf("  %d  %s\n", x.code, x.text)) {
				t.Errorf("mbimctl %q does not list exit code %d", args, x.code)
			}
		}
	}
}

// Every command has a usage line, a description and examples, printed the
// same way by "help <command>", "<command> --help" and "<command> -h".
func TestCommandHelp(t *testing.T) {
	for _, c := range commands {
		if c.summary == "" || c.usage == "" || strings.TrimSpace(c.desc) == "" || len(c.examples) == 0 {
			t.Errorf("command %s lacks a summary, usage, description or examples", c.name)
		}
		want, _, code := runCLI(t, "", "help", c.name)
		if code != exitOK {
			t.Fatalf("mbimctl help %s: code %d", c.name, code)
		}
		for _, part := range []string{"Usage: mbimctl " + c.usage + "\n", "\nExamples:\n", "\nFlags:\n"} {
			if !strings.Contains(want, part) {
				t.Errorf("mbimctl help %s lacks %q:\n%s", c.name, part, want)
			}
		}
		for _, x := range c.examples {
			if !strings.Contains(want, "  mbimctl "+x.cmd+"\n") {
				t.Errorf("mbimctl help %s lacks example %q", c.name, x.cmd)
			}
		}
		for _, flag := range []string{"--help", "-h", "-help"} {
			got, errOut, code := runCLI(t, "", c.name, flag)
			if code != exitOK || errOut != "" || got != want {
				t.Errorf("mbimctl %s %s: code %d, stderr %q, output differs from help %s:\n%s", c.name, flag, code, errOut, c.name, got)
			}
		}
	}
}

func TestHelpErrors(t *testing.T) {
	for _, args := range [][]string{{"help", "frob"}, {"help", "decode", "decode"}} {
		out, errOut, code := runCLI(t, "", args...)
		if code != exitUsage || out != "" || errOut == "" {
			t.Errorf("mbimctl %q: code %d, stdout %q, stderr %q; want a usage error", args, code, out, errOut)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("disk on fire"), exitOther},
		{usageError{errors.New("bad flag")}, exitUsage},
		{fmt.Errorf("opening: %w", &codedError{exitNoDevice, os.ErrNotExist}), exitNoDevice},
		{&codedError{exitTimeout, context.DeadlineExceeded}, exitTimeout},
		{&codedError{exitRefused, mbim.StatusSimNotInserted}, exitRefused},
		{&inputError{text: "bad hex"}, exitMalformed},
		{fmt.Errorf("x: %w", mbim.ErrMalformed), exitMalformed},
		{&mbim.ParseError{Field: "f", Offset: 1, Err: mbim.ErrTruncated}, exitMalformed},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// The README documents the exit codes; it must agree with the program.
func TestReadmeExitCodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, x := range exitCodeHelp {
		if !strings.Contains(readme, fmt.Sprintf("| %d | %s |", x.code, x.text)) {
			t.Errorf("README.md lacks the row \"| %d | %s |\"", x.code, x.text)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantJSON bool
		wantRest []string
	}{
		{[]string{"--json", "a", "b"}, true, []string{"a", "b"}},
		{[]string{"a", "--json", "b"}, true, []string{"a", "b"}},
		{[]string{"a", "b", "-json"}, true, []string{"a", "b"}},
		{[]string{"a", "--", "--json"}, false, []string{"a", "--json"}},
		{[]string{"--", "a", "--json"}, false, []string{"a", "--json"}},
		{nil, false, nil},
	} {
		fs := newFlagSet(decodeCommand)
		j := fs.Bool("json", false, "")
		rest, err := parseInterspersed(fs, tc.args)
		if err != nil || *j != tc.wantJSON || strings.Join(rest, " ") != strings.Join(tc.wantRest, " ") {
			t.Errorf("parseInterspersed(%q) = %q, json %v, %v; want %q, json %v", tc.args, rest, *j, err, tc.wantRest, tc.wantJSON)
		}
	}
}
