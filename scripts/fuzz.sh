#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/: the recipe parser, the IDX, CSV, NPY and NPZ readers, the
# data.stats JSON, the model.layers grammar, audit-scores files) with clang, installed from Debian
# when missing, instrumented with ASan and UBSan along with every module they link, then runs each
# for a bounded number of executions and prints how many ran. Findings (crash-*, leak-*,
# timeout-*, oom-* files) fail the script. (The test suite runs the same targets over their seeds,
# uninstrumented: ctest -L fuzz_seeds.)
#   scripts/fuzz.sh [RUNS]             default 1000000 executions per target
#   DPFORGE_FUZZ_SECONDS=60 scripts/fuzz.sh    bound by time instead
#   DPFORGE_FUZZ_TARGETS="csv_fuzzer npy_fuzzer" scripts/fuzz.sh    only some targets
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-1000000}

# clang and libFuzzer besides the usual packages and .venv (LibTorch); the build is our own.
DPFORGE_EXTRA_PACKAGES="clang-14 libclang-rt-14-dev" DPFORGE_SETUP_NO_BUILD=1 "$root/scripts/setup.sh"

build_dir=${DPFORGE_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDPFORGE_FUZZ=ON -DDPFORGE_PYTHON="$root/.venv/bin/python"
fi
cmake --build "$build_dir" --parallel "$(nproc)" --target dpforge_fuzzers

limit=(-runs="$runs")
[ -n "${DPFORGE_FUZZ_SECONDS:-}" ] && limit=(-max_total_time="$DPFORGE_FUZZ_SECONDS")
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
status=0
all_targets="recipe_fuzzer idx_fuzzer csv_fuzzer npy_fuzzer npz_fuzzer stats_fuzzer layers_fuzzer scores_fuzzer"
for target in ${DPFORGE_FUZZ_TARGETS:-$all_targets}; do
  corpus="$build_dir/corpus-$target"   # grows here; the committed seeds stay as they are
  artifacts="$build_dir/findings-$target/"
  mkdir -p "$corpus" "$artifacts"
  seeds="fuzz/corpus/${target%_fuzzer}"
  log="$build_dir/$target.log"
  dictionary=()
  [ -f "fuzz/dictionaries/${target%_fuzzer}.dict" ] && dictionary=(-dict="fuzz/dictionaries/${target%_fuzzer}.dict")
  echo "fuzz: $target ${limit[*]} (seeds $seeds, log $log)"
  if ! "$build_dir/$target" "${limit[@]}" "${dictionary[@]}" -max_len=4096 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$seeds" >"$log" 2>&1; then
    echo "fuzz: $target FOUND A PROBLEM; see $log and $artifacts"
    tail -40 "$log"
    status=1
  fi
  executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz: $target executed $executed inputs, corpus $(ls "$corpus" | wc -l) files, findings $(ls "$artifacts" | wc -l)"
done
exit $status
