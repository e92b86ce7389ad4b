#!/usr/bin/env bash
# The own-data recipes' numbers for docs/performance.md: each shipped recipe on scikit-learn's real
# tables, private over 3 seeds (mean and spread) with public and with DP-estimated statistics, and
# non-private with the same model, one table.
#   scripts/measure_own_data.sh            (after scripts/setup.sh; about two minutes on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${DPFORGE_MEASURE_DIR:-$(mktemp -d)}
"$root/.venv/bin/python" scripts/export_sklearn_data.py "$out/data" >/dev/null
printf '{"about": "the documented range only", "target": {"min": 25, "max": 346}}\n' \
  >"$out/data/diabetes_range.json"
# A variant trains the recipe again with the statistics estimated under DP (sigma_s = 5) instead of
# taken as public: standardized features (pixels) from their public ranges, the target from its
# range.
dp_stats=(--set data.dp_stats_noise_multiplier=5)
declare -A variant_sets=(
  [breast_cancer_dp-dpstats]="--set data.scaling=standardize"
  [digits_dp-dpstats]="--set data.scaling=standardize"
  [diabetes_dp-dpstats]="--set data.stats=$out/data/diabetes_range.json")
for recipe in breast_cancer_dp digits_dp diabetes_dp; do
  data=$(sed -n 's/^train = data\/sklearn\///p' "recipes/$recipe.ini")
  stats=$(sed -n 's/^stats = data\/sklearn\///p' "recipes/$recipe.ini")
  sets=(--set "data.train=$out/data/$data" --set "data.stats=$out/data/$stats" --set run.threads=2)
  for seed in 1 2 3; do
    build/dpforge train "recipes/$recipe.ini" --out "$out/$recipe-dp-$seed" "${sets[@]}" \
      --set "train.seed=$seed" >/dev/null 2>&1
    # shellcheck disable=SC2086  # the variant's sets are words
    build/dpforge train "recipes/$recipe.ini" --out "$out/$recipe-dpstats-dp-$seed" "${sets[@]}" \
      "${dp_stats[@]}" ${variant_sets[$recipe-dpstats]} --set "train.seed=$seed" >/dev/null 2>&1
  done
  build/dpforge train "recipes/$recipe.ini" --out "$out/$recipe-nonprivate" "${sets[@]}" \
    --set train.seed=1 --set privacy.enabled=false >/dev/null 2>&1
done
"$root/.venv/bin/python" - "$out" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
def metric(report):
    if report["test_rmse"] is not None:
        return "RMSE", report["test_rmse"], "{:.1f}"
    if report["test_auroc"] is not None:
        return "accuracy / AUROC", (100 * report["test_accuracy"], report["test_auroc"]), None
    return "accuracy", 100 * report["test_accuracy"], "{:.1f}%"
def show(values, form):
    if isinstance(values[0], tuple):
        acc = [v[0] for v in values]; auc = [v[1] for v in values]
        if len(values) == 1:
            return f"{acc[0]:.1f}% / {auc[0]:.3f}"
        sd = statistics.stdev
        return f"{statistics.mean(acc):.1f}% ± {sd(acc):.1f} / {statistics.mean(auc):.3f} ± {sd(auc):.3f}"
    if len(values) == 1:
        return form.format(values[0])
    return f"{form.format(statistics.mean(values))} ± {statistics.stdev(values):.1f}"
print("| recipe | task | N train | epsilon | private (3 seeds: mean ± sd) | non-private | audit LB |")
print("|---|---|---|---|---|---|---|")
for recipe in ("breast_cancer_dp", "digits_dp", "diabetes_dp"):
    plain = json.load(open(out / f"{recipe}-nonprivate" / "report.json"))
    name, _, form = metric(plain)
    for variant, label in ((recipe, recipe), (f"{recipe}-dpstats", f"{recipe} + DP statistics")):
        private = [json.load(open(out / f"{variant}-dp-{s}" / "report.json")) for s in (1, 2, 3)]
        bounds = [r["audit"]["epsilon_lower_bound_best"] for r in private]
        print(f"| {label} | {private[0]['data']['task']} | {private[0]['data']['train_examples']} | "
              f"{private[0]['privacy']['epsilon']:.3g} | {name} {show([metric(r)[1] for r in private], form)} | "
              f"{show([metric(plain)[1]], form)} | {min(bounds):.2f}–{max(bounds):.2f} "
              f"({', '.join(r['audit']['status'] for r in private)}) |")
PY
