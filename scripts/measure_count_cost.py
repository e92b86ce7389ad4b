#!/usr/bin/env python3
"""What the DP count of the training set's size costs (docs/privacy.md, "The dataset's size").

For the quickstart (Fashion-MNIST, q = 512/60000, 5 epochs, epsilon 3) and the breast-cancer recipe
(q = 32/455, 40 epochs, epsilon 2), the noise multiplier that meets the target by dp_accounting's PLD
with and without a Gaussian count of noise multiplier 20 composed before the steps (delta 1e-5).

Usage: .venv/bin/python scripts/measure_count_cost.py   (about a minute)
"""
import math

import dp_accounting
from dp_accounting.pld import pld_privacy_accountant


def epsilon(sigma, q, steps, count_sigma):
    accountant = pld_privacy_accountant.PLDAccountant()
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    if count_sigma:
        event = dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(count_sigma), event])
    accountant.compose(event)
    return accountant.get_epsilon(1e-5)


def calibrate(q, steps, target, count_sigma):
    low, high = 0.3, 5.0
    for _ in range(18):
        middle = (low + high) / 2
        low, high = (middle, high) if epsilon(middle, q, steps, count_sigma) > target else (low, middle)
    return high


for name, q, epochs, target in [("quickstart", 512 / 60000, 5, 3.0),
                                ("breast_cancer_dp", 32 / 455, 40, 2.0)]:
    steps = math.ceil(epochs / q)
    plain, counted = calibrate(q, steps, target, 0), calibrate(q, steps, target, 20)
    print(f"{name}: q={q:.5f} T={steps} epsilon={target}: sigma {plain:.4f} without the count, "
          f"{counted:.4f} with sigma_n = 20 (+{100 * (counted / plain - 1):.2f}%)")
