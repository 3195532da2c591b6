//go:build !linux

package mbimtest

import "errors"

// ptyState is unused where there is no pty support.
type ptyState struct{}

func (p *ptyState) close() {}

// ServePTY is only implemented on Linux.
func (s *Sim) ServePTY() (string, error) {
	return "", errors.ErrUnsupported
}

// PTYPath returns "" where there is no pty support.
func (s *Sim) PTYPath() string { return "" }
