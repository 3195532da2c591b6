package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gowwan/wwan/usbtransport"
)

func init() { register(listCommand) }

var listCommand = &command{
	name:    "list",
	summary: "list the MBIM modems of this machine (from sysfs)",
	usage:   "list [--json]",
	desc: `
List every MBIM function the kernel knows (from sysfs, class usbmisc): its
control node (give it to -d), driver, USB vendor and product ids, bus and
address (usb:BUS.ADDR), control interface number, network interface, and
the wMaxControlMessage and MTU of its MBIM descriptors. Nothing is opened,
so this works while another program uses the modem.

When no MBIM function is found the exit code is 3.`,
	examples: []example{
		{"list", "the MBIM modems of this machine"},
		{"list --json | jq -r '.functions[0].node'", "the node of the first modem"},
	},
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		asJSON := fs.Bool("json", false, "print JSON (the schema is in the README)")
		root := fs.String("sysfs", "", "read sysfs from `DIR` instead of /sys (a container's or a test's copy)")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return usageError{err}
			}
			dir := sysfsRoot
			if *root != "" {
				dir = *root
			}
			fns, err := usbtransport.List(dir)
			if err != nil {
				return fmt.Errorf("reading sysfs: %w", err)
			}
			r := &listResult{Functions: []functionJSON{}}
			for _, f := range fns {
				r.Functions = append(r.Functions, newFunctionJSON(f))
			}
			if err := printResult(e.stdout, *asJSON, r); err != nil {
				return err
			}
			if len(fns) == 0 {
				return &codedError{exitNoDevice, errors.New("no MBIM modem found")}
			}
			return nil
		}
	},
}

// listResult is the JSON of "mbimctl list".
type listResult struct {
	Functions []functionJSON `json:"functions"`
}

type functionJSON struct {
	Node              string   `json:"node"`
	Driver            string   `json:"driver"`
	VendorID          string   `json:"vendor_id"`
	ProductID         string   `json:"product_id"`
	Bus               int      `json:"bus"`
	Address           int      `json:"address"`
	Manufacturer      string   `json:"manufacturer"`
	Product           string   `json:"product"`
	Interface         int      `json:"interface"`
	Net               string   `json:"net"`
	NetInterfaces     []string `json:"net_interfaces"`
	MaxControlMessage *int     `json:"max_control_message"`
	MTU               *int     `json:"mtu"`
	DescriptorsError  *string  `json:"descriptors_error"`
}

func newFunctionJSON(f usbtransport.Function) functionJSON {
	j := functionJSON{
		Node: f.Path, Driver: f.Driver,
		VendorID: fmt.Sprintf("%04x", f.VendorID), ProductID: fmt.Sprintf("%04x", f.ProductID),
		Bus: f.Bus, Address: f.Device, Manufacturer: f.Manufacturer, Product: f.Product,
		Interface: f.InterfaceNumber, Net: f.Net, NetInterfaces: f.NetInterfaces,
	}
	if j.NetInterfaces == nil {
		j.NetInterfaces = []string{}
	}
	if f.MaxControlMessage > 0 {
		v := f.MaxControlMessage
		j.MaxControlMessage = &v
	}
	if f.MTU > 0 {
		v := f.MTU
		j.MTU = &v
	}
	if f.DescriptorsErr != nil {
		s := strings.TrimPrefix(f.DescriptorsErr.Error(), "usbtransport: ")
		j.DescriptorsError = &s
	}
	return j
}

func (r *listResult) writeText(w io.Writer) error {
	if len(r.Functions) == 0 {
		return nil // the error says it
	}
	t := &table{}
	t.row("NODE", "DRIVER", "USB", "BUS.ADDR", "IF", "NET", "MAX CONTROL", "MTU", "PRODUCT")
	for _, f := range r.Functions {
		num := func(p *int) string {
			if p == nil {
				return "-"
			}
			return strconv.Itoa(*p)
		}
		product := strings.TrimSpace(f.Manufacturer + " " + f.Product)
		t.row(f.Node, orDash(f.Driver), f.VendorID+":"+f.ProductID, fmt.Sprintf("%d.%d", f.Bus, f.Address),
			strconv.Itoa(f.Interface), orDash(f.Net), num(f.MaxControlMessage), num(f.MTU), orDash(product))
	}
	return t.write(w)
}
