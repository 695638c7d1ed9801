#!/usr/bin/env bash
# Runs every test project and ends with one line: "N passed, N failed, N skipped".
# Kernel/namespace tests need root; without it they are skipped, each with its reason.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
if [[ $EUID -eq 0 ]]; then
  ./setup.sh || { echo "0 passed, 1 failed"; exit 1; }
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Exit code 8 = a project ran zero tests (e.g. a filter); the counts below still tell.
dotnet test --solution PortShare.slnx -c Release --ignore-exit-code 8 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
read -r total failed passed skipped < <(awk '
  /^Test run summary:/ {s=1}
  s && $1=="total:" {t=$2} s && $1=="failed:" {f=$2} s && $1=="succeeded:" {p=$2} s && $1=="skipped:" {k=$2}
  END {print t+0, f+0, p+0, k+0}' "$log")
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
  # The build or a test host failed before reporting: count it as a failure.
  failed=1
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[[ $rc -eq 0 && $failed -eq 0 ]]
