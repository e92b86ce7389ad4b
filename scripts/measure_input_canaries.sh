#!/usr/bin/env bash
# Measures the black-box input-canary audit's power (docs/auditing.md, "Black-box input canaries"):
# the quickstart at a claimed epsilon of 0.5 on three models (the MLP, cnn_tanh, a residual CNN
# written as a layer string), correct and with planted bugs, at 1000 and 5000 input canaries, on
# the whole training split (5 epochs of 512) and on 1000 examples (30 epochs of 100); prints the
# audit's black-box lower bound per run.
#
# Usage: scripts/measure_input_canaries.sh [OUT_DIR] [BINARY_FOR_A_MUTANT NAME]...
#   A pair after OUT_DIR adds rows run by another build of dpforge with a planted bug, labelled
#   NAME: a build with scripts/mutants/noise_off.patch applied as no_noise, one with
#   conv_norms_skipped.patch as conv_norms_skipped (a shipped binary has no fault switch).
# DPFORGE=PATH runs another copy of the binary. Runs are kept in OUT_DIR (default runs/input_canaries); rerunning skips finished ones.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-runs/input_canaries}
shift || true
"$root/scripts/setup.sh" >/dev/null
cd "$root"

residual='conv(16, k=8, s=2, p=2) groupnorm(4) tanh residual(conv(16, k=3, p=1) groupnorm(4) tanh conv(16, k=3, p=1)) maxpool(2, s=1) conv(32, k=4, s=2) tanh maxpool(2, s=1) flatten linear(32) tanh linear(out)'
declare -A model_sets=(
  [mlp]=""
  [cnn_tanh]="model.arch=cnn_tanh"
  [residual]="model.arch=layers|model.layers=$residual"
)
dpforge=${DPFORGE:-build/dpforge}  # DPFORGE=copy keeps a rebuild of build/ out of the figures
builds=("$dpforge correct")
while (($# >= 2)); do builds+=("$1 $2"); shift 2; done

# run NAME BINARY FAULT MODEL CANARIES TRAIN_SUBSET
run() {
  local dir=$out/$1 binary=$2 fault=$3 model=$4 canaries=$5 subset=$6
  [ -f "$dir/report.json" ] && return 0
  local sets=(--set train.seed=1 --set audit.seed=7 --set privacy.target_epsilon=0.5
              --set audit.input_canaries="$canaries" --set data.train_subset="$subset")
  # On 1000 examples, the settings of
  # BlackBoxAudit.InputCanariesFlagAModelTrainedWithoutNoiseAndPassACorrectRun
  # (30 epochs of 100): each canary is in about 30 batches, enough for a model to memorize it.
  ((subset > 0)) && sets+=(--set train.batch_size=100 --set train.epochs=30)
  local IFS='|'
  for kv in ${model_sets[$model]}; do sets+=(--set "$kv"); done
  IFS=' '
  "$binary" train recipes/quickstart.ini "${sets[@]}" --out "$dir" >"$out/$1.log" 2>&1 || true
}

mkdir -p "$out"
for subset in 1000 0; do
  for model in mlp cnn_tanh residual; do
    for build in "${builds[@]}"; do
      read -r binary fault <<<"$build"
      [ "$fault" = conv_norms_skipped ] && [ "$model" = mlp ] && continue  # the MLP has no conv
      for canaries in 1000 5000; do
        run "$model-$fault-m$canaries-n$subset" "$binary" "$fault" "$model" "$canaries" "$subset"
      done
    done
  done
done

.venv/bin/python - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
print("| model | training examples | run | input canaries | black-box lower bound (best) | "
      "claimed ε | AUROC | verdict | white-box verdict | sensitivity check |")
print("|---|---:|---|---:|---:|---:|---:|---|---|---|")
def sensitivity(report):
    check = report["diagnostics"]["sensitivity_check"]
    return f"{check['status']} (largest {check['max_contribution_over_bound']:.2f} C)"
def white_box_flags(audit):
    return any(test["flags"] for test in audit["verdict"]["tests"].values())
order = {"mlp": 0, "cnn_tanh": 1, "residual": 2}
def key(path):
    model, fault, m, n = os.path.basename(path).rsplit("-", 3)
    return (int(n[1:]) == 0, order[model], fault != "correct", fault, int(m[1:]))
for path in sorted(glob.glob(f"{out}/*-m*-n*/"), key=lambda p: key(p.rstrip("/"))):
    name = os.path.basename(path.rstrip("/"))
    model, fault, m, n = name.rsplit("-", 3)
    try:
        report = json.load(open(f"{path}/report.json"))
    except (OSError, ValueError):
        print(f"| {model} | {n[1:]} | {fault} | {m[1:]} | no report (see {out}/{name}.log) | | | | | |")
        continue
    audit = report["audit"]
    black = audit["input_canaries"]
    size = n[1:] if n != "n0" else "60000"
    print(f"| {model} | {size} | {fault} | {black['canaries']} | "
          f"{black['epsilon_lower_bound_best']:.3f} | {black['accountant_epsilon']:.2f} | "
          f"{black['auroc']:.3f} | {black['status']} | "
          f"{'violation' if white_box_flags(audit) else 'pass'} | {sensitivity(report)} |")
PY
