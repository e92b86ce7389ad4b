#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) into build-asan/ and
# runs the test suite under them (the README's: without the `long`, `crosscheck` and `mutation`
# labels), one test per core; any report fails the run. The accountant cross-check (Python, no C++
# of ours beyond the CLI the other tests call too) is left out for time.
#   scripts/sanitize.sh [ctest arguments, e.g. -R Resume]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DPFORGE_BUILD_DIR=${DPFORGE_BUILD_DIR:-build-asan}
export DPFORGE_BUILD_TYPE=RelWithDebInfo
export DPFORGE_CUDA=OFF
export DPFORGE_JEMALLOC=OFF  # ASan brings its own malloc
# vptr checks need RTTI of every class across the (uninstrumented) LibTorch: left out.
export CXXFLAGS="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
export LDFLAGS="-fsanitize=address,undefined"
"$root/scripts/setup.sh"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$DPFORGE_BUILD_DIR" -LE 'long|mutation|crosscheck' -E crosscheck_accountants \
  --parallel "$(nproc)" --output-on-failure "$@"
