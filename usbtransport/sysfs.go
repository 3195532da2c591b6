package usbtransport

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	pkgerrors "github.com/pkg/errors"
)

// Function is one MBIM control channel found in sysfs: a cdc-wdm node and
// what the kernel knows about the USB function behind it.
type Function struct {
	Name   string // node name, e.g. "cdc-wdm0"
	Path   string // device node, e.g. "/dev/cdc-wdm0"
	Driver string // driver bound to the control interface, e.g. "cdc_mbim"

	SysfsInterface string // the control interface's sysfs directory (symlinks resolved)
	SysfsDevice    string // the USB device's sysfs directory

	VendorID, ProductID   uint16
	Bus, Device           int    // busnum and devnum: usb:BUS.ADDR selects it for OpenUSB
	Manufacturer, Product string // USB strings, "" when the device has none
	InterfaceNumber       int    // bInterfaceNumber of the control interface

	// Net is the network interface of the function (e.g. "wwan0"), "" when
	// none is bound; NetInterfaces lists all of them (normally one).
	Net           string
	NetInterfaces []string

	// MaxControlMessage is wMaxControlMessage and MTU the MBIM extended
	// descriptor's wMTU; 0 when the descriptors do not say.
	MaxControlMessage int
	MTU               int
	// Descriptors is the parsed MBIM function, nil when the descriptors
	// file is missing or cannot be walked (DescriptorsErr says why).
	Descriptors    *Descriptors
	DescriptorsErr error
}

// List finds the MBIM control channels under sysfsRoot ("" means "/sys"):
// every node in class/usbmisc whose control interface is bound to cdc_mbim,
// or whose interface the USB descriptors show to be an MBIM control
// interface. The result is sorted by node name. A missing class/usbmisc
// directory means no devices, not an error.
func List(sysfsRoot string) ([]Function, error) {
	if sysfsRoot == "" {
		sysfsRoot = "/sys"
	}
	classDir := filepath.Join(sysfsRoot, "class", "usbmisc")
	entries, err := os.ReadDir(classDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, pkgerrors.WithStack(err)
	}
	var out []Function
	for _, e := range entries {
		f, ok, err := readFunction(classDir, e.Name())
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return nodeLess(out[i].Name, out[j].Name) })
	return out, nil
}

// nodeLess orders cdc-wdm2 before cdc-wdm10.
func nodeLess(a, b string) bool {
	pa, na := splitNum(a)
	pb, nb := splitNum(b)
	if pa != pb {
		return pa < pb
	}
	return na < nb
}

func splitNum(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n
}

// readFunction reads one class/usbmisc entry. ok is false for nodes that
// are not MBIM (a QMI cdc-wdm, say) or that vanished meanwhile.
func readFunction(classDir, name string) (f Function, ok bool, err error) {
	intf, err := filepath.EvalSymlinks(filepath.Join(classDir, name, "device"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Function{}, false, nil // unplugged while we looked
		}
		return Function{}, false, pkgerrors.WithStack(err)
	}
	dev := filepath.Dir(intf)
	f = Function{
		Name:           name,
		Path:           "/dev/" + name,
		SysfsInterface: intf,
		SysfsDevice:    dev,
	}
	if devname := ueventValue(filepath.Join(classDir, name, "uevent"), "DEVNAME"); devname != "" {
		f.Path = "/dev/" + devname
	}
	if target, err := os.Readlink(filepath.Join(intf, "driver")); err == nil {
		f.Driver = filepath.Base(target)
	}
	f.InterfaceNumber = int(readHex(filepath.Join(intf, "bInterfaceNumber")))
	f.VendorID = uint16(readHex(filepath.Join(dev, "idVendor")))
	f.ProductID = uint16(readHex(filepath.Join(dev, "idProduct")))
	f.Bus = readDec(filepath.Join(dev, "busnum"))
	f.Device = readDec(filepath.Join(dev, "devnum"))
	f.Manufacturer = readString(filepath.Join(dev, "manufacturer"))
	f.Product = readString(filepath.Join(dev, "product"))
	if nets, err := os.ReadDir(filepath.Join(intf, "net")); err == nil {
		for _, n := range nets {
			f.NetInterfaces = append(f.NetInterfaces, n.Name())
		}
		if len(f.NetInterfaces) > 0 {
			f.Net = f.NetInterfaces[0]
		}
	}

	isMBIMClass := readHex(filepath.Join(intf, "bInterfaceClass")) == ClassComm &&
		readHex(filepath.Join(intf, "bInterfaceSubClass")) == SubclassMBIM
	raw, rerr := os.ReadFile(filepath.Join(dev, "descriptors"))
	if rerr != nil {
		f.DescriptorsErr = pkgerrors.WithStack(rerr)
	} else {
		active := readDec(filepath.Join(dev, "bConfigurationValue"))
		d, err := parseDescriptors(raw, active)
		if err != nil && active != 0 {
			d, err = parseDescriptors(raw, 0)
		}
		switch {
		case err != nil:
			f.DescriptorsErr = err
		case d.ControlInterface != f.InterfaceNumber:
			f.DescriptorsErr = errors.New("usbtransport: the MBIM function in the descriptors is on interface " +
				strconv.Itoa(d.ControlInterface) + ", not " + strconv.Itoa(f.InterfaceNumber))
		default:
			f.Descriptors = &d
			f.MaxControlMessage = d.MaxControlMessage
			f.MTU = d.MTU
		}
	}
	if f.MaxControlMessage == 0 && raw != nil {
		f.MaxControlMessage = scanMaxControlMessage(raw)
	}
	ok = f.Driver == "cdc_mbim" || f.Descriptors != nil || isMBIMClass
	return f, ok, nil
}

func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readHex reads a sysfs attribute written in hex ("0c", "1199"); -1 when
// missing or unreadable.
func readHex(path string) int64 {
	v, err := strconv.ParseUint(readString(path), 16, 32)
	if err != nil {
		return -1
	}
	return int64(v)
}

// readDec reads a decimal sysfs attribute; 0 when missing.
func readDec(path string) int {
	v, err := strconv.Atoi(readString(path))
	if err != nil {
		return 0
	}
	return v
}

func ueventValue(path, key string) string {
	for line := range strings.SplitSeq(readString(path), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

// sysfsMaxControl reads wMaxControlMessage of a cdc-wdm node from the
// descriptors file of its USB device, as libmbim does when the ioctl is
// missing: class/usbmisc/NAME/device/../descriptors. It walks the
// descriptors, and falls back to libmbim's byte-signature scan.
func sysfsMaxControl(sysfsRoot, name string) (int, bool) {
	if sysfsRoot == "" {
		sysfsRoot = "/sys"
	}
	intf, err := filepath.EvalSymlinks(filepath.Join(sysfsRoot, "class", "usbmisc", name, "device"))
	if err != nil {
		return 0, false
	}
	dev := filepath.Dir(intf)
	raw, err := os.ReadFile(filepath.Join(dev, "descriptors"))
	if err != nil {
		return 0, false
	}
	n := 0
	d, err := parseDescriptors(raw, readDec(filepath.Join(dev, "bConfigurationValue")))
	if err != nil {
		d, err = parseDescriptors(raw, 0)
	}
	if err == nil {
		n = d.MaxControlMessage
	} else {
		n = scanMaxControlMessage(raw)
	}
	return n, n > 0
}
