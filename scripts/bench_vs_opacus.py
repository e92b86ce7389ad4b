#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""dpforge against Opacus and plain PyTorch: step time and peak memory, side by side.

For every (model, batch) cell, the same number of threads and the same machine, this runs in turn
(round-robin, `--rounds` times, so a slow spell of a shared machine hits all alike):

  dpforge non-private   dpforge_bench --variants nonprivate
  dpforge DP-SGD        dpforge_bench --variants flat   (ghost/book-keeping, flat clipping)
  PyTorch               the same architecture in Python, plain training
  Opacus hooks          PrivacyEngine, grad_sample_mode="hooks" (per-sample gradients)
  Opacus ghost          PrivacyEngine, grad_sample_mode="ghost" (fast gradient clipping)

Each is a fresh process that builds the model, warms up, times `--repeats` steps (median) and
reports two peaks of memory beyond what was live before its first step: of CPU tensors (dpforge:
its allocator meter; Python: the profiler's allocation records, in untimed steps) and of the
process's resident memory. On a GPU, the CUDA caching allocator's peak instead. The models are
built with identical shapes on both sides (checked by parameter count). All processes run on the
heap allocator dpforge's executables run on (jemalloc with freed pages kept, preloaded into the
Python processes; include/dpforge/core/allocator.h), or, where libjemalloc is missing, with the
glibc settings dpforge then uses, so the comparison is of the DP engines, not of malloc. DP settings: noise multiplier 1, C = 1, fixed
batches (no Poisson sampling: the same work in every step), SGD lr 1e-3, plain (non-secure) noise.

  .venv/bin/python scripts/bench_vs_opacus.py --models mlp,cnn_tanh,token_block --batches 256,1024
  .venv/bin/python scripts/bench_vs_opacus.py --markdown   # the table for docs/performance.md
  python3 scripts/bench_vs_opacus.py --device cuda --dpforge-bench build-cuda/dpforge_bench  # on a GPU
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPACUS_VERSION = "1.6.0"  # pinned in scripts/requirements.txt
# dpforge's executables link jemalloc with these options (src/core/jemalloc_conf.cpp) when it is
# installed; the Python processes get the same by preloading it. Else what
# dpforge::keep_freed_memory_for_reuse() sets with mallopt, as glibc environment variables.
JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
if JEMALLOC.exists():
    ALLOCATOR_ENV = {"LD_PRELOAD": str(JEMALLOC),
                     "MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0"}
else:
    ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
                     "MALLOC_TOP_PAD_": str(64 << 20)}
VOCABULARY, TOKENS, WIDTH = 1024, 64, 128  # token_block, as in src/bench/bench_main.cpp


def ensure_opacus():
    """Installs the pinned Opacus into this interpreter's environment, never touching torch."""
    import importlib.util
    if importlib.util.find_spec("opacus") is not None:  # not imported: this process stays small
        return
    print(f"installing opacus=={OPACUS_VERSION} (no dependencies: torch stays as it is)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", f"opacus=={OPACUS_VERSION}"], check=True)


# ---- the models, mirroring src/nn/models.cpp layer for layer ---------------------------------

