//go:build !unix

package handoff

import "os/exec"

// hookKillGroup: without process groups the default (kill the process) stands.
func hookKillGroup(*exec.Cmd) {}
