#!/usr/bin/env bash
# Set up (installs what is missing, builds), then run the whole test suite with CTest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
# Tests labelled `long` (minutes each: the accountant's full property grid, the realistic null
# audits), `crosscheck` (the accountants against Opacus and dp_accounting on the full grid; the
# default suite checks a subset) and `mutation` (the mutation suite, an hour) run by hand:
# ctest --test-dir build -L long (or -L crosscheck, -L mutation). Tests run one per core.
ctest --test-dir "${DPFORGE_BUILD_DIR:-build}" --output-on-failure -LE 'long|mutation|crosscheck' \
  --parallel "${DPFORGE_TEST_JOBS:-$(nproc)}"
