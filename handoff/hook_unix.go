//go:build unix

package handoff

import (
	"os/exec"
	"syscall"
)

// hookKillGroup runs the command in its own process group and kills the whole
// group at the timeout, so a script's children go too.
func hookKillGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
