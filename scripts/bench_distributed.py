#!/usr/bin/env python3
"""The DP-SGD step on ranks against the same step in one process (docs/distributed.md).

On one machine of C cores: one process with C threads against C ranks of one thread each (2 on the
2-core CI machine class), every rank stepping its slice of the same batch, the clipped sums
all-reduced over torch.distributed's Gloo on 127.0.0.1, the noise added once. Prints a table of
the median step times and their ratio (issue 21's target: at most 1.15 at batch 1024).

    .venv/bin/python scripts/bench_distributed.py [--models mlp,cnn_tanh,token_block]
        [--batch 1024] [--ranks 2] [--repeats 10]

Needs a build (scripts/setup.sh); run it on an otherwise idle machine.
"""
import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_process(bench, models, batch, threads, repeats):
    output = subprocess.run(
        [bench, "--models", models, "--batches", str(batch), "--variants", "flat", "--threads",
         str(threads), "--repeats", str(repeats), "--json"],
        check=True, capture_output=True, text=True).stdout
    rows = json.loads(output.strip().splitlines()[-1])["rows"]
    return {row["model"]: row["median_ms"] for row in rows}


def ranks(bench, models, batch, world, repeats):
    port = str(random.randint(20000, 40000))
    processes = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1")
        processes.append(subprocess.Popen(
            [bench, "--data-parallel", "--models", models, "--batches", str(batch), "--threads",
             "1", "--repeats", str(repeats)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [process.communicate(timeout=1800) for process in processes]
    for rank, (process, (_, err)) in enumerate(zip(processes, outputs)):
        if process.returncode != 0:
            sys.exit(f"bench_distributed: rank {rank} failed:\n{err}")
    rows = [json.loads(line) for line in outputs[0][0].splitlines() if line.startswith("{")]
    return {row["model"]: row for row in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn_tanh,token_block")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--ranks", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--bench", default=str(ROOT / "build" / "dpforge_bench"))
    args = parser.parse_args()
    single = one_process(args.bench, args.models, args.batch, args.ranks, args.repeats)
    spread = ranks(args.bench, args.models, args.batch, args.ranks, args.repeats)
    print(f"{'model':<12} {'batch':>6} {'params':>8} {'1 x ' + str(args.ranks) + ' threads ms':>18} "
          f"{str(args.ranks) + ' ranks x 1 ms':>16} {'ratio':>7} {'all-reduce MB':>14} "
          f"{'all-reduce ms':>14}")
    for model in args.models.split(","):
        row = spread[model]
        print(f"{model:<12} {args.batch:>6} {row['parameters']:>8} {single[model]:>18.2f} "
              f"{row['median_ms']:>16.2f} {row['median_ms'] / single[model]:>7.2f} "
              f"{row['all_reduce_bytes'] / 1e6:>14.2f} {row['all_reduce_ms']:>14.3f}")


if __name__ == "__main__":
    main()
