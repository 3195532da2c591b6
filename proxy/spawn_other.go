//go:build !unix

package proxy

import "os/exec"

// detach has nothing to do where there are no process groups.
func detach(*exec.Cmd) {}
