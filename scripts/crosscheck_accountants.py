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
  - dp_accounting's PLD (connect-the-dots, pessimistic, 1e-4 grid), one-sided: dpforge is never
    below it by more than 0.1% (an optimistic accountant is a privacy bug) and at most 1% above it
    (+1e-3 absolute both ways);
  - extreme settings (sigma down to 0.01, q = 1, up to 1e7 steps), where dpforge once printed
    epsilon = 0.1 for sigma = 0.01: the same one-sided PLD check against dp_accounting on a grid
    coarse enough to finish (interval <= 1e-4 epsilon / steps, whose slack is far below 0.1%), each
    reference run in a child process with a time limit; a reference that does not finish is
    reported as skipped, never as a pass;
  - calibrated sigma: RDP against a brentq root of Opacus's epsilon (1e-4 relative) and PLD
    against a bisection on dp_accounting's PLD (1%) on a few settings; `calibrate --epochs`
    against Opacus's get_noise_multiplier(epochs=...) (its sigma is at most 2% above ours, never
    below: it stops within 0.01 of the target epsilon);
  - replace-one adjacency (`budget --adjacency replace_one`): PLD one-sided against
    dp_accounting's PLDAccountant(NeighboringRelation.REPLACE_ONE), epsilon on a grid and the
    calibrated sigma on a few settings;
  - delta at a given epsilon (`budget --epsilon`): PLD one-sided against dp_accounting's
    get_delta (never below it by more than 0.1%, at most 5% above), RDP against dp_accounting's
    compute_delta on Opacus's RDP curve (never below; at most 1e-6 above unless its KL bound is
    the smaller one).
Settings are checked in parallel, one process per core. Exits 1 on any failure and prints one
line per failed setting, then a summary.

