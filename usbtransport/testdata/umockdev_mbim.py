#!/usr/bin/python3
"""Run a command against a fake USB MBIM modem emulated by umockdev.

    umockdev_mbim.py --device em7455.umockdev [--control-socket PATH]
                     [--notify-socket PATH] [--verbose] -- COMMAND [ARG...]

The script builds a umockdev testbed from a .umockdev description (sysfs,
udev properties, the descriptors blob) and attaches a UMockdev.IoctlBase
handler to the device's usbfs node (/dev/bus/usb/BBB/DDD). COMMAND runs with
LD_PRELOAD=libumockdev-preload.so.0 and UMOCKDEV_DIR set, so libusb (and so
gousb) inside it sees the fake device and its usbfs ioctls land here:

  * SUBMITURB / REAPURB(NDELAY) / DISCARDURB: URBs are kept here and handed
    back to libusb when they complete. Control URBs complete at once:
      - 0x21/0x00 SEND_ENCAPSULATED_COMMAND: the message goes to the MBIM
        function (see below);
      - 0xA1/0x01 GET_ENCAPSULATED_RESPONSE: the oldest queued response, or
        0 bytes when none is queued;
      - 0x21/0x05 RESET_FUNCTION: queued responses are dropped;
      - 0x80/0x06 GET_DESCRIPTOR: device, configuration (by index) and
        string descriptors, from the descriptors blob and sysfs strings;
      - 0x80/0x00 GET_STATUS, 0x80/0x08 GET_CONFIGURATION;
      - anything else stalls (-EPIPE).
    Interrupt-IN URBs stay pending until a notification is queued: one
    RESPONSE_AVAILABLE per response, plus whatever arrives on the notify
    socket. Bulk URBs are never completed (the data plane is not emulated).
  * claim/release/set-interface/set-configuration/reset/clear-halt and
    DISCONNECT_CLAIM succeed; GETDRIVER and IOCTL (driver disconnect) answer
    ENODATA (no kernel driver bound); GET_CAPABILITIES reports no packet
    size limit; anything else is ENOTTY.

The MBIM function is either a unix stream socket (--control-socket: the
script connects to it, writes every SEND_ENCAPSULATED_COMMAND payload and
frames what it reads by MessageLength; the Go tests put mbimtest's simulator
there) or, without it, a minimal built-in responder for OPEN, CLOSE and the
Basic Connect DEVICE_CAPS query (everything else gets NO_DEVICE_SUPPORT).

--notify-socket PATH listens on a unix stream socket; each CDC notification
written to it (8-byte header + wLength bytes, e.g. NETWORK_CONNECTION or
CONNECTION_SPEED_CHANGE) is delivered on the interrupt endpoint.

The script exits with COMMAND's exit status. It needs the system python3
with python3-gi and gir1.2-umockdev-1.0, and umockdev's preload library.
This is the handler pattern of testing-with-real-clients.md section 5b.
"""

import argparse
import collections
import errno
import gc
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

# usbfs ioctls (asm-generic encodings: x86, arm, arm64, riscv)
USBDEVFS_SETINTERFACE = 0x80085504
USBDEVFS_SETCONFIGURATION = 0x80045505
USBDEVFS_GETDRIVER = 0x41045508
USBDEVFS_SUBMITURB = 0x8038550A
USBDEVFS_DISCARDURB = 0x0000550B
USBDEVFS_REAPURB = 0x4008550C
USBDEVFS_REAPURBNDELAY = 0x4008550D
USBDEVFS_CLAIMINTERFACE = 0x8004550F
USBDEVFS_RELEASEINTERFACE = 0x80045510
USBDEVFS_CONNECTINFO = 0x40085511
USBDEVFS_IOCTL = 0xC0105512
USBDEVFS_RESET = 0x00005514
USBDEVFS_CLEAR_HALT = 0x80045515
USBDEVFS_GET_CAPABILITIES = 0x8004551A
USBDEVFS_DISCONNECT_CLAIM = 0x8108551B
USBDEVFS_GET_SPEED = 0x0000551F

URB_TYPE_ISO, URB_TYPE_INTERRUPT, URB_TYPE_CONTROL, URB_TYPE_BULK = 0, 1, 2, 3
URB_SIZE = 56  # struct usbdevfs_urb on 64-bit
CAPS = 0x01 | 0x02 | 0x04 | 0x10  # ZERO_PACKET, BULK_CONTINUATION, NO_PACKET_SIZE_LIM, REAP_AFTER_DISCONNECT
USB_SPEED_HIGH = 3

VERBOSE = False


