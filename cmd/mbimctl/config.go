package main

// The configuration file of "mbimctl run": key = value lines whose keys are
// the long names of run's flags. A flag given on the command line wins over
// the file.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// configEntry is one "key = value" line.
type configEntry struct {
	key, value string
	line       int
}

// maxConfigSize bounds a configuration file: it is a few lines.
const maxConfigSize = 64 << 10

// readConfig reads a configuration file:
//
//	# comment
//	device = /dev/cdc-wdm0
//	apn = internet
//	route-metric = 700
//	dns = file:/run/wwan/resolv.conf
//	disconnect-on-exit = yes
//
// One setting per line, "key = value" (the spaces are optional). Blank
// lines and lines whose first non-blank character is '#' are skipped. A
// value may be written in double quotes, with Go's escapes, to keep
// leading or trailing blanks or a '#'; otherwise everything after the '='
// to the end of the line, trimmed, is the value (a '#' inside it is part
// of it). A key may appear once.
func readConfig(path string) ([]configEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %v", err)
	}
	defer f.Close()
	return parseConfig(io.LimitReader(f, maxConfigSize+1), path)
}

func parseConfig(r io.Reader, name string) ([]configEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxConfigSize+1)
	var out []configEntry
	seen := map[string]int{}
	size := 0
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		size += len(raw) + 1
		if size > maxConfigSize {
			return nil, fmt.Errorf("%s: larger than %d KiB: is it the right file?", name, maxConfigSize>>10)
		}
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key = value", name, n)
		}
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%s:%d: want key = value, with a key of one word", name, n)
		}
		if strings.HasPrefix(value, `"`) {
			v, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: a quoted value must be one Go string (\"...\")", name, n, key)
			}
			value = v
		}
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set again (first on line %d)", name, n, key, first)
		}
		seen[key] = n
		out = append(out, configEntry{key: key, value: value, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return out, nil
}

// configRefused are flags that have no place in a configuration file, and
// why.
var configRefused = map[string]string{
	"config":   "a configuration file cannot include another",
	"password": "put the password in a file of its own (readable by the daemon only) and name it with password-file",
	"pin":      "put the PIN in a file of its own and name it with pin-file",
	"help":     "not a setting",
}

// applyConfig sets, through fs (so each value is checked as the flag
// checks it), every entry whose flag was not given on the command line.
// Keys are long flag names; one-letter flags are refused (their long
// names are device and verbose).
func applyConfig(fs *flag.FlagSet, entries []configEntry, name string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// A one-letter flag and its long name are one setting.
	for short, long := range flagAliases {
		if given[short] {
			given[long] = true
		}
	}
	for _, e := range entries {
		if why, ok := configRefused[e.key]; ok {
			return fmt.Errorf("%s:%d: %s: %s", name, e.line, e.key, why)
		}
		f := fs.Lookup(e.key)
		if f == nil || len(e.key) == 1 {
			if long, ok := flagAliases[e.key]; ok {
				return fmt.Errorf("%s:%d: unknown key %q: write %s", name, e.line, e.key, long)
			}
			return fmt.Errorf("%s:%d: unknown key %q (the keys are run's long flag names: 'mbimctl help run')", name, e.line, e.key)
		}
		if given[e.key] {
			continue
		}
		v := e.value
		if isBoolFlag(f) {
			b, err := parseConfigBool(v)
			if err != nil {
				return fmt.Errorf("%s:%d: %s: %v", name, e.line, e.key, err)
			}
			v = strconv.FormatBool(b)
		}
		if err := fs.Set(e.key, v); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", name, e.line, e.key, err)
		}
	}
	return nil
}

// flagAliases maps run's one-letter flags to their long names.
var flagAliases = map[string]string{"d": "device", "v": "verbose"}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func parseConfigBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("want yes or no (true/false, on/off, 1/0)")
}
