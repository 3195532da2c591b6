#!/usr/bin/env bash
# verify-generated.sh: fail when the committed mbim/zz_*.go differ from what
# hack/gen writes from hack/spec. Writes nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! go run ./hack/gen -spec hack/spec -out mbim -check; then
	echo "verify-generated: mbim/zz_*.go are stale: run hack/update-generated.sh and commit the result" >&2
	exit 1
fi
echo "verify-generated: mbim/zz_*.go are up to date"
