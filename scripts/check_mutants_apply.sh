#!/usr/bin/env bash
# Every planted bug of the mutation suite (scripts/mutants/*.patch) still applies to the code: a
# refactor that moves the lines a mutant patches must move the mutant with them, or the suite,
# run by hand, finds out only when it is next run. Seconds; part of the CI test run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
status=0
for patch in scripts/mutants/*.patch; do
  if ! git apply --check "$patch" 2>/dev/null; then
    echo "$patch no longer applies to the code: regenerate it against HEAD (docs/reliability.md)"
    status=1
  fi
done
exit "$status"