Usage: scripts/crosscheck_accountants.py --dpforge build/dpforge [--quick]
The packages come from scripts/requirements.txt (installed by scripts/setup.sh).
"""
import argparse
import concurrent.futures
import itertools
import json
import logging
import math
import multiprocessing
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")  # opacus warns when the optimal order sits at a grid edge
logging.disable(logging.WARNING)    # dp_accounting logs every order its series drops

import dp_accounting
from dp_accounting import pld as dp_pld
from dp_accounting import rdp as dp_rdp
from dp_accounting.rdp import rdp_privacy_accountant
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


def dpacc_replace_one_epsilon(q, sigma, steps, delta):
    accountant = dp_pld.PLDAccountant(dp_accounting.NeighboringRelation.REPLACE_ONE)
    accountant.compose(event(q, sigma, steps))
    return accountant.get_epsilon(delta)


def dpacc_pld_epsilon_coarse(q, sigma, steps, delta, interval):
    accountant = dp_pld.PLDAccountant(value_discretization_interval=interval)
    accountant.compose(event(q, sigma, steps))
    return accountant.get_epsilon(delta)


def close(actual, expected, rel, absolute=0.0):
    return abs(actual - expected) <= rel * abs(expected) + absolute


# One-sided PLD agreement: optimism beyond 0.1% is a privacy bug, pessimism beyond 1% a tightness one.
PLD_OPTIMISM, PLD_PESSIMISM = 1e-3, 1e-2


def pld_failure(setting, ours, reference, label):
    if ours < reference * (1 - PLD_OPTIMISM) - 1e-3:
        return f"PLD below {label} (optimistic): {setting}: dpforge {ours!r} dp_accounting {reference!r}"
    if ours > reference * (1 + PLD_PESSIMISM) + 1e-3:
        return f"PLD above {label} by more than 1%: {setting}: dpforge {ours!r} dp_accounting {reference!r}"
    return None


def _reference_child(queue, function, args):
    queue.put(function(*args))


def with_time_limit(seconds, function, *args):
    """function(*args) in a child process; None if it has not finished within `seconds`."""
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=_reference_child, args=(queue, function, args))
    child.start()
    child.join(seconds)
    if child.is_alive():
        child.terminate()
        child.join()
        return None
    return queue.get() if not queue.empty() else None


def check_grid_setting(binary, q, sigma, steps, delta):
    """(compared, skipped, failures) for one setting of the main grid."""
    setting = f"q={q} sigma={sigma} steps={steps} delta={delta}"
    reference_rdp = opacus_epsilon(q, sigma, steps, delta)
    if not math.isfinite(reference_rdp) or reference_rdp > 200:
        return 0, 1, []  # no privacy left to account for: not a meaningful comparison
    failures = []
    common = ["--sample-rate", repr(q), "--noise-multiplier", repr(sigma),
              "--steps", str(steps), "--delta", repr(delta)]
    ours_opacus_grid = dpforge(binary, "budget", *common, "--accountant", "rdp",
                               "--rdp-orders", "opacus")["epsilon"]["rdp"]["epsilon"]
    ours = dpforge(binary, "budget", *common, "--accountant", "all")["epsilon"]
    # dp_accounting (and dpforge) report ε = 0 when δ ≥ √(1 − e^{−KL}); Opacus lacks that rule.
    kl_rule = ours_opacus_grid == 0 and dpacc_rdp_epsilon(q, sigma, steps, delta, OPACUS_ORDERS) == 0
    if not (close(ours_opacus_grid, reference_rdp, 1e-6, 1e-9) or kl_rule):
        failures.append(f"RDP vs opacus: {setting}: dpforge {ours_opacus_grid!r} opacus {reference_rdp!r}")
    dpacc_rdp = dpacc_rdp_epsilon(q, sigma, steps, delta)
    if not ours["rdp"]["epsilon"] <= dpacc_rdp * (1 + 1e-6) + 1e-9:
        failures.append(f"RDP above dp_accounting: {setting}: dpforge {ours['rdp']['epsilon']!r} dp_accounting {dpacc_rdp!r}")
    ours_integer = dpforge(binary, "budget", *common, "--accountant", "rdp",
                           "--rdp-orders", "integer")["epsilon"]["rdp"]["epsilon"]
    dpacc_integer = dpacc_rdp_epsilon(q, sigma, steps, delta, INTEGER_ORDERS)
    if not close(ours_integer, dpacc_integer, 1e-6, 1e-9):
        failures.append(f"RDP (integer orders) vs dp_accounting: {setting}: dpforge {ours_integer!r} dp_accounting {dpacc_integer!r}")
    failure = pld_failure(setting, ours["pld"]["epsilon"], dpacc_pld_epsilon(q, sigma, steps, delta),
                          "dp_accounting")
    if failure:
        failures.append(failure)
    return 1, 0, failures


# Where the old PLD overflowed (tiny σ), where one step is the plain Gaussian (q = 1), and where
# T is huge: (q, σ, T).
EXTREME_SETTINGS = [(0.01, 0.01, 10), (0.01, 0.02, 10), (0.01, 0.03, 10), (0.01, 0.05, 10),
                    (0.1, 0.02, 100), (1.0, 0.01, 10), (1.0, 0.05, 1), (1.0, 1.0, 10000),
                    (1.0, 5.0, 1000000), (0.001, 1.0, 10000000), (0.01, 0.1, 1000),
                    (1e-6, 1.0, 10000000), (0.05, 0.3, 1000), (0.05, 0.3, 100000)]
EXTREME_TIME_LIMIT = 300


def check_extreme_setting(binary, q, sigma, steps, delta=1e-5):
    """(compared, skipped, failures) for one extreme setting."""
    setting = f"extreme q={q} sigma={sigma} steps={steps} delta={delta}"
    common = ["--sample-rate", repr(q), "--noise-multiplier", repr(sigma),
              "--steps", str(steps), "--delta", repr(delta)]
    ours = dpforge(binary, "budget", *common, "--accountant", "pld")["epsilon"]["pld"]["epsilon"]
    if not math.isfinite(ours):
        return 1, 0, [f"PLD not finite: {setting}: dpforge {ours!r}"]
    # dp_accounting's slack grows like T times its interval (its composed loss is rounded each
    # step), so its interval shrinks with T: at most 1e-4·ε/T, and never finer than its default.
    interval = max(1e-4, min(ours / 2e5, 1e-4 * ours / steps))
    reference = with_time_limit(EXTREME_TIME_LIMIT, dpacc_pld_epsilon_coarse, q, sigma, steps,
                                delta, interval)
    if reference is None:
        print(f"skipped (dp_accounting did not finish in {EXTREME_TIME_LIMIT} s): {setting}", flush=True)
        return 0, 1, []
    failure = pld_failure(setting, ours, reference, f"dp_accounting (interval {interval:.3g})")
    return 1, 0, [failure] if failure else []


def check_replace_one(binary, q, sigma, steps, delta):
    """(compared, skipped, failures): replace-one epsilon against dp_accounting's REPLACE_ONE."""
    setting = f"replace_one q={q} sigma={sigma} steps={steps} delta={delta}"
    common = ["--sample-rate", repr(q), "--noise-multiplier", repr(sigma), "--steps", str(steps),
              "--delta", repr(delta), "--adjacency", "replace_one"]
    result = dpforge(binary, "budget", *common)
    if list(result["epsilon"]) != ["pld"] or result["adjacency"] != "replace_one":
        return 1, 0, [f"budget --adjacency replace_one answered {result!r}: {setting}"]
    reference = dpacc_replace_one_epsilon(q, sigma, steps, delta)
    failure = pld_failure(setting, result["epsilon"]["pld"]["epsilon"], reference,
                          "dp_accounting REPLACE_ONE")
    return 1, 0, [failure] if failure else []


