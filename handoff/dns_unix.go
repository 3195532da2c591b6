//go:build unix

package handoff

import (
	"os/exec"
	"syscall"
)

// setHookProcessGroup runs the hook in its own process group and, on
// timeout, kills the whole group, so a shell script's children go too.
func setHookProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
