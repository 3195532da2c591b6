package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// em7455Descriptors are the USB descriptors of a Sierra Wireless EM7455 in
// its MBIM configuration (from usbtransport/testdata/em7455.umockdev).
const em7455Descriptors = "12011002EF0201409911799006000102030209023E00020100A0FA0904000002FFFFFF0007058102000200070501020002000904080003FFFFFF000705890340000907058A0200020007050B0200020009025F00020200A0FA080B0C02020E000009040C0001020E000005240010010524060C0D0C241B00010010208000082008241C000140DC050705820340000909040D00000A00020009040D01020A00020007058E0200020007050F02000200"

// fakeSysfs builds a sysfs tree with n EM7455 modems, shaped as the
// kernel's: class/usbmisc/cdc-wdmN links to the node under the MBIM
// control interface, which holds the driver link and the wwanN interface.
func fakeSysfs(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	desc, err := hex.DecodeString(em7455Descriptors)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "bus", "usb", "drivers", "cdc_mbim"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		bus := i + 1
		port := fmt.Sprintf("%d-1", bus)
		dev := filepath.Join(root, "devices", "pci0000:00", "0000:00:14.0", fmt.Sprintf("usb%d", bus), port)
		for k, v := range map[string]string{
			"idVendor": "1199\n", "idProduct": "9079\n", "busnum": fmt.Sprintf("%d\n", bus), "devnum": "2\n",
			"manufacturer": "Sierra Wireless, Incorporated\n", "product": "EM7455\n", "bConfigurationValue": "2\n",
			"descriptors": string(desc),
		} {
			write(filepath.Join(dev, k), v)
		}
		intf := filepath.Join(dev, port+":2.12")
		for k, v := range map[string]string{
			"bInterfaceNumber": "0c\n", "bInterfaceClass": "02\n", "bInterfaceSubClass": "0e\n", "bInterfaceProtocol": "00\n",
		} {
			write(filepath.Join(intf, k), v)
		}
		link("../../../../../../bus/usb/drivers/cdc_mbim", filepath.Join(intf, "driver"))
		wwan := fmt.Sprintf("wwan%d", i)
		write(filepath.Join(intf, "net", wwan, "uevent"), "INTERFACE="+wwan+"\n")
		node := fmt.Sprintf("cdc-wdm%d", i)
		w := filepath.Join(intf, "usbmisc", node)
		write(filepath.Join(w, "uevent"), "MAJOR=180\nMINOR=176\nDEVNAME="+node+"\n")
		link("../../../"+port+":2.12", filepath.Join(w, "device"))
		rel, err := filepath.Rel(filepath.Join(root, "class", "usbmisc"), w)
		if err != nil {
			t.Fatal(err)
		}
		link(rel, filepath.Join(root, "class", "usbmisc", node))
	}
	return root
}

func TestList(t *testing.T) {
	newTestModem(t)
	root := fakeSysfs(t, 2)
	out, errOut, code := runCLI(t, "", "list", "--sysfs", root)
	if code != exitOK || errOut != "" {
		t.Fatalf("list: exit code %d, stderr %q", code, errOut)
	}
	checkGolden(t, filepath.Join(commandGoldenDir, "list.txt"), out)
	out, errOut, code = runCLI(t, "", "list", "--sysfs", root, "--json")
	if code != exitOK || errOut != "" {
		t.Fatalf("list --json: exit code %d, stderr %q", code, errOut)
	}
	checkJSONObject(t, out)
	checkGolden(t, filepath.Join(commandGoldenDir, "list.json"), out)

	// None: exit 3, and the JSON still says so.
	out, errOut, code = runCLI(t, "", "list", "--sysfs", t.TempDir(), "--json")
	if code != exitNoDevice || errOut != "mbimctl: list: no MBIM modem found\n" {
		t.Errorf("list with no modem: exit code %d, stderr %q", code, errOut)
	}
	checkGolden(t, filepath.Join(commandGoldenDir, "list-none.json"), out)
	if out, _, code := runCLI(t, "", "list", "--sysfs", t.TempDir()); code != exitNoDevice || out != "" {
		t.Errorf("list with no modem: exit code %d, stdout %q", code, out)
	}
	if _, errOut, code := runCLI(t, "", "list", "cdc-wdm0"); code != exitUsage {
		t.Errorf("list cdc-wdm0: exit code %d, stderr %q", code, errOut)
	}
}
