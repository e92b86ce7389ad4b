#!/usr/bin/env python3
"""Cross-checks dpforge's accountants against the reference libraries users trust.

Compares, on a grid of settings (q from 1e-4 to 1, sigma from 0.5 to 20, steps 1 to 1e5,
delta 1e-5 and 1e-8), what `dpforge budget` / `dpforge calibrate` print with:
  - Opacus's RDP (opacus.accountants.analysis.rdp) on Opacus's order grid: <= 1e-6 relative
    (same orders, same signed fractional series, same conversion);
  - dp_accounting's RDP on the integer orders of its grid (2..63, 128..1024), where both use the
    exact binomial sum: <= 1e-6 relative; and on its full grid dpforge <= dp_accounting (which sums
    |terms| of the fractional series since 2024 and drops orders that do not converge, so it is
    conservative there);
  - dp_accounting's PLD (connect-the-dots, pessimistic, 1e-4 grid): within 1% (+1e-3 absolute);
  - calibrated sigma: RDP against a brentq root of Opacus's epsilon (1e-4 relative) and PLD
    against a bisection on dp_accounting's PLD (1%) on a few settings.
Exits 1 on any failure and prints one line per failed setting, then a summary.

Usage: scripts/crosscheck_accountants.py --dpforge build/dpforge [--quick]
The packages come from scripts/requirements.txt (installed by scripts/setup.sh).
"""
import argparse
import itertools
import json
import logging
import math
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")  # opacus warns when the optimal order sits at a grid edge
logging.disable(logging.WARNING)    # dp_accounting logs every order its series drops

import dp_accounting
from dp_accounting import pld as dp_pld
from dp_accounting import rdp as dp_rdp
from opacus.accountants.analysis import rdp as opacus_rdp
from scipy import optimize

OPACUS_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def dpforge(binary, *args):
    out = subprocess.run([binary, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def opacus_epsilon(q, sigma, steps, delta):
    rdp = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=OPACUS_ORDERS)
    eps, _ = opacus_rdp.get_privacy_spent(orders=OPACUS_ORDERS, rdp=rdp, delta=delta)
    return float(eps)


def event(q, sigma, steps):
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)


INTEGER_ORDERS = list(range(2, 64)) + [128, 256, 512, 1024]


def dpacc_rdp_epsilon(q, sigma, steps, delta, orders=None):
    accountant = dp_rdp.RdpAccountant(orders) if orders else dp_rdp.RdpAccountant()
    accountant.compose(event(q, sigma, steps))
    return accountant.get_epsilon(delta)


def dpacc_pld_epsilon(q, sigma, steps, delta):
    accountant = dp_pld.PLDAccountant()
    accountant.compose(event(q, sigma, steps))
    return accountant.get_epsilon(delta)


