#!/usr/bin/env bash
# The mutation suite: planted privacy bugs, each of which the tests or the audit must catch.
#   scripts/mutation_suite.sh              # every scripts/mutants/*.patch
#   scripts/mutation_suite.sh noise_off …  # the named ones
# Each mutant is a patch applied to a scratch worktree of HEAD (build-mutants/tree; the shipped
# binary has no knob for any of them), built incrementally, then judged twice:
#   tests  the privacy unit tests (the gtest filter below), failing ones named;
#   audit  the quickstart recipe as shipped, seeded, with its white-box audit: exit 3 = caught.
# Prints a table (mutant, caught by, seconds) and exits 1 if any mutant survives, 2 if a patch no
# longer applies, a mutant does not build, or the unmutated tree fails its own checks.
# Takes about an hour on 2 cores (the first build of the worktree: ten minutes more); it is not
# part of the CI test run (ctest label `mutation`, run by hand: ctest --test-dir build -L mutation).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${DPFORGE_MUTANT_DIR:-$root/build-mutants}
tree=$work/tree
filter='PerSample.*:Clipping.*:Noise.*:DpSgdStep.*:PoissonSampler.*:Rdp*:Pld.*:Accountants.*'
filter+=':BudgetCli.*:PrivateTrain.*:Train.*:Resume.*:WhiteBoxAudit.*:Layers.*:Validate.*'
filter+='-*_LONG:*_CUDA'

mutants=("$@")
if ((${#mutants[@]} == 0)); then
  for patch in "$root"/scripts/mutants/*.patch; do mutants+=("$(basename "$patch" .patch)"); done
fi

# --- the scratch worktree at HEAD, built once ---------------------------------------------------
mkdir -p "$work"
if [ ! -e "$tree/.git" ]; then
  git -C "$root" worktree add --detach "$tree" HEAD >/dev/null
fi
git -C "$tree" checkout -q --detach "$(git -C "$root" rev-parse HEAD)"
git -C "$tree" reset -q --hard
ln -sfn "$root/.venv" "$tree/.venv"
(cd "$tree" && DPFORGE_BUILD_DIR=build scripts/setup.sh >"$work/setup.log" 2>&1) || {
  echo "mutation_suite: the unmutated worktree does not build (see $work/setup.log)" >&2
  exit 2
}

# judge NAME: runs both checks on the current build; prints "caught-by|seconds"
judge() {
  local name=$1 start=$SECONDS caught=() failed
  "$tree/build/tests/dpforge_tests" --gtest_filter="$filter" --gtest_brief=1 \
    >"$work/$name.tests.log" 2>&1 || true
  failed=$(grep -E '^\[  FAILED  \] [A-Za-z0-9_]+\.[A-Za-z0-9_]+' "$work/$name.tests.log" \
             | sed -E 's/^\[  FAILED  \] ([^ ]+).*/\1/' | sort -u | head -3 | paste -sd, - || true)
  if [ -n "$failed" ]; then
    caught+=("tests: $failed")
  elif ! grep -q '^\[  PASSED  \]' "$work/$name.tests.log"; then
    caught+=("tests: crashed")
  fi
  rm -rf "$work/runs/$name"
  local rc=0
  "$tree/build/dpforge" train "$root/recipes/quickstart.ini" --out "$work/runs/$name" \
    --set train.seed=1 --set audit.seed=7 >"$work/$name.audit.log" 2>&1 || rc=$?
  if ((rc == 3)); then
    caught+=("audit: $(grep -oE 'PRIVACY VIOLATION[^:]*' "$work/$name.audit.log" | head -1 || true)")
  elif ((rc != 0)); then
    caught+=("run: exit $rc")
  fi
  local joined=""
  for c in "${caught[@]+"${caught[@]}"}"; do joined+="${joined:+; }$c"; done
  echo "${joined:-SURVIVED}|$((SECONDS - start))"
}

echo "mutation_suite: checking the unmutated tree"
baseline=$(judge baseline)
if [ "${baseline%%|*}" != SURVIVED ]; then
  echo "mutation_suite: the unmutated tree already fails: ${baseline%%|*} (logs in $work)" >&2
  exit 2
fi

status=0
rows=()
for name in "${mutants[@]}"; do
  patch=$root/scripts/mutants/$name.patch
  git -C "$tree" reset -q --hard
  start=$SECONDS
  if [ ! -f "$patch" ] || ! git -C "$tree" apply "$patch" 2>"$work/$name.apply.log"; then
    rows+=("$name|PATCH DOES NOT APPLY|0")
    status=2
    continue
  fi
  if ! cmake --build "$tree/build" --target dpforge dpforge_tests >"$work/$name.build.log" 2>&1; then
    rows+=("$name|DOES NOT BUILD (see $work/$name.build.log)|$((SECONDS - start))")
    status=2
    continue
  fi
  verdict=$(judge "$name")
  rows+=("$name|${verdict%%|*}|$((SECONDS - start))")
  if [ "${verdict%%|*}" = SURVIVED ] && ((status == 0)); then status=1; fi
  echo "mutation_suite: $name: ${verdict%%|*}"
done
git -C "$tree" reset -q --hard
# The worktree's build must match HEAD again for the next run's baseline.
cmake --build "$tree/build" --target dpforge dpforge_tests >/dev/null 2>&1 || true

printf '\n| mutant | caught by | seconds (build + checks) |\n|---|---|---:|\n'
for row in "${rows[@]}"; do
  IFS='|' read -r name caught seconds <<<"$row"
  printf '| %s | %s | %s |\n' "$name" "$caught" "$seconds"
done
exit "$status"
