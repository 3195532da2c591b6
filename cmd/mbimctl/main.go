// Command mbimctl controls MBIM modems: it queries and configures them, runs
// the WAN daemon, and decodes captured MBIM messages.
//
// Usage:
//
//	mbimctl <command> [flags] [arguments]
//	mbimctl help [command]
//
// Run "mbimctl help" for the list of commands and "mbimctl help <command>"
// for the flags and examples of one. The exit codes are listed in the README
// and in "mbimctl help".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes. They are part of the interface (scripts branch on them) and
// documented in the README: add new ones at the end, never renumber.
const (
	exitOK        = 0 // success
	exitOther     = 1 // any other failure (I/O, internal)
	exitUsage     = 2 // bad command line: unknown command or flag, bad value
	exitNoDevice  = 3 // the modem (or the daemon) was not found
	exitTimeout   = 4 // the modem did not answer in time
	exitRefused   = 5 // the modem answered with a failure status
	exitMalformed = 6 // malformed input: bad hex, malformed MBIM message
)

// exitCodeHelp is the table printed by "mbimctl help" and kept equal to the
// README by a test.
var exitCodeHelp = []struct {
	code int
	text string
}{
	{exitOK, "success"},
	{exitOther, "other failure (I/O error, internal error)"},
	{exitUsage, "usage error: unknown command or flag, bad flag value"},
	{exitNoDevice, "device not found"},
	{exitTimeout, "timeout: the modem did not answer in time"},
	{exitRefused, "the modem refused: it answered with a failure status"},
	{exitMalformed, "malformed input: bad hex, malformed or incomplete MBIM message"},
}

// command is one subcommand. Every command has a usage line, a description
// and examples, which "mbimctl help <command>" and "<command> --help" print.
type command struct {
	name     string
	summary  string // one line, for the command list
	usage    string // the synopsis after "mbimctl "
	desc     string // paragraphs, for help
	examples []example
	// flags registers the command's flags on fs and returns the function that
	// runs the command with the arguments left after the flags.
	flags func(fs *flag.FlagSet) func(e *env, args []string) error
}

type example struct {
	cmd  string // after "mbimctl "
	what string
}

// commands lists the subcommands, in the order help shows them. Each
// command's file adds itself with register from an init function, so that
// adding a command touches only its own file.
var commands []*command

// register adds a command; a duplicate name is a programming error.
func register(c *command) {
	if lookup(c.name) != nil {
		panic("mbimctl: command registered twice: " + c.name)
	}
	commands = append(commands, c)
	sort.SliceStable(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// env is what a command runs with: its standard streams. Tests run commands
// in-process through run with buffers in place of the real streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs mbimctl with the arguments after the program name and returns the
// exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		return runHelp(e, args[1:])
	default:
		c := lookup(name)
		if c == nil {
			if strings.HasPrefix(name, "-") {
				fmt.Fprintf(stderr, "mbimctl: flag %s before the command: flags follow the command name\n", name)
			} else {
				fmt.Fprintf(stderr, "mbimctl: unknown command %q\n", name)
			}
			fmt.Fprintln(stderr, "Run 'mbimctl help' for the list of commands.")
			return exitUsage
		}
		return runCommand(e, c, args[1:])
	}
}

func runHelp(e *env, args []string) int {
	switch len(args) {
	case 0:
		writeUsage(e.stdout)
		return exitOK
	case 1:
		c := lookup(args[0])
		if c == nil {
			fmt.Fprintf(e.stderr, "mbimctl: help: unknown command %q\n", args[0])
			fmt.Fprintln(e.stderr, "Run 'mbimctl help' for the list of commands.")
			return exitUsage
		}
		writeCommandHelp(e.stdout, c)
		return exitOK
	default:
		fmt.Fprintln(e.stderr, "mbimctl: help: too many arguments")
		fmt.Fprintln(e.stderr, "usage: mbimctl help [command]")
		return exitUsage
	}
}

// runCommand parses the command's flags, runs it, and turns its error into
// a message on stderr and an exit code.
func runCommand(e *env, c *command, args []string) int {
	fs := newFlagSet(c)
	do := c.flags(fs)
	rest, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		writeCommandHelp(e.stdout, c)
		return exitOK
	}
	if err != nil {
		err = usageError{err}
	} else {
		err = do(e, rest)
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "mbimctl: %s: %v\n", c.name, err)
	code := exitCode(err)
	if code == exitUsage {
		fmt.Fprintf(e.stderr, "Run 'mbimctl help %s' for usage.\n", c.name)
	}
	return code
}

func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by runCommand, help by writeCommandHelp
	fs.Usage = func() {}
	return fs
}

// parseInterspersed parses flags anywhere among the arguments
// ("decode 0300... --json" as well as "decode --json 0300..."); "--" ends
// the flags, and everything after it is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		consumed := args[:len(args)-len(left)]
		if len(left) == 0 || (len(consumed) > 0 && consumed[len(consumed)-1] == "--") {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// usageError marks an error as a mistake on the command line (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// codedError carries an exit code chosen where the error was made.
type codedError struct {
	code int
	err  error
}

func (c *codedError) Error() string { return c.err.Error() }
func (c *codedError) Unwrap() error { return c.err }

// exitCode maps an error to the exit code: the one place where that is
// decided. Commands return plain errors (or wrap them in usageError or
// codedError) and this function classifies them.
func exitCode(err error) int {
	var u usageError
	var c *codedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &c):
		return c.code
	case isMalformed(err):
		return exitMalformed
	}
	return exitOther
}

func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`mbimctl controls cellular modems that speak MBIM and decodes MBIM messages.

Usage:
  mbimctl <command> [flags] [arguments]
  mbimctl help [command]

Commands:
`)
	names := make([]string, 0, len(commands))
	width := len("help")
	for _, c := range commands {
		names = append(names, c.name)
		width = max(width, len(c.name))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, n, lookup(n).summary)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, "help", "show the help of a command")
	b.WriteString("\nRun 'mbimctl help <command>' (or 'mbimctl <command> --help') for its flags and examples.\n\nExit codes:\n")
	for _, x := range exitCodeHelp {
		fmt.Fprintf(&b, "  %d  %s\n", x.code, x.text)
	}
	io.WriteString(w, b.String())
}

func writeCommandHelp(w io.Writer, c *command) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: mbimctl %s\n\n%s\n", c.usage, strings.TrimSpace(c.desc))
	fs := newFlagSet(c)
	c.flags(fs)
	var flags []string
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name // -d, -v
		}
		if arg != "" {
			name += " " + arg
		}
		line := fmt.Sprintf("  %s\n        %s", name, usage)
		if f.DefValue != "" && f.DefValue != "false" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		flags = append(flags, line)
	})
	if len(flags) > 0 {
		fmt.Fprintf(&b, "\nFlags:\n%s\n", strings.Join(flags, "\n"))
	}
	b.WriteString("\nExamples:\n")
	for _, x := range c.examples {
		fmt.Fprintf(&b, "  # %s\n  mbimctl %s\n", x.what, x.cmd)
	}
	io.WriteString(w, b.String())
}