def close(actual, expected, rel, absolute=0.0):
    return abs(actual - expected) <= rel * abs(expected) + absolute


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpforge", required=True)
    parser.add_argument("--quick", action="store_true", help="a smaller grid (for development)")
    args = parser.parse_args()

    rates = [1e-4, 1e-3, 0.01, 0.05, 0.2, 1.0]
    sigmas = [0.5, 1.0, 2.0, 5.0, 20.0]
    step_counts = [1, 1000, 100000]
    deltas = [1e-5, 1e-8]
    if args.quick:
        rates, sigmas, step_counts, deltas = [1e-3, 0.05, 1.0], [0.5, 2.0], [1, 1000], [1e-5]

    failures, compared, skipped = [], 0, 0
    for q, sigma, steps, delta in itertools.product(rates, sigmas, step_counts, deltas):
        setting = f"q={q} sigma={sigma} steps={steps} delta={delta}"
        reference_rdp = opacus_epsilon(q, sigma, steps, delta)
        if not math.isfinite(reference_rdp) or reference_rdp > 200:
            skipped += 1  # no privacy left to account for: not a meaningful comparison
            continue
        common = ["--sample-rate", repr(q), "--noise-multiplier", repr(sigma),
                  "--steps", str(steps), "--delta", repr(delta)]
        ours_opacus_grid = dpforge(args.dpforge, "budget", *common, "--accountant", "rdp",
                                   "--rdp-orders", "opacus")["epsilon"]["rdp"]["epsilon"]
        ours = dpforge(args.dpforge, "budget", *common, "--accountant", "all")["epsilon"]
        compared += 1
        # dp_accounting (and dpforge) report ε = 0 when δ ≥ √(1 − e^{−KL}); Opacus lacks that rule.
        kl_rule = ours_opacus_grid == 0 and dpacc_rdp_epsilon(q, sigma, steps, delta, OPACUS_ORDERS) == 0
        if not (close(ours_opacus_grid, reference_rdp, 1e-6, 1e-9) or kl_rule):
            failures.append(f"RDP vs opacus: {setting}: dpforge {ours_opacus_grid!r} opacus {reference_rdp!r}")
        dpacc_rdp = dpacc_rdp_epsilon(q, sigma, steps, delta)
        if not ours["rdp"]["epsilon"] <= dpacc_rdp * (1 + 1e-6) + 1e-9:
            failures.append(f"RDP above dp_accounting: {setting}: dpforge {ours['rdp']['epsilon']!r} dp_accounting {dpacc_rdp!r}")
        ours_integer = dpforge(args.dpforge, "budget", *common, "--accountant", "rdp",
                               "--rdp-orders", "integer")["epsilon"]["rdp"]["epsilon"]
        dpacc_integer = dpacc_rdp_epsilon(q, sigma, steps, delta, INTEGER_ORDERS)
        if not close(ours_integer, dpacc_integer, 1e-6, 1e-9):
            failures.append(f"RDP (integer orders) vs dp_accounting: {setting}: dpforge {ours_integer!r} dp_accounting {dpacc_integer!r}")
        dpacc_pld = dpacc_pld_epsilon(q, sigma, steps, delta)
        if not close(ours["pld"]["epsilon"], dpacc_pld, 0.01, 1e-3):
            failures.append(f"PLD vs dp_accounting: {setting}: dpforge {ours['pld']['epsilon']!r} dp_accounting {dpacc_pld!r}")

    calibrations = [(256 / 60000, 7032, 3.0, 1e-5), (0.01, 1000, 1.0, 1e-5), (0.05, 300, 8.0, 1e-8)]
    if args.quick:
        calibrations = calibrations[:1]
    for q, steps, target, delta in calibrations:
        setting = f"target={target} q={q} steps={steps} delta={delta}"
        common = ["--target-epsilon", repr(target), "--sample-rate", repr(q), "--steps", str(steps),
                  "--delta", repr(delta)]
        ours_rdp = dpforge(args.dpforge, "calibrate", *common, "--accountant", "rdp",
                           "--rdp-orders", "opacus")["noise_multiplier"]["rdp"]["noise_multiplier"]
        root = optimize.brentq(lambda s: opacus_epsilon(q, s, steps, delta) - target, 0.3, 50, xtol=1e-10)
        compared += 1
        if not close(ours_rdp, root, 1e-4):
            failures.append(f"calibrated RDP sigma vs opacus root: {setting}: dpforge {ours_rdp!r} opacus {root!r}")
        ours_pld = dpforge(args.dpforge, "calibrate", *common, "--accountant", "pld")["noise_multiplier"]["pld"]["noise_multiplier"]
        low, high = 0.3, ours_rdp  # PLD needs no more noise than RDP
        for _ in range(14):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if dpacc_pld_epsilon(q, middle, steps, delta) > target else (low, middle)
        if not close(ours_pld, high, 0.01):
            failures.append(f"calibrated PLD sigma vs dp_accounting: {setting}: dpforge {ours_pld!r} dp_accounting {high!r}")

    for line in failures:
        print("FAIL", line)
    print(f"crosscheck: {compared} settings compared ({skipped} skipped: RDP epsilon > 200), "
          f"{len(failures)} failures against opacus and dp_accounting")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
