package usbtransport

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeSysfs builds a sysfs tree shaped like the kernel's, with the
// symlinks the kernel makes:
//
//	class/usbmisc/cdc-wdm0 -> ../../devices/.../2-3/2-3:2.12/usbmisc/cdc-wdm0   (EM7455, cdc_mbim, wwan0)
//	class/usbmisc/cdc-wdm1 -> ../../devices/.../1-4/1-4:1.8/usbmisc/cdc-wdm1    (QMI modem: not listed)
//	class/usbmisc/cdc-wdm10 -> ../../devices/.../1-5/1-5:1.0/usbmisc/cdc-wdm10  (MBIM class, driver unbound, no descriptors)
//	class/usbmisc/cdc-wdm2 -> ../../devices/.../1-6/1-6:1.3/usbmisc/cdc-wdm2    (driver cdc_mbim, broken descriptors)
func fakeSysfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	pci := filepath.Join(root, "devices", "pci0000:00", "0000:00:14.0")

	mkdir := func(p string) {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		mkdir(filepath.Dir(p))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		mkdir(filepath.Dir(p))
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	mkdir(filepath.Join(root, "bus", "usb", "drivers", "cdc_mbim"))
	mkdir(filepath.Join(root, "bus", "usb", "drivers", "qmi_wwan"))

	// usbDevice writes a USB device with one control interface and its
	// cdc-wdm node; it returns the interface directory.
	usbDevice := func(bus, dev, port, ifname, node, driver string, attrs map[string]string, descriptors []byte, intfAttrs map[string]string, nets ...string) {
		d := filepath.Join(pci, "usb"+bus, port)
		for k, v := range attrs {
			write(filepath.Join(d, k), v)
		}
		write(filepath.Join(d, "busnum"), bus+"\n")
		write(filepath.Join(d, "devnum"), dev+"\n")
		if descriptors != nil {
			write(filepath.Join(d, "descriptors"), string(descriptors))
		}
		i := filepath.Join(d, ifname)
		for k, v := range intfAttrs {
			write(filepath.Join(i, k), v)
		}
		if driver != "" {
			link("../../../../../../bus/usb/drivers/"+driver, filepath.Join(i, "driver"))
		}
		for _, n := range nets {
			write(filepath.Join(i, "net", n, "uevent"), "INTERFACE="+n+"\n")
			link("../../../"+ifname, filepath.Join(i, "net", n, "device"))
		}
		w := filepath.Join(i, "usbmisc", node)
		write(filepath.Join(w, "dev"), "180:176\n")
		write(filepath.Join(w, "uevent"), "MAJOR=180\nMINOR=176\nDEVNAME="+node+"\n")
		link("../../../"+ifname, filepath.Join(w, "device"))
		rel, err := filepath.Rel(filepath.Join(root, "class", "usbmisc"), w)
		if err != nil {
			t.Fatal(err)
		}
		link(rel, filepath.Join(root, "class", "usbmisc", node))
	}
	mbimIntf := map[string]string{"bInterfaceNumber": "0c\n", "bInterfaceClass": "02\n", "bInterfaceSubClass": "0e\n", "bInterfaceProtocol": "00\n"}

	usbDevice("2", "3", "2-3", "2-3:2.12", "cdc-wdm0", "cdc_mbim", map[string]string{
		"idVendor": "1199\n", "idProduct": "9079\n", "bConfigurationValue": "2\n",
		"manufacturer": "Sierra Wireless, Incorporated\n",
		"product":      "Sierra Wireless EM7455 Qualcomm Snapdragon X7 LTE-A\n",
	}, em7455, mbimIntf, "wwan0")
	usbDevice("1", "4", "1-4", "1-4:1.8", "cdc-wdm1", "qmi_wwan", map[string]string{
		"idVendor": "1199\n", "idProduct": "9071\n", "bConfigurationValue": "1\n",
	}, em7455[:18+62], map[string]string{"bInterfaceNumber": "08\n", "bInterfaceClass": "ff\n", "bInterfaceSubClass": "ff\n"}, "wwan1")
	usbDevice("1", "5", "1-5", "1-5:1.0", "cdc-wdm10", "", map[string]string{
		"idVendor": "2c7c\n", "idProduct": "0620\n",
	}, nil, map[string]string{"bInterfaceNumber": "00\n", "bInterfaceClass": "02\n", "bInterfaceSubClass": "0e\n"})
	usbDevice("1", "6", "1-6", "1-6:1.3", "cdc-wdm2", "cdc_mbim", map[string]string{
		"idVendor": "1234\n", "idProduct": "5678\n",
	}, []byte{0x12, 0x01, 0x00}, map[string]string{"bInterfaceNumber": "03\n"})
	return root
}

func TestList(t *testing.T) {
	root := fakeSysfs(t)
	fs, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if want := []string{"cdc-wdm0", "cdc-wdm2", "cdc-wdm10"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("listed %v, want %v", names, want)
	}

	f := fs[0]
	d := em7455Want
	want := Function{
		Name: "cdc-wdm0", Path: "/dev/cdc-wdm0", Driver: "cdc_mbim",
		SysfsInterface: filepath.Join(root, "devices/pci0000:00/0000:00:14.0/usb2/2-3/2-3:2.12"),
		SysfsDevice:    filepath.Join(root, "devices/pci0000:00/0000:00:14.0/usb2/2-3"),
		VendorID:       0x1199, ProductID: 0x9079, Bus: 2, Device: 3,
		Manufacturer:    "Sierra Wireless, Incorporated",
		Product:         "Sierra Wireless EM7455 Qualcomm Snapdragon X7 LTE-A",
		InterfaceNumber: 12, Net: "wwan0", NetInterfaces: []string{"wwan0"},
		MaxControlMessage: 4096, MTU: 1500, Descriptors: &d,
	}
	if root, err := filepath.EvalSymlinks(root); err == nil { // t.TempDir may sit behind a symlink
		want.SysfsInterface = filepath.Join(root, "devices/pci0000:00/0000:00:14.0/usb2/2-3/2-3:2.12")
		want.SysfsDevice = filepath.Join(root, "devices/pci0000:00/0000:00:14.0/usb2/2-3")
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("cdc-wdm0:\n got %+v\nwant %+v", f, want)
	}

	broken := fs[1]
	if broken.Driver != "cdc_mbim" || broken.Descriptors != nil || !errors.Is(broken.DescriptorsErr, ErrMalformedDescriptor) || broken.MaxControlMessage != 0 {
		t.Errorf("cdc-wdm2: %+v", broken)
	}
	unbound := fs[2]
	if unbound.Driver != "" || unbound.VendorID != 0x2c7c || unbound.ProductID != 0x0620 || unbound.Net != "" || unbound.DescriptorsErr == nil {
		t.Errorf("cdc-wdm10: %+v", unbound)
	}
}

func TestListNoUsbmisc(t *testing.T) {
	fs, err := List(t.TempDir())
	if err != nil || fs != nil {
		t.Errorf("List of an empty tree = %v, %v; want nil, nil", fs, err)
	}
}

func TestSysfsMaxControl(t *testing.T) {
	root := fakeSysfs(t)
	if got, ok := sysfsMaxControl(root, "cdc-wdm0"); !ok || got != 4096 {
		t.Errorf("cdc-wdm0: %d, %v", got, ok)
	}
	if _, ok := sysfsMaxControl(root, "cdc-wdm2"); ok {
		t.Error("cdc-wdm2 (broken descriptors) gave a value")
	}
	if _, ok := sysfsMaxControl(root, "pts"); ok {
		t.Error("a node without sysfs gave a value")
	}
}
