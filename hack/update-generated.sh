#!/usr/bin/env bash
# update-generated.sh: regenerate the typed MBIM code (mbim/zz_*.go) from the
# service specifications in hack/spec. Commit the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go generate ./mbim
echo "regenerated mbim/zz_*.go from hack/spec"
