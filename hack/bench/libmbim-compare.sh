#!/usr/bin/env bash
# libmbim-compare.sh: compare wwan's MBIM codec with libmbim (libmbim-glib).
#
# 1. Builds hack/bench/libmbim_bench.c against the installed libmbim, twice:
#    once for timing, once with -DLIBMBIM_BENCH_COUNT_ALLOCS to count
#    libmbim's heap allocations per operation (that build is not timed), and
#    builds wwan's mbim test binary once.
# 2. The harness reads the libmbim test vectors (testdata/libmbim-vectors.json,
#    as "name hex" lines from hack/bench/extract) and checks each case once
#    (decode succeeds; encode gives the vector's exact bytes). It times decode
#    (new + validate + typed parse of every field + free) and encode (typed
#    builder + get_raw + unref).
# 3. Times both sides in interleaved rounds (5 by default): in each round,
#    one run of about 200 ms per case of the harness, then one run of 200 ms
#    of wwan's BenchmarkDecode / BenchmarkEncode for the same messages. On a
#    shared machine whose speed drifts over minutes, interleaving lets both
#    sides see the same conditions.
# 4. Joins both with hack/bench/compare: per message, the median libmbim and
#    wwan ns/op over the rounds, allocs/op, the ratio libmbim/wwan (above 1:
#    wwan is faster), and the geometric mean of the ratios for decode and for
#    encode.
#
# Usage: hack/bench/libmbim-compare.sh [-o FILE] [-n ROUNDS] [-g FILE] [-l FILE]
#   -o FILE    also write the table as Markdown to FILE
#   -n ROUNDS  number of interleaved rounds (default 5)
#   -g FILE    take wwan results from FILE (saved go test -bench output)
#              instead of running the wwan benchmarks
#   -l FILE    take libmbim results from FILE (saved harness output: the
#              Benchmark lines this script echoes to stderr) instead of
#              building and running the harness
#
# Needs a C compiler (CC, default cc), pkg-config, libmbim-glib-dev and Go.
# Works from any directory. Takes about 15 s per round.

set -euo pipefail

usage() {
	cat >&2 <<'EOF'
usage: hack/bench/libmbim-compare.sh [-o FILE] [-n ROUNDS] [-g FILE] [-l FILE]
  -o FILE    also write the table as Markdown to FILE
  -n ROUNDS  number of interleaved rounds (default 5)
  -g FILE    take wwan results from FILE instead of running the wwan benchmarks
  -l FILE    take libmbim results from FILE instead of running the C harness
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
rounds=5
while getopts ":o:n:g:l:h" opt; do
	case "$opt" in
	o) md_out="$(abspath "$OPTARG")" ;;
	n) rounds="$OPTARG" ;;
	g) go_results="$(abspath "$OPTARG")" ;;
	l) lib_results="$(abspath "$OPTARG")" ;;
	h) usage ;;
	:) die "option -$OPTARG needs a FILE" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number of rounds, not '$rounds'"
[ -z "$go_results" ] || [ -r "$go_results" ] || die "cannot read $go_results"
[ -z "$lib_results" ] || [ -r "$lib_results" ] || die "cannot read $lib_results"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

command -v go >/dev/null || die "go not found in PATH"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/libmbim-compare.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# --- build ----------------------------------------------------------------
if [ -z "$lib_results" ]; then
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
	# The checks, and the names of the cases libmbim can do.
	"$tmp/libmbim_bench" "$tmp/vectors.txt" -check >"$tmp/check.txt"
	grep '^# skipped' "$tmp/check.txt" >&2 || true
	decode_names="$(sed -n 's/^# ok decode //p' "$tmp/check.txt" | paste -sd '|')"
	encode_names="$(sed -n 's/^# ok encode //p' "$tmp/check.txt" | paste -sd '|')"
else
	cp "$lib_results" "$tmp/libmbim.txt"
	# names KIND: the cases of that kind in the saved libmbim results.
	names() { sed -n "s,^Benchmark$1/\\([^ \t]*\\)-[0-9]*[ \t].*,\\1,p" "$lib_results" | sort -u | paste -sd '|'; }
	decode_names="$(names Decode)"
	encode_names="$(names Encode)"
fi
[ -n "$decode_names" ] && [ -n "$encode_names" ] || die "no libmbim decode or encode cases to compare"
if [ -z "$go_results" ]; then
	go test -c -o "$tmp/mbim.test" ./mbim
fi

# --- timing, in interleaved rounds -------------------------------------------
[ -n "$go_results" ] && cp "$go_results" "$tmp/go.txt"
if [ -z "$lib_results" ] || [ -z "$go_results" ]; then
	for r in $(seq "$rounds"); do
		if [ -z "$lib_results" ]; then
			echo "libmbim-compare: round $r of $rounds: libmbim" >&2
			"$tmp/libmbim_bench" "$tmp/vectors.txt" -benchtime 200 -count 1 | tee -a "$tmp/libmbim.txt" >&2
		fi
		if [ -z "$go_results" ]; then
			echo "libmbim-compare: round $r of $rounds: wwan" >&2
			# The test binary runs in its package directory, as go test does.
			for kind in Decode Encode; do
				[ "$kind" = Decode ] && names="$decode_names" || names="$encode_names"
				if ! (cd mbim && "$tmp/mbim.test" -test.run '^$' -test.benchmem -test.benchtime 200ms \
					-test.bench "^Benchmark$kind\$/^($names)\$") | tee -a "$tmp/go.txt" >&2; then
					die "the wwan benchmarks failed (to join saved results instead, pass -g FILE)"
				fi
			done
		fi
	done
fi
if [ -z "$lib_results" ]; then
	echo "libmbim-compare: counting libmbim allocations" >&2
	"$tmp/libmbim_allocs" "$tmp/vectors.txt" | tee -a "$tmp/libmbim.txt" >&2
fi

# --- table -----------------------------------------------------------------
echo >&2
compare_args=(-libmbim "$tmp/libmbim.txt" -go "$tmp/go.txt")
[ -z "$md_out" ] || compare_args+=(-md "$md_out")
go run ./hack/bench/compare "${compare_args[@]}"
[ -z "$md_out" ] || echo "libmbim-compare: wrote $md_out" >&2
