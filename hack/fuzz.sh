#!/usr/bin/env bash
# fuzz.sh: run every Go fuzz target of ./fuzz and ./mbim, one at a time
# (go test -fuzz takes one target per run).
#
# Usage: hack/fuzz.sh [-smoke] [PATTERN]
#   -smoke   a short run for CI: 3s per target by default, and at most
#            FUZZ_SMOKE_BUDGET seconds (default 150) for all targets together
#   PATTERN  only the targets whose name matches this grep -E pattern
#
# Environment:
#   FUZZTIME           -fuzztime of each target: a duration (30s, 5m) or a
#                      count (1000x); default 3s with -smoke, 60s otherwise
#   FUZZ_SMOKE_BUDGET  seconds for the whole -smoke run when FUZZTIME is not
#                      set: with many targets each gets budget/targets (>= 1s)
#   FUZZ_PACKAGES      packages to search (default: ./fuzz/... ./mbim/...)
#   FUZZ_ALLOW_NONE=1  succeed when there is no fuzz target at all
#
# A failing input is written by go test to testdata/fuzz/FuzzX/ in the
# target's package: commit it as a regression seed once fixed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

smoke=0
pattern=""
for arg in "$@"; do
	case "$arg" in
	-smoke | --smoke) smoke=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "fuzz.sh: unknown flag $arg (usage: hack/fuzz.sh [-smoke] [PATTERN])" >&2
		exit 2
		;;
	*) pattern="$arg" ;;
	esac
done

read -r -a search <<<"${FUZZ_PACKAGES:-./fuzz/... ./mbim/...}"

# The packages that exist among those searched (./fuzz may still be empty).
pkgs=()
for p in "${search[@]}"; do
	while IFS= read -r pkg; do
		[[ -n "$pkg" ]] && pkgs+=("$pkg")
	done < <(go list "$p" 2>/dev/null || true)
done

# Every (package, target) pair, found with go test -list.
targets=()
for pkg in "${pkgs[@]}"; do
	list=$(go test -list '^Fuzz' "$pkg") || {
		echo "fuzz.sh: go test -list failed in $pkg" >&2
		exit 1
	}
	while IFS= read -r name; do
		if [[ -z "$pattern" || "$name" =~ $pattern ]]; then
			targets+=("$pkg $name")
		fi
	done < <(grep -E '^Fuzz[A-Za-z0-9_]*$' <<<"$list" || true)
done

if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets (func Fuzz*) found in ${search[*]}${pattern:+ matching $pattern}"
	if [[ "${FUZZ_ALLOW_NONE:-}" == 1 ]]; then
		echo "fuzz.sh: FUZZ_ALLOW_NONE=1: nothing to do"
		exit 0
	fi
	echo "fuzz.sh: failing: the fuzz targets belong in ./fuzz (set FUZZ_ALLOW_NONE=1 to accept none)" >&2
	exit 1
fi

n=${#targets[@]}
if [[ -n "${FUZZTIME:-}" ]]; then
	fuzztime="$FUZZTIME"
elif ((smoke)); then
	budget=${FUZZ_SMOKE_BUDGET:-150}
	per=3
	if ((n * per > budget)); then
		per=$((budget / n))
		((per >= 1)) || per=1
	fi
	fuzztime="${per}s"
else
	fuzztime=60s
fi

echo "fuzz.sh: $n target(s), -fuzztime=$fuzztime each"
failed=()
for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	echo "--- $name ($pkg)"
	# -run limits the normal tests to this target's seed corpus.
	if ! go test -run="^${name}\$" -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"; then
		failed+=("$name ($pkg)")
	fi
done

if ((${#failed[@]})); then
	echo "fuzz.sh: ${#failed[@]} of $n target(s) failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz.sh: all $n target(s) passed"
