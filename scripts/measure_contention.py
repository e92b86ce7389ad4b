#!/usr/bin/env python3
"""The contention benchmark (issue 26): how a run holds up when the machine is shared.

Trains a recipe (default recipes/quickstart.ini, train.seed=1) alone, two at once, beside a
busy-loop process and under `taskset -c 0`, and prints the training time each run printed ("...
after N steps in T s") with the thread count it chose; then times `dpforge sweep` over 4 points
one at a time and with --jobs 2. Prints Markdown tables; docs/performance.md quotes them.

    .venv/bin/python scripts/measure_contention.py [--recipe R] [--set key=value ...] [--repeats K]

Run it on an otherwise idle machine: any neighbour shows up in the numbers. Needs a build
(scripts/setup.sh). Standard library only.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / os.environ.get("DPFORGE_BUILD_DIR", "build") / "dpforge"
TRAINING = re.compile(r" after \d+ steps in ([0-9.]+)s$", re.M)
THREADS = re.compile(r"^dpforge: .* \| (\d+ threads? \(.*\))$", re.M)


def start(command, scratch, name, prefix=()):
    log = open(scratch / f"{name}.log", "w")
    process = subprocess.Popen([*prefix, *command], stdout=log, stderr=subprocess.STDOUT)
    return process, scratch / f"{name}.log"


def finish(run):
    process, log = run
    if process.wait() != 0:
        sys.exit(f"measure_contention: a run failed:\n{log.read_text()}")
    text = log.read_text()
    return float(TRAINING.search(text).group(1)), THREADS.search(text).group(1)


def train_command(args, out, extra=()):
    command = [str(BINARY), "train", args.recipe, "--set", "train.seed=1", "--out", str(out)]
    for value in [*args.set, *extra]:
        command += ["--set", value]
    return command


def measure(args, scratch, label, runs, busy=False, prefix=()):
    """Median over the repeats of each run's training time (runs = extra --set lists, at once)."""
    times, threads = [[] for _ in runs], ""
    for repeat in range(args.repeats):
        spinner = subprocess.Popen(["bash", "-c", "while :; do :; done"]) if busy else None
        try:
            started = [start(train_command(args, scratch / f"{label}-{repeat}-{i}", extra), scratch,
                             f"{label}-{repeat}-{i}", prefix) for i, extra in enumerate(runs)]
            for i, run in enumerate(started):
                seconds, threads = finish(run)
                times[i].append(seconds)
        finally:
            if spinner:
                spinner.kill()
                spinner.wait()
    medians = [statistics.median(t) for t in times]
    return " and ".join(f"{m:.1f} s" for m in medians), threads, max(medians)


def sweep_seconds(args, scratch, name, extra=()):
    command = [str(BINARY), "sweep", args.recipe, "--set", "train.seed=1",
               "--grid", "train.lr=0.001,0.002,0.003,0.004", "--out", str(scratch / name), *extra]
    for value in args.set:
        command += ["--set", value]
    begin = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"measure_contention: the sweep failed:\n{result.stderr}")
    return time.monotonic() - begin


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "quickstart.ini"))
    parser.add_argument("--set", action="append", default=[], help="recipe override for every run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (median)")
    args = parser.parse_args()
    if not BINARY.exists():
        sys.exit(f"measure_contention: no {BINARY}; run scripts/setup.sh first")
    scratch = Path(tempfile.mkdtemp(prefix="dpforge-contention-"))
    try:
        alone = measure(args, scratch, "alone", [()])
        rows = [
            ("alone, default threads", alone),
            ("alone, run.threads=1", measure(args, scratch, "alone1", [("run.threads=1",)])),
            ("two at once, run.threads=1 each",
             measure(args, scratch, "two1", [("run.threads=1",), ("run.threads=1",)])),
            ("two at once, default threads", measure(args, scratch, "two", [(), ()])),
            ("alone, default threads, one busy-loop process beside it",
             measure(args, scratch, "busy", [()], busy=True)),
            ("under taskset -c 0, default threads",
             measure(args, scratch, "pinned", [()], prefix=("taskset", "-c", "0"))),
        ]
        print(f"| setting | training time (median of {args.repeats}) | x alone | threads chosen |")
        print("|---|---|---|---|")
        for label, (text, threads, worst) in rows:
            print(f"| {label} | {text} | {worst / alone[2]:.2f} | {threads} |")
        one = sweep_seconds(args, scratch, "sweep1")
        two = sweep_seconds(args, scratch, "sweep2", ("--jobs", "2"))
        print("\n| sweep over 4 points (train.lr), wall time end to end | seconds |")
        print("|---|---|")
        print(f"| one at a time | {one:.1f} |")
        print(f"| --jobs 2 | {two:.1f} ({100 * two / one:.0f}% of one at a time) |")
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name")), "unknown CPU")
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        print(f"\n{os.cpu_count()} cores ({cpu}), {time.strftime('%Y-%m-%d')}, {commit}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
