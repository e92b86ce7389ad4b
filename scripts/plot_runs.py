#!/usr/bin/env python3
"""Plots of dpforge runs, from their report.json files.

    .venv/bin/python scripts/plot_runs.py RUN_OR_SWEEP_DIR... [--out DIR]

A sweep folder (with summary.json) stands for all of its runs. Writes to --out (default: the
first folder given, or its plots/ subfolder for a sweep):
  accuracy_vs_epsilon.png   test accuracy against the accountant's epsilon (non-private runs as
                            horizontal lines: epsilon = infinity);
  epsilon_vs_audit.png      accountant epsilon against the audited lower bound, with y = x (a point
                            above the line would be a violation);
  roc.png                   log-log ROC of the strongest black-box attack on each released model;
  epsilon_vs_step.png       epsilon spent against training step, per private run.
"""
import argparse
import json
import math
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def load_runs(paths):
    runs = []
    for path in map(pathlib.Path, paths):
        if (path / "summary.json").exists():
            children = [pathlib.Path(r["dir"]) for r in json.loads((path / "summary.json").read_text())["runs"]]
        else:
            children = [path]
        for child in children:
            report_path = child / "report.json"
            if not report_path.exists():
                sys.exit(f"plot_runs: {child} has no report.json (not a finished dpforge run)")
            report = json.loads(report_path.read_text())
            report["_dir"] = str(child)
            runs.append(report)
    if not runs:
        sys.exit("plot_runs: no runs given")
    return runs


def label(run):
    return run["recipe"]["name"]


def strongest_attack(run):
    mia = run.get("mia") or {}
    attacks = [(value["auroc"], name) for name, value in mia.items() if isinstance(value, dict) and "auroc" in value]
    return max(attacks)[1] if attacks else None


def accuracy_vs_epsilon(runs, out):
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    private = sorted((r for r in runs if r["privacy"]["enabled"]), key=lambda r: r["privacy"]["epsilon"])
    if private:
        ax.plot([r["privacy"]["epsilon"] for r in private], [100 * r["test_accuracy"] for r in private],
                "o-", color="tab:blue", label="DP-SGD")
        for r in private:
            ax.annotate(label(r), (r["privacy"]["epsilon"], 100 * r["test_accuracy"]), fontsize=7,
                        xytext=(4, -10), textcoords="offset points")
        ax.set_xscale("log")
        # Ticks at the runs' own epsilons, written plainly (not 3x10^0).
        ax.set_xticks(sorted({round(r["privacy"]["epsilon"], 3) for r in private}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for i, r in enumerate(r for r in runs if not r["privacy"]["enabled"]):
        ax.axhline(100 * r["test_accuracy"], linestyle="--", color=f"C{i + 1}",
                   label=f"{label(r)} (not private)")
    ax.set_xlabel("epsilon (accountant, delta as in each run)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy against privacy budget")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_epsilon.png", dpi=120)
    plt.close(fig)


def epsilon_vs_audit(runs, out):
    audited = [r for r in runs if r["privacy"]["enabled"] and r.get("audit", {}).get("enabled")]
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    top = max([1.0] + [r["privacy"]["epsilon"] for r in audited]) * 1.1
    ax.plot([0, top], [0, top], "k--", linewidth=1, label="y = x (bound = claim)")
    for r in audited:
        color = "tab:red" if r["audit"]["status"] == "violation" else "tab:green"
        ax.scatter(r["privacy"]["epsilon"], r["audit"]["epsilon_lower_bound_best"], color=color, zorder=3)
        ax.annotate(label(r), (r["privacy"]["epsilon"], r["audit"]["epsilon_lower_bound_best"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("accountant epsilon (claimed upper bound)")
    ax.set_ylabel("audited epsilon lower bound (95%)")
    ax.set_title("Claim against audit" + ("" if audited else " (no audited runs)"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "epsilon_vs_audit.png", dpi=120)
    plt.close(fig)


def roc(runs, out):
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    floor = 1e-4
    ax.plot([floor, 1], [floor, 1], "k:", linewidth=1, label="chance")
    for i, r in enumerate(runs):
        attack = strongest_attack(r)
        if attack is None or "roc" not in r["mia"][attack]:
            continue
        # FPR 0 has no place on a log axis: the curve starts at the first false positive.
        roc = r["mia"][attack]["roc"]
        pairs = zip(roc["fpr"], roc["tpr"]) if isinstance(roc, dict) else roc  # older: [fpr, tpr]
        points = [(f, max(t, floor)) for f, t in pairs if f > 0]
        ax.plot(*zip(*points), color=f"C{i}", label=f"{label(r)}: {attack} (AUC {r['mia'][attack]['auroc']:.3f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Membership inference on the released models")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=120)
    plt.close(fig)


def epsilon_vs_step(runs, out):
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, r in enumerate(r for r in runs if r["privacy"]["enabled"]):
        points = [(0, 0.0)] + [(e["steps"], e["epsilon"]) for e in r["epochs"] if e.get("epsilon") is not None]
        ax.plot(*zip(*points), "o-", markersize=3, color=f"C{i}", label=label(r))
        target = r["privacy"].get("target_epsilon")
        if target:
            ax.axhline(target, color=f"C{i}", linestyle=":", linewidth=1)
    ax.set_xlabel("training step")
    ax.set_ylabel("epsilon spent (accountant)")
    ax.set_title("Privacy spent during training (dotted: target)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "epsilon_vs_step.png", dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", help="run folders or sweep folders")
    parser.add_argument("--out", help="folder for the PNGs")
    args = parser.parse_args()
    runs = load_runs(args.dirs)
    first = pathlib.Path(args.dirs[0])
    out = pathlib.Path(args.out) if args.out else (first / "plots" if (first / "summary.json").exists() else first)
    out.mkdir(parents=True, exist_ok=True)
    for plot in (accuracy_vs_epsilon, epsilon_vs_audit, roc, epsilon_vs_step):
        plot(runs, out)
    print(f"plot_runs: {len(runs)} runs -> {out}/{{accuracy_vs_epsilon,epsilon_vs_audit,roc,epsilon_vs_step}}.png")


if __name__ == "__main__":
    main()
