//go:build !gousb

package usbtransport

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestOpenUSBWithoutGousb(t *testing.T) {
	_, err := OpenUSB(context.Background(), "usb:1199:9079")
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "-tags gousb") {
		t.Fatalf("err = %v, want ErrNotSupported saying to build with -tags gousb", err)
	}
	if _, err := OpenUSB(context.Background(), "usb:nope"); err == nil || errors.Is(err, ErrNotSupported) {
		t.Errorf("a bad selector gave %v, want a selector error", err)
	}
}
