#!/usr/bin/env bash
# ctest entry for the deployment checks (scripts/check-manifests.sh): one
# ctest test per check, so a missing tool skips only its own check.
#   tests/manifests_test.sh yamllint|schema|kustomize|shellcheck
# Exit status 77 means skipped (ctest: SKIP_RETURN_CODE 77); the output says
# which tool is missing and how to get it.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/check-manifests.sh" "$@"