def check_replace_one_calibration(binary, q, steps, target, delta):
    """The calibrated replace-one sigma meets the target by dp_accounting's REPLACE_ONE too."""
    setting = f"replace_one target={target} q={q} steps={steps} delta={delta}"
    ours = dpforge(binary, "calibrate", "--sample-rate", repr(q), "--steps", str(steps),
                   "--delta", repr(delta), "--target-epsilon", repr(target),
                   "--adjacency", "replace_one")["noise_multiplier"]["pld"]["noise_multiplier"]
    reference = dpacc_replace_one_epsilon(q, ours, steps, delta)
    if reference > target * (1 + PLD_OPTIMISM) + 1e-3:
        return 1, 0, [f"calibrated sigma too small: {setting}: sigma {ours} gives dp_accounting "
                      f"epsilon {reference}"]
    if reference < target * (1 - PLD_PESSIMISM) - 1e-3:
        return 1, 0, [f"calibrated sigma more than 1% pessimistic: {setting}: sigma {ours} gives "
                      f"dp_accounting epsilon {reference}"]
    return 1, 0, []


def check_calibration(binary, q, steps, target, delta):
    setting = f"target={target} q={q} steps={steps} delta={delta}"
    common = ["--target-epsilon", repr(target), "--sample-rate", repr(q), "--steps", str(steps),
              "--delta", repr(delta)]
    failures = []
    ours_rdp = dpforge(binary, "calibrate", *common, "--accountant", "rdp",
                       "--rdp-orders", "opacus")["noise_multiplier"]["rdp"]["noise_multiplier"]
    root = optimize.brentq(lambda s: opacus_epsilon(q, s, steps, delta) - target, 0.3, 50, xtol=1e-10)
    if not close(ours_rdp, root, 1e-4):
        failures.append(f"calibrated RDP sigma vs opacus root: {setting}: dpforge {ours_rdp!r} opacus {root!r}")
    ours_pld = dpforge(binary, "calibrate", *common, "--accountant", "pld")["noise_multiplier"]["pld"]["noise_multiplier"]
    # dp_accounting's root is within 1% of ours (|ours - root| <= 0.01 root) iff its epsilon, which
    # falls with sigma, is above the target at ours/1.01 and at most the target at ours/0.99: two
    # reference PLDs instead of a bisection of fourteen.
    below, above = ours_pld / 1.01, ours_pld / 0.99
    at_below, at_above = dpacc_pld_epsilon(q, below, steps, delta), dpacc_pld_epsilon(q, above, steps, delta)
    if not (at_below > target >= at_above):
        failures.append(f"calibrated PLD sigma vs dp_accounting: {setting}: dpforge {ours_pld!r}, "
                        f"dp_accounting epsilon {at_below!r} at sigma {below!r} and {at_above!r} at "
                        f"{above!r} (the root is not within 1%)")
    return 1, 0, failures


