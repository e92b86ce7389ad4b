#!/usr/bin/env bash
# Clean-build and test-suite wall times of a revision, as CI sees them: a fresh checkout, a fresh
# build folder, no ccache; then the suite as scripts/test.sh runs it (serial ctest, -LE 'long|mutation').
#   scripts/measure_build.sh [REV] [--no-tests]     (default REV: HEAD)
# Uses this checkout's .venv (scripts/setup.sh makes it). Prints one line per measurement.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rev=${1:-HEAD}
tests=1
[ "${2:-}" = "--no-tests" ] && tests=0
work=$(mktemp -d /tmp/dpforge-measure-XXXXXX)
trap 'git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/src" "$rev" >/dev/null 2>&1
ln -s "$root/.venv" "$work/src/.venv"
cd "$work/src"
export CCACHE_DISABLE=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDPFORGE_PYTHON="$root/.venv/bin/python" >/dev/null
start=$(date +%s.%N)
cmake --build build --parallel "$(nproc)" >/dev/null
build_s=$(echo "$(date +%s.%N) - $start" | bc)
echo "$(git rev-parse --short HEAD) clean build: ${build_s%.*} s on $(nproc) cores"
if [ "$tests" = 1 ]; then
  start=$(date +%s.%N)
  ctest --test-dir build -LE 'long|mutation' >/dev/null 2>&1 || echo "(some tests failed)"
  tests_s=$(echo "$(date +%s.%N) - $start" | bc)
  echo "$(git rev-parse --short HEAD) test suite (serial ctest -LE long|mutation): ${tests_s%.*} s"
fi
