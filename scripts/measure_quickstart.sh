#!/usr/bin/env bash
# Measures what the README's speed line quotes: the quickstart run of scripts/run.sh end to end
# (loading the data, calibrating sigma, training, the audit and the attacks) as wall time, the
# median of RUNS runs (default 3), on this machine. Prints one line; the README quotes it.
#   scripts/measure_quickstart.sh [RUNS]
# Needs a build (scripts/setup.sh). Run it on an otherwise idle machine: a neighbour on the CPU
# shows up in the numbers.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-3}
binary="$root/${DPFORGE_BUILD_DIR:-build}/dpforge"
[ -x "$binary" ] || { echo "measure_quickstart: no $binary; run scripts/setup.sh first" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
walls=() trainings=() accuracies=()
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$binary" train "$root/recipes/quickstart.ini" --out "$scratch/run$i" >"$scratch/log$i" 2>&1 || {
    cat "$scratch/log$i" >&2
    exit 1
  }
  end=$(date +%s.%N)
  walls+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
  trainings+=("$(sed -n 's/.* after [0-9]* steps in \([0-9.]*\)s$/\1/p' "$scratch/log$i")")
  accuracies+=("$(sed -n 's/.*test accuracy \([0-9.]*\)%.* after.*/\1/p' "$scratch/log$i")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "quickstart: $(median "${walls[@]}") s end to end (median of $runs: ${walls[*]} s), training" \
  "$(median "${trainings[@]}") s, test accuracy $(median "${accuracies[@]}")%; $(nproc) cores ($cpu)," \
  "$(date +%Y-%m-%d)"
