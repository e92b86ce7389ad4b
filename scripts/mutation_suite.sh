#!/usr/bin/env bash
# The mutation suite: planted privacy bugs, each of which the tests or the audit must catch.
#   scripts/mutation_suite.sh              # every scripts/mutants/*.patch
#   scripts/mutation_suite.sh noise_off …  # the named ones
# Each mutant is a patch applied to a scratch worktree of HEAD (build-mutants/tree; the shipped
# binary has no knob for any of them), built incrementally, then judged twice, apart:
#   tests  the privacy unit tests (the gtest filter below), failing ones named;
#   audit  the run's own checks alone (white-box audit and sensitivity check), on three seeded
#          runs of recipes/quickstart.ini: as shipped (an MLP, flat clipping), with
#          model.arch = cnn_tanh (2 epochs), and with privacy.clipping = per_layer; exit 3 = caught.
# Prints a table (mutant, caught by tests, caught by the audit alone, seconds) and exits 1 if any
# mutant survives both, or if one that breaks the sensitivity bound or the noise (audit_must_catch
# below) survives the audit alone; 2 if a patch no longer applies, a mutant does not build, or the
# unmutated tree fails its own checks.
# Takes over an hour on 2 cores (the first build of the worktree: ten minutes more); it is not
# part of the CI test run (ctest label `mutation`, run by hand: ctest --test-dir build -L mutation).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${DPFORGE_MUTANT_DIR:-$root/build-mutants}
tree=$work/tree
filter='PerSample.*:Clipping.*:Noise.*:DpSgdStep.*:PoissonSampler.*:Rdp*:Pld.*:Accountants.*'
filter+=':BudgetCli.*:PrivateTrain.*:Train.*:Resume.*:WhiteBoxAudit.*:SensitivityCheck.*:Layers.*:Validate.*'
filter+=':DataParallel.*'
filter+='-*_LONG:*_CUDA'
# Mutants that change a step's sensitivity or its noise: a run's own audit must catch these, since
# a user's model is not one the unit tests build.
audit_must_catch=" clipping_off conv_norms_skipped ghost_norm_without_bias per_layer_bound_not_split
  physical_batch_sum_clipped step_sum_clipped_once noise_off noise_halved noise_before_sum "

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

# audit_runs NAME: the three audited runs; prints which exited 3 and what flagged them, or "-".
audit_runs() {
  local name=$1 found=() run rc log what
  for run in "quickstart|" "cnn_tanh|--set model.arch=cnn_tanh --set train.epochs=2" \
    "per_layer|--set privacy.clipping=per_layer"; do
    log=$work/$name.audit.${run%%|*}.log
    rm -rf "$work/runs/$name.${run%%|*}"
    rc=0
    # shellcheck disable=SC2086  # the overrides are words
    "$tree/build/dpforge" train "$root/recipes/quickstart.ini" --out "$work/runs/$name.${run%%|*}" \
      --set train.seed=1 --set audit.seed=7 ${run#*|} >"$log" 2>&1 || rc=$?
    if ((rc == 3)); then
      what=()
      grep -q 'sensitivity check failed' "$log" && what+=(sensitivity)
      grep -q 'does not behave like the mechanism' "$log" && what+=(white-box)
      found+=("${run%%|*} (${what[*]})")
    elif ((rc != 0)); then
      found+=("${run%%|*}: exit $rc")
    fi
  done
  local joined=""
  for f in "${found[@]+"${found[@]}"}"; do joined+="${joined:+, }$f"; done
  echo "${joined:--}"
}

# judge NAME: runs both checks on the current build; prints "tests|audit|seconds"
judge() {
  local name=$1 start=$SECONDS tests=- failed
  "$tree/build/tests/dpforge_tests" --gtest_filter="$filter" --gtest_brief=1 \
    >"$work/$name.tests.log" 2>&1 || true
  failed=$(grep -E '^\[  FAILED  \] [A-Za-z0-9_]+\.[A-Za-z0-9_]+' "$work/$name.tests.log" \
             | sed -E 's/^\[  FAILED  \] ([^ ]+).*/\1/' | sort -u | head -3 | paste -sd, - || true)
  if [ -n "$failed" ]; then
    tests=$failed
  elif ! grep -q '^\[  PASSED  \]' "$work/$name.tests.log"; then
    tests=crashed
  fi
  echo "$tests|$(audit_runs "$name")|$((SECONDS - start))"
}

echo "mutation_suite: checking the unmutated tree"
baseline=$(judge baseline)
if [ "${baseline%|*}" != "-|-" ]; then
  echo "mutation_suite: the unmutated tree already fails: ${baseline%|*} (logs in $work)" >&2
  exit 2
fi

status=0
rows=()
for name in "${mutants[@]}"; do
  patch=$root/scripts/mutants/$name.patch
  git -C "$tree" reset -q --hard
  start=$SECONDS
  if [ ! -f "$patch" ] || ! git -C "$tree" apply "$patch" 2>"$work/$name.apply.log"; then
    rows+=("$name|PATCH DOES NOT APPLY|-|0")
    status=2
    continue
  fi
  if ! cmake --build "$tree/build" --target dpforge dpforge_tests >"$work/$name.build.log" 2>&1; then
    rows+=("$name|DOES NOT BUILD (see $work/$name.build.log)|-|$((SECONDS - start))")
    status=2
    continue
  fi
  verdict=$(judge "$name")
  IFS='|' read -r tests audit _ <<<"$verdict"
  rows+=("$name|$tests|$audit|$((SECONDS - start))")
  note=""
  if [ "$tests" = - ] && [ "$audit" = - ]; then
    note=" SURVIVED"
  elif [ "$audit" = - ] && [[ $audit_must_catch == *" $name "* ]]; then
    note=" MISSED BY THE AUDIT (it breaks the sensitivity bound or the noise)"
  fi
  if [ -n "$note" ] && ((status == 0)); then status=1; fi
  echo "mutation_suite: $name: tests: $tests; audit alone: $audit$note"
done
git -C "$tree" reset -q --hard
# The worktree's build must match HEAD again for the next run's baseline.
cmake --build "$tree/build" --target dpforge dpforge_tests >/dev/null 2>&1 || true

printf '\n| mutant | caught by tests (first three failing) | caught by the audit alone (runs that exited 3) | seconds (build + checks) |\n|---|---|---|---:|\n'
for row in "${rows[@]}"; do
  IFS='|' read -r name tests audit seconds <<<"$row"
  printf '| %s | %s | %s | %s |\n' "$name" "$tests" "$audit" "$seconds"
done
exit "$status"
