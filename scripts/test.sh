#!/usr/bin/env bash
# Set up (installs what is missing, builds), then run the whole test suite with CTest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
ctest --test-dir "${DPFORGE_BUILD_DIR:-build}" --output-on-failure
