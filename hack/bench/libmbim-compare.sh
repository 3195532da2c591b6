#!/usr/bin/env bash
# libmbim-compare.sh: compare wwan's MBIM codec with libmbim (libmbim-glib).
#
# 1. Builds hack/bench/libmbim_bench.c against the installed libmbim, twice:
#    once for timing, once with -DLIBMBIM_BENCH_COUNT_ALLOCS to count
#    libmbim's heap allocations per operation (that build is not timed).
# 2. Runs it on the libmbim test vectors (testdata/libmbim-vectors.json, as
#    "name hex" lines from hack/bench/extract). It checks each case once
#    (decode succeeds; encode gives the vector's exact bytes), then times
#    decode (new + validate + typed parse of every field + free) and encode
#    (typed builder + get_raw + unref), 5 runs of about 200 ms per case.
# 3. Runs wwan's BenchmarkDecode / BenchmarkEncode (go test -count 5).
# 4. Joins both with hack/bench/compare: per message, the median libmbim and
#    wwan ns/op, allocs/op, the ratio libmbim/wwan (above 1: wwan is faster),
#    and the geometric mean of the ratios for decode and for encode.
#
# Usage: hack/bench/libmbim-compare.sh [-o FILE] [-g FILE] [-l FILE]
#   -o FILE  also write the table as Markdown to FILE
#   -g FILE  take wwan results from FILE (saved go test -bench output)
#            instead of running go test
#   -l FILE  take libmbim results from FILE (saved harness output: the
#            Benchmark lines this script echoes to stderr) instead of
#            building and running the harness
#
# Needs a C compiler (CC, default cc), pkg-config, libmbim-glib-dev and Go.
# Works from any directory. The libmbim part takes about 30 s, plus go test.

set -euo pipefail

usage() {
	cat >&2 <<'EOF'
usage: hack/bench/libmbim-compare.sh [-o FILE] [-g FILE] [-l FILE]
  -o FILE  also write the table as Markdown to FILE
  -g FILE  take wwan results from FILE instead of running go test
  -l FILE  take libmbim results from FILE instead of running the C harness
EOF
	exit 2
}

die() {
	echo "libmbim-compare: $*" >&2
	exit 1
}

# Makes a path given on the command line absolute, since we cd below.
abspath() {
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/$1" ;;
	esac
}

md_out=""
go_results=""
lib_results=""
while getopts ":o:g:l:h" opt; do
	case "$opt" in
	o) md_out="$(abspath "$OPTARG")" ;;
	g) go_results="$(abspath "$OPTARG")" ;;
	l) lib_results="$(abspath "$OPTARG")" ;;
	h) usage ;;
	:) die "option -$OPTARG needs a FILE" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[ -z "$go_results" ] || [ -r "$go_results" ] || die "cannot read $go_results"
[ -z "$lib_results" ] || [ -r "$lib_results" ] || die "cannot read $lib_results"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

command -v go >/dev/null || die "go not found in PATH"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/libmbim-compare.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# --- libmbim side ----------------------------------------------------------
if [ -n "$lib_results" ]; then
	cp "$lib_results" "$tmp/libmbim.txt"
else
	cc="${CC:-cc}"
	command -v "$cc" >/dev/null || die "C compiler '$cc' not found (set CC, or: sudo apt-get install gcc)"
	command -v pkg-config >/dev/null || die "pkg-config not found (sudo apt-get install pkg-config)"
	pkg-config --exists mbim-glib ||
		die "pkg-config cannot find mbim-glib; install it with: sudo apt-get install libmbim-glib-dev"

	echo "libmbim-compare: libmbim-glib $(pkg-config --modversion mbim-glib); building the C harness" >&2
	# Libraries after the source file, so linkers using --as-needed keep them.
	read -r -a mbim_cflags <<<"$(pkg-config --cflags mbim-glib)"
	read -r -a mbim_libs <<<"$(pkg-config --libs mbim-glib)"
	"$cc" -O2 -Wall "${mbim_cflags[@]}" -o "$tmp/libmbim_bench" \
		hack/bench/libmbim_bench.c "${mbim_libs[@]}"
	"$cc" -O2 -Wall -DLIBMBIM_BENCH_COUNT_ALLOCS "${mbim_cflags[@]}" -o "$tmp/libmbim_allocs" \
		hack/bench/libmbim_bench.c "${mbim_libs[@]}"

	go run ./hack/bench/extract -vectors testdata/libmbim-vectors.json >"$tmp/vectors.txt"

	echo "libmbim-compare: timing libmbim (5 runs x ~200 ms per case)" >&2
	"$tmp/libmbim_bench" "$tmp/vectors.txt" -benchtime 200 -count 5 | tee "$tmp/libmbim.txt" >&2
	echo "libmbim-compare: counting libmbim allocations" >&2
	"$tmp/libmbim_allocs" "$tmp/vectors.txt" | tee -a "$tmp/libmbim.txt" >&2
fi

# --- wwan side -------------------------------------------------------------
if [ -n "$go_results" ]; then
	cp "$go_results" "$tmp/go.txt"
else
	echo "libmbim-compare: running wwan benchmarks (go test -count 5)" >&2
	if ! go test -run '^$' -bench 'BenchmarkDecode|BenchmarkEncode' -benchmem -count 5 ./mbim |
		tee "$tmp/go.txt" >&2; then
		die "go test failed (to join saved results instead, pass -g FILE)"
	fi
fi

# --- table -----------------------------------------------------------------
echo >&2
compare_args=(-libmbim "$tmp/libmbim.txt" -go "$tmp/go.txt")
[ -z "$md_out" ] || compare_args+=(-md "$md_out")
go run ./hack/bench/compare "${compare_args[@]}"
[ -z "$md_out" ] || echo "libmbim-compare: wrote $md_out" >&2