def check_delta(binary, q, sigma, steps, epsilon):
    setting = f"delta at epsilon={epsilon} q={q} sigma={sigma} steps={steps}"
    common = ["--sample-rate", repr(q), "--noise-multiplier", repr(sigma), "--steps", str(steps),
              "--epsilon", repr(epsilon)]
    failures = []
    ours_pld = dpforge(binary, "budget", *common, "--accountant", "pld")["delta"]["pld"]["delta"]
    accountant = dp_pld.PLDAccountant()
    accountant.compose(event(q, sigma, steps))
    reference = accountant.get_delta(epsilon)
    # dp_accounting moves tails of mass 1e-15 (its tail_mass_truncation) into the mass at +inf, so
    # its delta carries slack of that order: below ~1e-13 the two differ by it, not by accounting.
    if ours_pld < reference * (1 - PLD_OPTIMISM) - 1e-13:
        failures.append(f"PLD delta below dp_accounting (optimistic): {setting}: dpforge {ours_pld!r} dp_accounting {reference!r}")
    if ours_pld > reference * 1.05 + 1e-15:
        failures.append(f"PLD delta above dp_accounting by more than 5%: {setting}: dpforge {ours_pld!r} dp_accounting {reference!r}")
    ours_rdp = dpforge(binary, "budget", *common, "--accountant", "rdp",
                       "--rdp-orders", "opacus")["delta"]["rdp"]["delta"]
    rdp = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=OPACUS_ORDERS)
    reference, _ = rdp_privacy_accountant.compute_delta(OPACUS_ORDERS, rdp, epsilon)
    # dp_accounting also takes the KL bound sqrt(1 - e^{-eps_alpha}), which can only lower its δ.
    kl = min(math.sqrt(-math.expm1(-r)) for r in rdp if r > 0)
    if ours_rdp < reference * (1 - 1e-6):
        failures.append(f"RDP delta below dp_accounting (optimistic): {setting}: dpforge {ours_rdp!r} dp_accounting {reference!r}")
    if ours_rdp > reference * (1 + 1e-6) + 1e-300 and not math.isclose(reference, kl, rel_tol=1e-9):
        failures.append(f"RDP delta above dp_accounting: {setting}: dpforge {ours_rdp!r} dp_accounting {reference!r}")
    return 1, 0, failures


def check_epochs_calibration(binary, q, epochs, target, delta):
    """dpforge calibrate --epochs against Opacus's get_noise_multiplier(epochs=...)."""
    from opacus.accountants.utils import get_noise_multiplier
    setting = f"calibrate --epochs {epochs} q={q} target={target} delta={delta}"
    ours = dpforge(binary, "calibrate", "--target-epsilon", repr(target), "--delta", repr(delta),
                   "--sample-rate", repr(q), "--epochs", repr(epochs), "--accountant", "rdp",
                   "--rdp-orders", "opacus")
    theirs = get_noise_multiplier(target_epsilon=target, target_delta=delta, sample_rate=q,
                                  epochs=epochs, accountant="rdp")
    sigma = ours["noise_multiplier"]["rdp"]["noise_multiplier"]
    failures = []
    if ours["steps"] != int(epochs / q):
        failures.append(f"steps differ from Opacus's int(epochs / q): {setting}: {ours['steps']} vs {int(epochs / q)}")
    if not (sigma <= theirs * (1 + 1e-9) and theirs <= sigma * 1.02):
        failures.append(f"calibrated sigma vs opacus get_noise_multiplier: {setting}: dpforge {sigma!r} opacus {theirs!r}")
    return 1, 0, failures


