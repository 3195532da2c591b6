#!/usr/bin/env bash
# test.sh: the project's test command. CI runs exactly this (.ci/run), as
# root in a fresh clone, with CI=true and no standard input.
#
# As root on Debian it first installs the packages below that are missing;
# otherwise it says what to install and runs what it can. Then, one step at a
# time: go vet, the gofmt check, the generated-code check, a CGO_ENABLED=0
# build, vet and tests of ./mbim on 386 (32-bit offset arithmetic), go test
# -race of everything, and a short run of every fuzz target. With
# WWAN_BENCH=1 it also compares the codec with libmbim
# (hack/bench/libmbim-compare.sh).
#
# Environment: WWAN_BENCH=1 (run the benchmark comparison), FUZZTIME and the
# other variables of hack/fuzz.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the tests use: a C toolchain for -race (cgo) and the
# libmbim comparison, libmbim's headers, mbimcli and mbim-proxy for the
# interoperability tests. Later issues add theirs here.
DEB_PACKAGES=(build-essential gcc pkg-config libmbim-glib-dev libmbim-utils libmbim-proxy
	libqmi-utils libqmi-proxy iproute2
	umockdev python3-gi gir1.2-umockdev-1.0 libusb-1.0-0-dev prometheus)

step() { printf '\n==> %s\n' "$*"; }
die() {
	echo "test.sh: $*" >&2
	exit 1
}

start=$SECONDS

step "system packages"
if command -v dpkg-query >/dev/null 2>&1; then
	missing=()
	for p in "${DEB_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		echo "all installed: ${DEB_PACKAGES[*]}"
	elif [[ "$(id -u)" == 0 ]]; then
		echo "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq </dev/null
		apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
	else
		echo "WARNING: missing Debian packages: ${missing[*]}"
		echo "WARNING: install them with: sudo apt-get install ${missing[*]}"
		echo "WARNING: continuing with the steps that can run without them"
	fi
else
	echo "not a Debian system (no dpkg-query): make sure these are installed: ${DEB_PACKAGES[*]}"
fi

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="$PATH:/usr/local/go/bin" # where the official tarball installs
fi
if ! command -v go >/dev/null 2>&1; then
	die "Go is not installed (or not on PATH): install Go $(sed -n 's/^go //p' go.mod) or later"
fi
go version

have_cc=0
if command -v "${CC:-gcc}" >/dev/null 2>&1 || command -v cc >/dev/null 2>&1; then
	have_cc=1
fi

step "go vet ./..."
go vet ./...

step "gofmt"
unformatted=$(gofmt -l .)
if [[ -n "$unformatted" ]]; then
	echo "these files are not gofmt'd (run gofmt -w on them):" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "all Go files are formatted"

step "generated code (hack/verify-generated.sh)"
bash hack/verify-generated.sh

step "CGO_ENABLED=0 go build ./..."
CGO_ENABLED=0 go build ./...

# 32-bit offset arithmetic: the codec must hold on 386 too. cgo is off, so
# no 32-bit C toolchain (gcc-multilib) is needed; the amd64 kernel runs the
# 386 test binary.
step "GOARCH=386 go vet ./mbim/..."
GOARCH=386 CGO_ENABLED=0 go vet ./mbim/...
step "GOARCH=386 go test ./mbim/..."
GOARCH=386 CGO_ENABLED=0 go test -count=1 ./mbim/...

if ((have_cc)); then
	step "go test -race -count=1 ./..."
	CGO_ENABLED=1 go test -race -count=1 ./...
	# gousb needs cgo and libusb; its test drives libusb under umockdev.
	step "go test -race -tags gousb ./usbtransport (libusb under umockdev)"
	# -v, filtered, so that the log shows the umockdev test ran (or why it
	# skipped); pipefail keeps go test's exit status.
	CGO_ENABLED=1 go test -race -count=1 -tags gousb -v ./usbtransport 2>&1 |
		awk '/^(--- |ok|FAIL|PASS)/ || /umockdev|skip/'
else
	step "go test -count=1 ./... (no C compiler: -race needs cgo; install gcc)"
	go test -count=1 ./...
fi

# The tests against real parts (the kernel in network namespaces, TUN,
# mbimcli/qmicli/mbim-proxy) skip only where a privilege or a binary is
# really missing. As root (CI) a skip is a failure, and they run again
# verbosely so that the log shows each one ran.
if [[ "$(id -u)" == 0 ]]; then
	export WWAN_REQUIRE_NETNS=1
	step "tests against real parts (root): network namespaces, TUN, libmbim clients"
	go test -count=1 -v -run 'Linux|Netns|TUN|Integration|E2E|Mbimcli|Qmicli|MbimProxy|Proxy|PTY' \
		./handoff/... ./mbim/mbimtest ./proxy ./cmd/... 2>&1 | awk '/^(--- |ok|FAIL|PASS)/'
else
	step "tests against real parts: not root, so the namespace and TUN tests skipped above"
fi

step "fuzz smoke (hack/fuzz.sh -smoke)"
bash hack/fuzz.sh -smoke

if [[ "${WWAN_BENCH:-}" == 1 ]]; then
	step "libmbim comparison (hack/bench/libmbim-compare.sh)"
	bash hack/bench/libmbim-compare.sh
else
	step "libmbim comparison: skipped (set WWAN_BENCH=1 to run it)"
fi

printf '\n==> all steps passed in %ds\n' $((SECONDS - start))
