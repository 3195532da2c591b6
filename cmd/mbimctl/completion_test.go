package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeCompletion(t *testing.T, shell string) string {
	t.Helper()
	out, errOut, code := runCLI(t, "", "completion", shell)
	if code != exitOK || errOut != "" {
		t.Fatalf("completion %s: exit code %d, stderr %q", shell, code, errOut)
	}
	path := filepath.Join(t.TempDir(), "mbimctl."+shell)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The bash script completes commands, flags, first-argument words and flag
// values, when bash runs it.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := writeCompletion(t, "bash")
	for _, tc := range []struct {
		words []string // the command line; the last word is completed
		want  string   // the completions, space-separated, in order
	}{
		{[]string{"mbimctl", "ra"}, "radio"},
		{[]string{"mbimctl", "p"}, "packet-service pin providers proxy"},
		{[]string{"mbimctl", "radio", ""}, "on off"},
		{[]string{"mbimctl", "radio", "on", ""}, ""},
		{[]string{"mbimctl", "radio", "-d", "sim", ""}, "on off"},
		{[]string{"mbimctl", "radio", "--json", "o"}, "on off"},
		{[]string{"mbimctl", "pin", ""}, "status enter change enable disable unblock"},
		{[]string{"mbimctl", "pin", "--type", ""}, "pin1 pin2"},
		{[]string{"mbimctl", "providers", "v"}, "visible"},
		{[]string{"mbimctl", "register", "m"}, "manual"},
		{[]string{"mbimctl", "connect", "--ip-type", "ipv4"}, "ipv4 ipv4v6"},
		{[]string{"mbimctl", "connect", "--auth", ""}, "none pap chap mschapv2"},
		{[]string{"mbimctl", "connect", "--a"}, "--apn --auth"},
		{[]string{"mbimctl", "connect", "--apn", ""}, ""},
		{[]string{"mbimctl", "caps", "-d", "s"}, "sim"},
		{[]string{"mbimctl", "caps", "--mbimex", ""}, "1 2 3"},
		{[]string{"mbimctl", "completion", ""}, "bash zsh"},
		{[]string{"mbimctl", "help", "di"}, "disconnect"},
	} {
		line := `source "$1"; COMP_WORDS=(`
		for _, w := range tc.words {
			line += `"` + w + `" `
		}
		line += `); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mbimctl; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "-c", line, "bash", script).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

// Every command and every flag is in both scripts; the zsh script parses.
func TestCompletionCoversTheCommandTable(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		b, err := os.ReadFile(writeCompletion(t, shell))
		if err != nil {
			t.Fatal(err)
		}
		script := string(b)
		for _, c := range commands {
			if !strings.Contains(script, "    "+c.name+")") {
				t.Errorf("%s: no case for %s", shell, c.name)
			}
			for _, f := range commandFlags(c) {
				if !strings.Contains(script, f.spelling) {
					t.Errorf("%s: %s lacks %s", shell, c.name, f.spelling)
				}
			}
		}
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Log("no zsh: the zsh script is not parsed")
		return
	}
	script := writeCompletion(t, "zsh")
	if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
	// Loaded into an interactive completion system, it defines the function
	// and registers it.
	cmd := exec.Command(zsh, "-f", "-c", `autoload -U compinit && compinit -u -D && source "$1" && whence -w _mbimctl && print -r -- $_comps[mbimctl]`, "zsh", script)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "_mbimctl: function") || !strings.HasSuffix(strings.TrimSpace(string(out)), "_mbimctl") {
		t.Errorf("zsh could not load the script: %v\n%s", err, out)
	}
}

func TestCompletionErrors(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "fish"}, {"completion", "bash", "zsh"}, {"completion", "bash", "--program", "a b"}} {
		if out, errOut, code := runCLI(t, "", args...); code != exitUsage || out != "" {
			t.Errorf("mbimctl %q: exit code %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	out, _, code := runCLI(t, "", "completion", "bash", "--program", "wwanctl")
	if code != exitOK || !strings.Contains(out, "complete -F _wwanctl wwanctl\n") {
		t.Errorf("--program wwanctl: exit code %d\n%s", code, out)
	}
}