def check_release(binary, release_sigma, sigma, target, vocabulary=False):
    """A private run with DP statistics (data.dp_stats_noise_multiplier): its reported epsilon must
    be dp_accounting's PLD of the Gaussian release composed with the run's DP-SGD steps. With
    `vocabulary`, a categorical column without public categories adds a second Gaussian release
    (its counts) and its threshold's delta eta = -log(1 - share * delta), so epsilon is the PLD's
    at delta - eta (data/dp_vocabulary.h)."""
    import json
    import random
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        generator = random.Random(7)
        with open(f"{tmp}/t.csv", "w") as f:
            f.write("a,b,c,y\n")
            for _ in range(400):
                a, b = generator.uniform(0, 10), generator.uniform(0, 10)
                f.write(f"{a:.4f},{b:.4f},{generator.choice('pq')},{int(a + b > 10)}\n")
        json.dump({"columns": {"a": {"min": 0, "max": 10}, "b": {"min": 0, "max": 10}}},
                  open(f"{tmp}/s.json", "w"))
        noise = f"noise_multiplier = {sigma}" if sigma else ""
        open(f"{tmp}/r.ini", "w").write(f"""[data]
format = csv
train = {tmp}/t.csv
test_fraction = 0.25
label = y
features = {"a,b,c" if vocabulary else "a,b"}
{"categorical = c" if vocabulary else ""}
scaling = standardize
stats = {tmp}/s.json
dp_stats_noise_multiplier = {release_sigma}
[model]
arch = mlp
mlp_hidden = 8
[train]
task = binary
epochs = 3
batch_size = 20
seed = 1
[privacy]
enabled = true
{noise}
target_epsilon = {target}
[audit]
enabled = false
""")
        subprocess.run([binary, "train", f"{tmp}/r.ini", "--out", f"{tmp}/run"], check=True,
                       capture_output=True, text=True)
        privacy = json.load(open(f"{tmp}/run/report.json"))["privacy"]
    q, steps, used_sigma = privacy["sample_rate"], privacy["steps"], privacy["noise_multiplier"]
    releases = 2 if vocabulary else 1
    eta = -math.log1p(-0.1 * privacy["delta"]) if vocabulary else 0.0  # the default share, 0.1
    # After the statistics' releases, the size's Gaussian count (privacy.size_noise_multiplier,
    # default 20: the table's size is not declared public), then the steps; the noise's bounded
    # support takes privacy.support_delta from delta as the thresholds take eta.
    sigmas = [release_sigma] * releases + [20.0]
    accountant = dp_pld.PLDAccountant()
    accountant.compose(dp_accounting.ComposedDpEvent(
        [dp_accounting.GaussianDpEvent(s) for s in sigmas] + [event(q, used_sigma, steps)]))
    reference = accountant.get_epsilon(privacy["delta"] - eta - privacy["support_delta"])
    setting = (f"{releases} release(s) sigma {release_sigma}, q {q}, sigma {used_sigma}, "
               f"{steps} steps")
    failures = []
    if abs(privacy.get("preprocessing_delta", 0.0) - eta) > 1e-6 * max(eta, 1e-300):
        failures.append(f"preprocessing_delta {privacy.get('preprocessing_delta')} is not eta "
                        f"{eta}: {setting}")
    failure = pld_failure(setting, privacy["epsilon"], reference, "dp_accounting (with release)")
    if failure:
        failures.append(failure)
    if target and reference > target * (1 + PLD_OPTIMISM) + 1e-3:
        failures.append(f"calibrated run exceeds its target: {setting}: dp_accounting {reference!r} "
                        f"> target {target}")
    if [{k: v for k, v in r.items() if k != "what"} for r in privacy["preprocessing"]] != [
            {"mechanism": "gaussian", "count": 1, "sample_rate": 1.0, "noise_multiplier": s}
            for s in sigmas]:
        failures.append(f"report.json privacy.preprocessing is not the {releases} release(s): "
                        f"{setting}")
    return 1, 0, failures