def build_model(arch):
    import torch.nn as nn

    class MeanOverTokens(nn.Module):
        def forward(self, x):
            return x.mean(1)

    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(),
                             nn.Linear(256, 10))
    if arch == "cnn_tanh":
        return nn.Sequential(nn.Conv2d(1, 16, 8, stride=2, padding=2), nn.Tanh(), nn.MaxPool2d(2, 1),
                             nn.Conv2d(16, 32, 4, stride=2), nn.Tanh(), nn.MaxPool2d(2, 1), nn.Flatten(),
                             nn.Linear(32 * 4 * 4, 32), nn.Tanh(), nn.Linear(32, 10))
    if arch == "token_block":
        return nn.Sequential(nn.Embedding(VOCABULARY, WIDTH), nn.LayerNorm(WIDTH), nn.Linear(WIDTH, 4 * WIDTH),
                             nn.Tanh(), nn.Linear(4 * WIDTH, WIDTH), nn.LayerNorm(WIDTH), MeanOverTokens(),
                             nn.Linear(WIDTH, 10))
    if arch == "wrn16_4":
        groups = 16

        class WideBlock(nn.Module):  # pre-activation: GN, ReLU, conv3x3(stride), GN, ReLU, conv3x3 (+1x1)
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.norm1 = nn.GroupNorm(groups, cin)
                self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
                self.norm2 = nn.GroupNorm(groups, cout)
                self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
                self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride) if cin != cout or stride != 1 else None

            def forward(self, x):
                a = nn.functional.relu(self.norm1(x))
                out = self.conv2(nn.functional.relu(self.norm2(self.conv1(a))))
                return out + (self.shortcut(a) if self.shortcut is not None else x)

        layers = [nn.Conv2d(1, 16, 3, padding=1)]
        channels = 16
        for width, stride in ((64, 1), (128, 2), (256, 2)):
            for block in range(2):
                layers.append(WideBlock(channels, width, stride if block == 0 else 1))
                channels = width
        layers += [nn.GroupNorm(groups, channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                   nn.Linear(channels, 10)]
        return nn.Sequential(*layers)
    raise SystemExit(f"unknown model {arch}")


def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_resident_mib():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent process.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tensor_peak_mib(step, steps=2):
    """The most memory held by CPU tensors during `steps` more steps, beyond what was live before
    them: dpforge_bench's tensor meter (src/bench/tensor_memory_meter.h), read here from the
    profiler's record of every CPU allocation and release (PyTorch has no CPU allocator hook in
    Python). These steps are not timed. A step holds nothing when it ends (step() drops the
    gradients), so every block released under the profiler was allocated under it; a release of an
    unknown block would go uncounted, and that would be an error, not a peak."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        for _ in range(steps):
            step()
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()  # negative for a release
        peak = max(peak, live)
    if live > 1 << 20:
        raise SystemExit(f"{live / 2**20:.1f} MiB of CPU tensors outlived {steps} steps: the tensor peak "
                         "would count memory the profiler could not see released")
    return peak / 2**20


def python_worker(args):
    """One process, one variant: prints {median_ms, peak_added_mib, peak_tensor_mib, parameters} as JSON."""
    import torch
    import torch.nn as nn
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    tensor_peak = None  # CPU only: on a GPU, peak_added_mib is already the allocator's peak
    model = build_model(args.model).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    if args.model == "token_block":
        x = torch.randint(VOCABULARY, (args.batch, TOKENS))
    else:
        x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(10, (args.batch,))
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    if args.worker != "torch":
        import warnings
        warnings.filterwarnings("ignore")
        from opacus import PrivacyEngine
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=args.batch)
        engine = PrivacyEngine()
        made = engine.make_private(module=model, optimizer=optimizer, data_loader=loader, criterion=criterion,
                                   noise_multiplier=1.0, max_grad_norm=1.0, poisson_sampling=False,
                                   grad_sample_mode="ghost" if args.worker == "opacus_ghost" else "hooks")
        if args.worker == "opacus_ghost":
            model, optimizer, criterion, _ = made
        else:
            model, optimizer, _ = made

    def step():
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        # Nothing is held between steps (Opacus also drops its per-sample state here), as in
        # dpforge_bench, so neither side's leftovers count in the next step's peak.
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():  # library start-up is not training memory (as in dpforge_bench)
        model(x[:1])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        before = resident_mib()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_resident_mib()
    if device.type == "cpu":  # last: the profiler's own memory stays out of the resident peak
        tensor_peak = tensor_peak_mib(step)
    print(json.dumps({"median_ms": statistics.median(times), "peak_added_mib": peak - before,
                      "peak_tensor_mib": tensor_peak, "parameters": parameters}))


# ---- the orchestrator -------------------------------------------------------------------------

VARIANTS = ["dpforge_nonprivate", "dpforge_dp", "torch", "opacus_hooks", "opacus_ghost"]


def run_variant(variant, model, batch, args):
    env = dict(os.environ, **ALLOCATOR_ENV, OMP_NUM_THREADS=str(args.threads))
    if variant.startswith("dpforge"):
        command = [str(args.dpforge_bench), "--models", model, "--batches", str(batch), "--repeats", str(args.repeats),
                   "--warmup", str(args.warmup), "--threads", str(args.threads), "--json", "--device", args.device,
                   "--variants", "nonprivate" if variant == "dpforge_nonprivate" else "flat"]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        row = json.loads(out)["rows"][0]
        return {"median_ms": row["median_ms"], "peak_added_mib": row["peak_added_mib"],
                "peak_tensor_mib": row.get("peak_tensor_mib"), "parameters": row["parameters"]}
    command = [sys.executable, __file__, "--worker", variant, "--model", model, "--batch", str(batch),
               "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--threads", str(args.threads),
               "--device", args.device]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(args):
    cells = []
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            results = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                for variant in VARIANTS:
                    results[variant].append(run_variant(variant, model, batch, args))
            cell = {"model": model, "batch": batch}
            for variant, runs in results.items():
                good = [r for r in runs if "error" not in r]
                if not good:
                    cell[variant] = {"error": runs[0]["error"]}
                    continue
                tensor_peaks = [r["peak_tensor_mib"] for r in good if r.get("peak_tensor_mib") is not None]
                cell[variant] = {"median_ms": statistics.median(r["median_ms"] for r in good),
                                 "peak_added_mib": max(r["peak_added_mib"] for r in good),
                                 "peak_tensor_mib": max(tensor_peaks) if tensor_peaks else None,
                                 "parameters": good[0]["parameters"]}
            counts = {cell[v]["parameters"] for v in VARIANTS if "parameters" in cell[v]}
            if len(counts) > 1:
                raise SystemExit(f"{model}: parameter counts differ between implementations: {counts}")
            cells.append(cell)
            print(f"measured {model} batch {batch}", file=sys.stderr)
    return cells


def render(cells, args, markdown):
    def ms(cell, v):
        return cell[v].get("median_ms")

    def fmt_ms(x):
        return "failed" if x is None else f"{x:.1f}"

    def ratio(a, b):
        return "–" if a is None or b is None else f"{a / b:.2f}x"

    def mem(cell, v, key="peak_added_mib"):
        m = cell[v].get(key)
        return "–" if m is None else f"{m:.1f}" if m < 10 else f"{m:.0f}"

    def tensors(cell, v):
        return mem(cell, v, "peak_tensor_mib")

    def tensor_ratio(cell, v, base):
        a, b = cell[v].get("peak_tensor_mib"), cell[base].get("peak_tensor_mib")
        return "–" if not a or not b else f"{a / b:.2f}x"

    # On a GPU both memory columns are the CUDA caching allocator's peak, so only one is printed.
    on_cpu = args.device == "cpu"
    header = ["model", "batch", "params", "dpforge non-private ms", "dpforge DP ms", "dpforge DP/non-private",
              "PyTorch ms", "Opacus hooks ms", "hooks/PyTorch", "Opacus ghost ms", "ghost/PyTorch",
              "dpforge speed-up vs hooks", "vs ghost"]
    if on_cpu:
        header += ["tensor MiB dpforge non-private / DP (DP/non-private)",
                   "tensor MiB PyTorch / hooks / ghost (ghost/PyTorch)"]
    header += ["resident MiB dpforge non-private / DP" if on_cpu else "peak MiB dpforge non-private / DP",
               "resident MiB PyTorch / hooks / ghost" if on_cpu else "peak MiB PyTorch / hooks / ghost"]
    rows = []
    for c in cells:
        d_np, d_dp, pt = ms(c, "dpforge_nonprivate"), ms(c, "dpforge_dp"), ms(c, "torch")
        hooks, ghost = ms(c, "opacus_hooks"), ms(c, "opacus_ghost")
        params = next((c[v]["parameters"] for v in VARIANTS if "parameters" in c[v]), 0)
        rows.append([c["model"], str(c["batch"]), f"{params / 1000:.0f}k", fmt_ms(d_np), fmt_ms(d_dp),
                     ratio(d_dp, d_np), fmt_ms(pt), fmt_ms(hooks), ratio(hooks, pt), fmt_ms(ghost),
                     ratio(ghost, pt), ratio(hooks, d_dp), ratio(ghost, d_dp)])
        if on_cpu:
            rows[-1] += [f"{tensors(c, 'dpforge_nonprivate')} / {tensors(c, 'dpforge_dp')} "
                         f"({tensor_ratio(c, 'dpforge_dp', 'dpforge_nonprivate')})",
                         f"{tensors(c, 'torch')} / {tensors(c, 'opacus_hooks')} / {tensors(c, 'opacus_ghost')} "
                         f"({tensor_ratio(c, 'opacus_ghost', 'torch')})"]
        rows[-1] += [f"{mem(c, 'dpforge_nonprivate')} / {mem(c, 'dpforge_dp')}",
                     f"{mem(c, 'torch')} / {mem(c, 'opacus_hooks')} / {mem(c, 'opacus_ghost')}"]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows]
    import torch
    lines.append("")
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else (platform.processor() or platform.machine())
    lines.append(f"{time.strftime('%Y-%m-%d')}, {where}, {os.cpu_count()} cores, "
                 f"{args.threads} threads, torch {torch.__version__}, opacus {OPACUS_VERSION}, median of "
                 f"{args.repeats} steps after {args.warmup} warm-up, {args.rounds} interleaved rounds, heap "
                 f"{'jemalloc (freed pages kept)' if 'LD_PRELOAD' in ALLOCATOR_ENV else 'glibc (freed memory kept)'}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,cnn_tanh,token_block")
    parser.add_argument("--batches", default="256,1024")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: needs a CUDA torch here and dpforge built by scripts/build_cuda.sh "
                             "(pass --dpforge-bench build-cuda/dpforge_bench); memory is then the CUDA "
                             "caching allocator's peak on both sides")
    parser.add_argument("--dpforge-bench", type=Path, default=ROOT / "build" / "dpforge_bench")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--worker", choices=["torch", "opacus_hooks", "opacus_ghost"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        python_worker(args)
        return
    ensure_opacus()
    if not args.dpforge_bench.exists():
        raise SystemExit(f"{args.dpforge_bench} not found: build dpforge first (scripts/setup.sh)")
    cells = measure(args)
    if args.json:
        args.json.write_text(json.dumps(cells, indent=1))
    print(render(cells, args, args.markdown))


if __name__ == "__main__":
    main()
