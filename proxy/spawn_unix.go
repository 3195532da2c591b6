//go:build unix

package proxy

import (
	"os/exec"
	"syscall"
)

// detach puts the proxy in its own process group, like libmbim, so that it
// outlives this client.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
