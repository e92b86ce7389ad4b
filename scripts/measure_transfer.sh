#!/usr/bin/env bash
# Measures what DP fine-tuning of pretrained weights is worth (docs/models.md, "Fine-tuning
# pretrained weights"): pretrains the tanh CNN without DP on Fashion-MNIST classes 0-4 (treated as
# public), then trains on classes 5-9 (treated as private) at the same epsilon three ways: the
# classifier alone from the pretrained weights, every layer from them, and every layer from random
# weights (DP from scratch). Prints dpforge compare's table of the four runs. Arguments after the
# folder go to the three private runs, e.g. fewer private examples:
#   scripts/measure_transfer.sh [OUT_DIR [--set key=value]...]   (default runs/transfer; 3-4 min)
# Needs a build (scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-runs/transfer}
shift $(($# > 0 ? 1 : 0))
private_sets=("$@")
binary="$root/${DPFORGE_BUILD_DIR:-build}/dpforge"
[ -x "$binary" ] || { echo "measure_transfer: no $binary; run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$out"
train() {  # NAME RECIPE [--set ...]...
  local name=$1 recipe=$2
  shift 2
  echo "measure_transfer: $name" >&2
  "$binary" train "$root/recipes/$recipe" --out "$out/$name" "$@" >"$out/$name.log" 2>&1 || {
    cat "$out/$name.log" >&2
    exit 1
  }
  tail -n 4 "$out/$name.log" >&2
}
pretrained="$out/public/model.pt"
train public fmnist_transfer_public.ini
train finetune_last fmnist_transfer_finetune.ini --set "model.init=$pretrained" "${private_sets[@]}"
train finetune_all fmnist_transfer_finetune.ini --set "model.init=$pretrained" \
  --set model.trainable=all --set run.name=fmnist_transfer_finetune_all "${private_sets[@]}"
train scratch fmnist_transfer_scratch.ini "${private_sets[@]}"
"$binary" compare "$out/public" "$out/finetune_last" "$out/finetune_all" "$out/scratch"
echo "measure_transfer: private runs with: ${private_sets[*]:-the recipes as shipped}"
echo "measure_transfer: $(nproc) cores, $(date +%Y-%m-%d), $(git -C "$root" rev-parse --short HEAD)"
