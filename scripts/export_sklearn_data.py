#!/usr/bin/env python3
"""Exports scikit-learn's bundled real datasets for dpforge's own-data recipes and tests.

  .venv/bin/python scripts/export_sklearn_data.py [OUT_DIR]     (default: data/sklearn)

Writes, from the copies inside the scikit-learn package (no network):
  breast_cancer.csv         569 patients, 30 features, diagnosis benign|malignant (a header row)
  breast_cancer_stats.json  each feature's range as published in the dataset's description
                            (sklearn's DESCR / UCI "Summary Statistics"), for data.scaling = minmax
  digits.npz                x: 1,797 x 8 x 8 float64 images (pixels 0..16), y: int64 digit
  digits_stats.json         the documented pixel range 0..16
  diabetes.csv              442 patients, 10 baseline variables (as published: centred and scaled
                            by the publisher), progression (the regression target)
  diabetes_stats.json       the target's centre and scale from its documented range 25..346
  cars.csv                  406 cars of 1970-1982 (Donoho and Ramos 1982, "auto-mpg"; the copy
                            bundled in the vega_datasets package): mpg (the target; 8 missing),
                            cylinders, displacement, horsepower (6 missing), weight, acceleration,
                            year, origin (USA|Europe|Japan). No statistics file: its recipe
                            releases every range and vocabulary under DP.
The statistics files hold only what is published about the data, never anything computed here
from the rows a recipe trains on (docs/privacy.md). These datasets are public as a whole, so what
their publishers computed from the rows is public too; that is what makes them a demonstration,
not a model for private data, where public statistics must not come from the rows at all.
"""
import csv
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
from sklearn import datasets


def descr_ranges(descr):
    """'radius (mean):  6.981  28.11' rows of the DESCR table → {'mean radius': (6.981, 28.11)}."""
    names = {"mean": "mean {}", "standard error": "{} error", "worst": "worst {}"}
    ranges = {}
    for line in descr.splitlines():
        match = re.match(r"^([a-z ]+) \((mean|standard error|worst)\):\s+([-\d.]+)\s+([-\d.]+)\s*$", line)
        if match:
            feature, kind, low, high = match.groups()
            ranges[names[kind].format(feature)] = (float(low), float(high))
    return ranges


def write_csv(path, header, rows):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def write_cars(path):
    """The cars table as a CSV a user might have: lower-case names, missing values left empty, the
    model year as a number. Read from the package's data folder without importing it (its
    __init__ imports pandas)."""
    package = importlib.util.find_spec("vega_datasets")
    if package is None:
        raise SystemExit("export: vega_datasets is not installed (scripts/requirements.txt)")
    folder = Path(next(iter(package.submodule_search_locations)))
    cars = json.loads((folder / "_data" / "cars.json").read_text())
    columns = [("mpg", "Miles_per_Gallon"), ("cylinders", "Cylinders"),
               ("displacement", "Displacement"), ("horsepower", "Horsepower"),
               ("weight", "Weight_in_lbs"), ("acceleration", "Acceleration"), ("year", "Year"),
               ("origin", "Origin")]

    def field(name, value):
        if value is None:
            return ""
        return value[:4] if name == "year" else value

    write_csv(path, [name for name, _ in columns],
              [[field(name, car[key]) for name, key in columns] for car in cars])


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data/sklearn")
    out.mkdir(parents=True, exist_ok=True)

    cancer = datasets.load_breast_cancer()
    # sklearn codes 0 = malignant, 1 = benign; the CSV spells them out, as a hospital export would.
    diagnosis = [cancer.target_names[t] for t in cancer.target]
    write_csv(out / "breast_cancer.csv", list(cancer.feature_names) + ["diagnosis"],
              [[repr(float(v)) for v in row] + [d] for row, d in zip(cancer.data, diagnosis)])
    ranges = descr_ranges(cancer.DESCR)
    missing = set(cancer.feature_names) - set(ranges)
    if missing:
        raise SystemExit(f"export: DESCR gives no range for {sorted(missing)}")
    json.dump({"about": "feature ranges as published in the dataset description (sklearn "
                        "load_breast_cancer().DESCR, 'Summary Statistics'; UCI WDBC). The "
                        "publisher computed them from these very 569 rows: public here because "
                        "the whole dataset is public; with private data, use ranges that do not "
                        "come from the rows (physical limits, a data dictionary)",
               "columns": {name: {"min": low, "max": high} for name, (low, high) in ranges.items()}},
              open(out / "breast_cancer_stats.json", "w"), indent=1)

    digits = datasets.load_digits()
    np.savez(out / "digits.npz", x=digits.images.astype(np.float64), y=digits.target.astype(np.int64))
    json.dump({"about": "8x8 images of integer pixels in the range 0..16 (load_digits().DESCR)",
               "inputs": {"min": 0, "max": 16}}, open(out / "digits_stats.json", "w"), indent=1)

    diabetes = datasets.load_diabetes()
    write_csv(out / "diabetes.csv", list(diabetes.feature_names) + ["progression"],
              [[repr(float(v)) for v in row] + [repr(float(t))]
               for row, t in zip(diabetes.data, diabetes.target)])
    # A rule applied to the score's documented range, not to the rows: centre = midpoint, scale =
    # a quarter of the width. (The publisher's range is itself the data's min and max; public
    # here because the whole dataset is.)
    low, high = 25, 346
    json.dump({"about": "the progression score's documented range 25..346 (Efron et al. 2004): "
                        "mean = its midpoint, std = a quarter of its width; the range is the "
                        "published data's own, public because the whole dataset is",
               "target": {"mean": (low + high) / 2, "std": (high - low) / 4}},
              open(out / "diabetes_stats.json", "w"), indent=1)
    write_cars(out / "cars.csv")
    print(f"export: wrote breast_cancer.csv, digits.npz, diabetes.csv and their public statistics, "
          f"and cars.csv, to {out}")


if __name__ == "__main__":
    main()
