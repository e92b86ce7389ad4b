#!/usr/bin/env bash
# Trains recipes/fmnist_audit_tightness.ini at epsilon 1, 2, 4, 8 and prints the audit's empirical
# lower bounds next to the accountant's epsilon.  Usage: scripts/measure_tightness.sh [OUT_DIR] [--set k=v]...
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-runs/tightness}
shift || true
"$root/scripts/setup.sh" >/dev/null
cd "$root"
for eps in 1 2 4 8; do
  if [ ! -f "$out/eps$eps/report.json" ]; then
    build/dpforge train recipes/fmnist_audit_tightness.ini --set privacy.target_epsilon=$eps "$@" \
      --out "$out/eps$eps" >/dev/null 2>&1 || [ $? -eq 3 ]
  fi
done
.venv/bin/python - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print(f"{'epsilon':>8} {'sigma':>7} {'test acc':>9} {'lb one-run':>11} {'lb f-DP':>8} {'best/eps':>9} {'AUROC':>6} {'status':>9}")
for eps in (1, 2, 4, 8):
    r = json.load(open(f"{out}/eps{eps}/report.json"))
    p, a = r["privacy"], r["audit"]
    lb = a["epsilon_lower_bound"]
    print(f"{p['epsilon']:8.3f} {p['noise_multiplier']:7.3f} {100 * r['test_accuracy']:8.2f}% "
          f"{lb['one_run_steinke']:11.3f} {lb['one_run_fdp']:8.3f} {a['epsilon_lower_bound_best'] / p['epsilon']:9.2f} "
          f"{a['auroc']:6.3f} {a['status']:>9}")
PY