def log(*args):
    if VERBOSE:
        print("umockdev_mbim:", *args, file=sys.stderr, flush=True)


# --- descriptors -----------------------------------------------------------

def parse_umockdev(path):
    """Return (devnode, descriptors bytes, sysfs attributes) of the first USB device."""
    devnode, desc, attrs = None, None, {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("P: ") and devnode is not None:
                break
            if line.startswith("N: bus/usb/"):
                name, _, _ = line[3:].partition("=")
                devnode = "/dev/" + name
            elif line.startswith("H: descriptors="):
                desc = bytes.fromhex(line[len("H: descriptors="):])
            elif line.startswith("A: "):
                k, _, v = line[3:].partition("=")
                attrs[k] = v.replace("\\n", "").strip()
    if devnode is None or desc is None:
        raise SystemExit("%s: no USB device with N: bus/usb/... and H: descriptors=" % path)
    return devnode, desc, attrs


def split_descriptors(raw):
    """Split a sysfs descriptors blob into the device descriptor and configurations."""
    device = raw[:18]
    configs, off = [], 18
    while off + 4 <= len(raw):
        total = struct.unpack_from("<H", raw, off + 2)[0]
        configs.append(raw[off:off + total])
        off += total
    return device, configs


def mbim_control_interface(configs, active):
    """The interface number of the MBIM control interface in the active configuration."""
    for cfg in configs:
        if len(cfg) < 9 or cfg[5] != active:
            continue
        off = 0
        while off + 2 <= len(cfg) and cfg[off] >= 2:
            if cfg[off + 1] == 4 and cfg[off + 5:off + 8] == bytes([0x02, 0x0E, 0x00]):
                return cfg[off + 2]
            off += cfg[off]
    return 0


def string_descriptor(s):
    data = s.encode("utf-16-le")
    return bytes([2 + len(data), 3]) + data


# --- the MBIM function ----------------------------------------------------

class Function:
    """Where SEND_ENCAPSULATED_COMMAND goes; calls on_response(bytes) per response."""

    def __init__(self, on_response):
        self.on_response = on_response

    def send(self, msg):
        raise NotImplementedError

    def close(self):
        pass


class SocketFunction(Function):
    """A unix stream socket to an MBIM function (the Go simulator)."""

    def __init__(self, path, on_response):
        super().__init__(on_response)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 12:
                length = struct.unpack_from("<I", buf, 4)[0]
                if length < 12:
                    log("function sent a message of length %d: dropping the stream" % length)
                    buf = b""
                    break
                if len(buf) < length:
                    break
                self.on_response(buf[:length])
                buf = buf[length:]

    def send(self, msg):
        self.sock.sendall(msg)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


BASIC_CONNECT = bytes.fromhex("a289cc33bcbb8b4fb6b0133ec2aae6df")


class MinimalFunction(Function):
    """A few answers, enough for an OPEN / DEVICE_CAPS / CLOSE session."""

    def send(self, msg):
        if len(msg) < 12:
            return
        mtype, length, tid = struct.unpack_from("<III", msg, 0)
        if mtype == 1:  # OPEN
            self.on_response(struct.pack("<IIII", 0x80000001, 16, tid, 0))
        elif mtype == 2:  # CLOSE
            self.on_response(struct.pack("<IIII", 0x80000002, 16, tid, 0))
        elif mtype == 3 and len(msg) >= 48:  # COMMAND
            service, cid, ctype = msg[20:36], struct.unpack_from("<I", msg, 36)[0], struct.unpack_from("<I", msg, 40)[0]
            status, info = 9, b""  # NO_DEVICE_SUPPORT
            if service == BASIC_CONNECT and cid == 1 and ctype == 0:
                status, info = 0, self.device_caps()
            self.on_response(struct.pack("<IIIII", 0x80000003, 48 + len(info), tid, 1, 0)
                             + service + struct.pack("<III", cid, status, len(info)) + info)

    @staticmethod
    def device_caps():
        fixed = struct.pack("<IIIIIIII", 2, 1, 1, 2, 0x20, 3, 1, 1)  # removable GSM modem with LTE, 1 session
        strings = [b"", "359072060000003".encode("utf-16-le"), "UMOCKDEV-FW".encode("utf-16-le"), "umockdev".encode("utf-16-le")]
        off, pairs, data = 64, b"", b""
        for s in strings:
            if not s:
                pairs += struct.pack("<II", 0, 0)
                continue
            pairs += struct.pack("<II", off + len(data), len(s))
            data += s + b"\0" * (-len(s) % 4)
        return fixed + pairs + data


# --- usbfs emulation ------------------------------------------------------

class Handler(UMockdev.IoctlBase):
    def __init__(self, device, configs, strings, active, ctrl_intf):
        super().__init__()
        self.device_desc = device
        self.configs = configs
        self.strings = strings
        self.active = active
        self.ctrl_intf = ctrl_intf
        self.function = None
        self.lock = threading.Lock()
        self.pending = collections.deque()      # interrupt-IN and bulk URBs: (urb, buf, addr, type, ep)
        self.completed = collections.deque()    # (urb, buf, status, actual, data, data_offset)
        self.notifications = collections.deque()
        self.responses = collections.deque()

    # called from the function's reader thread
    def on_response(self, msg):
        with self.lock:
            self.responses.append(msg)
            self.notifications.append(struct.pack("<BBHHH", 0xA1, 0x01, 0, self.ctrl_intf, 0))
        log("response %d bytes queued" % len(msg))

    def notify(self, note):
        with self.lock:
            self.notifications.append(note)
        log("notification %s queued" % note.hex())

    def _match(self):
        """Complete pending interrupt-IN URBs with queued notifications (lock held)."""
        while self.notifications:
            for i, p in enumerate(self.pending):
                urb, buf, addr, typ, ep = p
                if typ == URB_TYPE_INTERRUPT and ep & 0x80:
                    break
            else:
                return
            del self.pending[i]
            note = self.notifications.popleft()
            self.completed.append((urb, buf, 0, len(note), note, 0))

    def do_handle_ioctl(self, client):
        try:
            return self._handle(client)
        except Exception as e:  # never leave the client hanging
            print("umockdev_mbim: ioctl 0x%x failed: %r" % (client.get_request(), e), file=sys.stderr, flush=True)
            client.complete(-1, errno.EIO)
            return True

    def _handle(self, client):
        req = client.get_request()
        if req == USBDEVFS_SUBMITURB:
            self._submit(client)
        elif req in (USBDEVFS_REAPURB, USBDEVFS_REAPURBNDELAY):
            self._reap(client)
        elif req == USBDEVFS_DISCARDURB:
            self._discard(client)
        elif req == USBDEVFS_GET_CAPABILITIES:
            client.get_arg().resolve(0, 4).update(0, struct.pack("<I", CAPS))
            client.complete(0, 0)
        elif req == USBDEVFS_CONNECTINFO:
            client.get_arg().resolve(0, 8).update(0, struct.pack("<IB3x", 2, 0))
            client.complete(0, 0)
        elif req == USBDEVFS_GET_SPEED:
            client.complete(USB_SPEED_HIGH, 0)
        elif req in (USBDEVFS_GETDRIVER, USBDEVFS_IOCTL):
            client.complete(-1, errno.ENODATA)
        elif req in (USBDEVFS_CLAIMINTERFACE, USBDEVFS_RELEASEINTERFACE, USBDEVFS_SETINTERFACE,
                     USBDEVFS_SETCONFIGURATION, USBDEVFS_RESET, USBDEVFS_CLEAR_HALT, USBDEVFS_DISCONNECT_CLAIM):
            log("ioctl 0x%x ok" % req)
            client.complete(0, 0)
        else:
            log("ioctl 0x%x not emulated" % req)
            client.complete(-1, errno.ENOTTY)
        return True

    def _submit(self, client):
        urb = client.get_arg().resolve(0, URB_SIZE)
        raw = bytes(urb.retrieve())
        typ, ep = raw[0], raw[1]
        buflen = struct.unpack_from("<i", raw, 24)[0]
        buf = urb.resolve(16, buflen) if buflen > 0 else None
        if typ == URB_TYPE_CONTROL:
            data = bytes(buf.retrieve())
            status, reply = self._control(data[:8], data[8:])
            actual = len(reply) if data[0] & 0x80 else struct.unpack_from("<H", data, 6)[0]
            with self.lock:
                self.completed.append((urb, buf, status, actual if status == 0 else 0, reply, 8))
        elif typ in (URB_TYPE_INTERRUPT, URB_TYPE_BULK):
            with self.lock:
                self.pending.append((urb, buf, urb.client_addr, typ, ep))
        else:
            client.complete(-1, errno.EINVAL)
            return
        client.complete(0, 0)

    def _reap(self, client):
        with self.lock:
            self._match()
            if not self.completed:
                client.complete(-1, errno.EAGAIN)
                return
            urb, buf, status, actual, data, off = self.completed.popleft()
        if data and buf is not None:
            buf.update(off, data)
        urb.update(4, struct.pack("<i", status))
        urb.update(28, struct.pack("<i", actual))
        client.get_arg().resolve(0, 8).set_ptr(0, urb)
        client.complete(0, 0)

    def _discard(self, client):
        addr = struct.unpack("<Q", bytes(client.get_arg().retrieve())[:8])[0]
        with self.lock:
            for i, p in enumerate(self.pending):
                if p[2] == addr:
                    del self.pending[i]
                    self.completed.append((p[0], p[1], -errno.ENOENT, 0, None, 0))
                    client.complete(0, 0)
                    return
        client.complete(-1, errno.EINVAL)

    def _control(self, setup, data):
        """Answer one control request: (status, reply bytes for IN requests)."""
        rtype, req, value, index, length = struct.unpack("<BBHHH", setup)
        if (rtype, req) == (0x21, 0x00):
            msg = data[:length]
            log("SEND_ENCAPSULATED_COMMAND %d bytes: %s" % (len(msg), msg[:16].hex()))
            self.function.send(msg)
            return 0, b""
        if (rtype, req) == (0xA1, 0x01):
            with self.lock:
                if not self.responses:
                    return 0, b""
                msg = self.responses.popleft()
                if len(msg) > length:  # the rest comes with the next request
                    self.responses.appendleft(msg[length:])
                    msg = msg[:length]
            log("GET_ENCAPSULATED_RESPONSE %d bytes" % len(msg))
            return 0, msg
        if (rtype, req) == (0x21, 0x05):
            with self.lock:
                self.responses.clear()
            log("RESET_FUNCTION")
            return 0, b""
        if (rtype, req) == (0x80, 0x06):
            kind, idx = value >> 8, value & 0xFF
            if kind == 1:
                return 0, self.device_desc[:length]
            if kind == 2 and idx < len(self.configs):
                return 0, self.configs[idx][:length]
            if kind == 3:
                if idx == 0:
                    return 0, bytes([4, 3, 0x09, 0x04])[:length]
                if idx in self.strings:
                    return 0, string_descriptor(self.strings[idx])[:length]
        if (rtype, req) == (0x80, 0x00):
            return 0, b"\0\0"[:length]
        if (rtype, req) == (0x80, 0x08):
            return 0, bytes([self.active])[:length]
        log("control %02x/%02x stalled" % (rtype, req))
        return -errno.EPIPE, b""


def serve_notifications(path, handler):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def conn_loop(c):
        buf = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 8:
                n = 8 + struct.unpack_from("<H", buf, 6)[0]
                if len(buf) < n:
                    break
                handler.notify(buf[:n])
                buf = buf[n:]

    def accept_loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=conn_loop, args=(c,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return srv


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", required=True, help=".umockdev description of the modem")
    ap.add_argument("--control-socket", help="unix socket of the MBIM function (default: built-in responder)")
    ap.add_argument("--notify-socket", help="unix socket to listen on for CDC notifications to deliver")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    VERBOSE = args.verbose or bool(os.environ.get("UMOCKDEV_MBIM_VERBOSE"))

    devnode, raw, attrs = parse_umockdev(args.device)
    device, configs = split_descriptors(raw)
    active = int(attrs.get("bConfigurationValue", "1") or 1)
    strings = {1: attrs.get("manufacturer", ""), 2: attrs.get("product", ""), 3: attrs.get("serial", "")}

    tb = UMockdev.Testbed.new()
    root = tb.get_root_dir()
    rc = 1
    try:
        if not tb.add_from_file(args.device):
            raise SystemExit("umockdev cannot load %s" % args.device)
        # The driver links in the description point here; realpath() needs a target.
        for drv in ("cdc_mbim", "usb"):
            os.makedirs(os.path.join(tb.get_sys_dir(), "bus", "usb", "drivers", drv), exist_ok=True)

        handler = Handler(device, configs, strings, active, mbim_control_interface(configs, active))
        if args.control_socket:
            handler.function = SocketFunction(args.control_socket, handler.on_response)
        else:
            handler.function = MinimalFunction(handler.on_response)
        srv = serve_notifications(args.notify_socket, handler) if args.notify_socket else None
        tb.attach_ioctl(devnode, handler)

        env = dict(os.environ)
        env["LD_PRELOAD"] = ":".join(p for p in ("libumockdev-preload.so.0", env.get("LD_PRELOAD")) if p)
        env["UMOCKDEV_DIR"] = root
        log("running %s with %s on %s" % (args.command, args.device, devnode))
        rc = subprocess.call(args.command, env=env)

        handler.function.close()
        if srv is not None:
            srv.close()
    finally:
        # The testbed removes its root when it is finalized; make that
        # happen now, and clean up whatever it left.
        del tb
        gc.collect()
        shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
