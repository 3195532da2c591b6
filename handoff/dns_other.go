//go:build !unix

package handoff

import "os/exec"

// setHookProcessGroup leaves the default: on timeout the hook's process
// is killed, and its children are not waited for (WaitDelay).
func setHookProcessGroup(cmd *exec.Cmd) {}
