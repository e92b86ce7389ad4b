#!/usr/bin/env bash
# Reader throughput for docs/performance.md: Fashion-MNIST's 60,000 x 784 training images through
# the IDX (gzip), NPZ (uint8 and float32) and NPY readers, the same as a CSV (one column per pixel),
# and a CSV of about 1 GB to show that CSV streams (peak memory well under the file's size).
#   scripts/bench_readers.sh     (after scripts/setup.sh; writes ~1.5 GB under a temp folder)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
ninja -C build dpforge_bench_readers >/dev/null
work=${DPFORGE_BENCH_DIR:-$(mktemp -d)}
trap '[ -n "${DPFORGE_BENCH_DIR:-}" ] || rm -rf "$work"' EXIT
fm=/usr/share/datasets/fashion-mnist
[ -f "$work/big.csv" ] || "$root/.venv/bin/python" - "$fm" "$work" <<'PY'
import gzip, sys
import numpy as np
fm, work = sys.argv[1], sys.argv[2]
x = np.frombuffer(gzip.open(f"{fm}/train-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(60000, 784)
y = np.frombuffer(gzip.open(f"{fm}/train-labels-idx1-ubyte.gz").read()[8:], np.uint8).astype(np.int64)
np.savez(f"{work}/u8.npz", x=x, y=y)
np.savez(f"{work}/f32.npz", x=x.astype(np.float32) / 255, y=y)
np.save(f"{work}/x.npy", x.astype(np.float32) / 255); np.save(f"{work}/y.npy", y)
header = ",".join(f"p{i}" for i in range(784)) + ",label\n"
with open(f"{work}/fmnist.csv", "w") as f:
    f.write(header)
    for row, label in zip(x, y):
        f.write(",".join(map(str, row)) + f",{label}\n")
# ~1 GB: the same rows as floats with 6 decimals, repeated.
rows = [",".join(f"{v / 255:.6f}" for v in row) + f",{label}\n" for row, label in zip(x[:2000], y[:2000])]
with open(f"{work}/big.csv", "w") as f:
    f.write(header)
    written = 0
    while written < 1e9:
        for line in rows:
            f.write(line); written += len(line)
PY
bench=build/dpforge_bench_readers
{
  $bench idx "$fm/train-images-idx3-ubyte.gz,$fm/train-labels-idx1-ubyte.gz"
  $bench npz "$work/u8.npz"
  $bench npz "$work/f32.npz"
  $bench npy "$work/x.npy,$work/y.npy"
  $bench csv "$work/fmnist.csv" label
  $bench csv "$work/big.csv" label
} >"$work/results.jsonl"
"$root/.venv/bin/python" - "$work/results.jsonl" <<'PY'
import json, sys
names = ["IDX (gzip), uint8", "NPZ, uint8", "NPZ, float32", "NPY x + y, float32",
         "CSV, 784 integer columns", "CSV, ~1 GB of floats"]
print("| source | file MB | examples | seconds | MB/s | peak RSS growth (MiB) |")
print("|---|---|---|---|---|---|")
for name, line in zip(names, open(sys.argv[1])):
    r = json.loads(line)
    print(f"| {name} | {r['bytes'] / 1e6:.0f} | {r['examples']} | {r['seconds']:.3f} | "
          f"{r['mb_per_s']:.0f} | {r['peak_rss_growth_mib']} |")
PY