def run_check(job):
    kind, args = job
    return {"grid": check_grid_setting, "calibration": check_calibration, "delta": check_delta,
            "epochs_calibration": check_epochs_calibration, "release": check_release,
            "replace_one": check_replace_one,
            "replace_one_calibration": check_replace_one_calibration}[kind](*args)


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

    calibrations = [(256 / 60000, 7032, 3.0, 1e-5), (0.01, 1000, 1.0, 1e-5), (0.05, 300, 8.0, 1e-8)]
    extremes = EXTREME_SETTINGS
    if args.quick:
        calibrations, extremes = calibrations[:1], EXTREME_SETTINGS[:3]
    jobs = [("grid", (args.dpforge, *setting))
            for setting in itertools.product(rates, sigmas, step_counts, deltas)]
    jobs += [("calibration", (args.dpforge, *setting)) for setting in calibrations]
    deltas_at = [(0.02, 0.9, 3000, 8.0), (0.004, 1.1, 10000, 2.0), (0.01, 2.0, 100, 0.5),
                 (0.1, 5.0, 1000, 1.0)]
    epoch_calibrations = [(0.01, 10, 3.0, 1e-5), (0.004, 30, 1.0, 1e-5)]
    if args.quick:
        deltas_at, epoch_calibrations = deltas_at[:1], epoch_calibrations[:1]
    jobs += [("delta", (args.dpforge, *setting)) for setting in deltas_at]
    jobs += [("epochs_calibration", (args.dpforge, *setting)) for setting in epoch_calibrations]
    # DP statistics composed with training: a given sigma, and a sigma calibrated to a target.
    jobs += [("release", (args.dpforge, 2.0, 1.0, 0)), ("release", (args.dpforge, 4.0, 0, 2.0))]
    # ... and DP vocabularies: a second release and the threshold's delta.
    jobs += [("release", (args.dpforge, 3.0, 1.0, 0, True)),
             ("release", (args.dpforge, 4.0, 0, 2.0, True))]

    replace_grid = list(itertools.product([1e-3, 0.01, 0.2, 1.0], [0.8, 2.0, 10.0], [1, 1000],
                                          [1e-5]))
    replace_calibrations = [(0.01, 1000, 3.0, 1e-5), (256 / 60000, 7032, 8.0, 1e-5)]
    if args.quick:
        replace_grid, replace_calibrations = replace_grid[::4], replace_calibrations[:1]
    jobs += [("replace_one", (args.dpforge, *setting)) for setting in replace_grid]
    jobs += [("replace_one_calibration", (args.dpforge, *setting))
             for setting in replace_calibrations]

    failures, compared, skipped = [], 0, 0
    def tally(result):
        nonlocal compared, skipped, failures
        compared, skipped, failures = compared + result[0], skipped + result[1], failures + result[2]

    workers = os.cpu_count() or 1
    with multiprocessing.Pool(workers) as pool:
        for result in pool.imap_unordered(run_check, jobs):
            tally(result)
    # Pool workers are daemons and may not start the time-limited reference processes the extreme
    # settings need, so those run from threads here (the work itself is in the children).
    with concurrent.futures.ThreadPoolExecutor(workers) as threads:
        for result in threads.map(lambda setting: check_extreme_setting(args.dpforge, *setting), extremes):
            tally(result)
    for line in failures:
        print("FAIL", line)
    print(f"crosscheck: {compared} settings compared ({skipped} skipped: RDP epsilon > 200, or a "
          f"reference that did not finish), {len(failures)} failures against opacus and dp_accounting")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
