#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A dpforge model in plain PyTorch: rebuilds the network and the table preprocessing from
RUN_DIR/model.json, loads RUN_DIR/model.pt, and scores raw CSV rows as `dpforge predict` does.

    .venv/bin/python scripts/load_model.py RUN_DIR NEW.csv --out predictions.csv
    .venv/bin/python scripts/load_model.py RUN_DIR NEW.csv --compare dpforge_predictions.csv
    .venv/bin/python scripts/load_model.py RUN_DIR NEW.csv --torchscript model.ts

In your own code:

    model, description = load_model.load("runs/cancer")       # torch.nn.Module, eval mode
    features, kept, dropped = load_model.encode("new.csv", description["preprocessing"])
    outputs = model(features)

Nothing here imports dpforge: model.json names every layer with its resolved arguments
(docs/recipes.md, "Outputs"), and the preprocessing is written out column by column. --compare
checks this reader against dpforge's own predictions (to 1e-5; tests/data/own_data_test.cpp runs
it); --torchscript also writes the network traced to TorchScript (encoded features in, outputs
out) and checks that it gives the same outputs.
"""
import argparse
import collections
import csv
import json
import math
import pathlib
import re
import sys

import torch
from torch import nn

MISSING = {"", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "?"}
NUMBER = re.compile(r"^\+?-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ToLong(nn.Module):
    """Token ids arrive as floats; dpforge casts them before an embedding layer."""

    def forward(self, x):
        return x.long()


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        if shortcut is not None:
            self.shortcut = shortcut
        self.has_shortcut = shortcut is not None

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if self.has_shortcut else x)


class TabularEmbedding(nn.Module):
    """Each embedded feature's code c picks row c of its own table; other features pass."""

    def __init__(self, features, embedded):
        super().__init__()
        self.features = features
        self.embedded = [feature for feature, _, _ in embedded]
        for j, (_, rows, dim) in enumerate(embedded):
            self.add_module(f"table{j}", nn.Embedding(rows, dim))

    def forward(self, x):
        parts, start = [], 0
        for j, feature in enumerate(self.embedded):
            parts.append(x[:, start:feature])
            parts.append(getattr(self, f"table{j}")(x[:, feature].long()))
            start = feature + 1
        parts.append(x[:, start:self.features])
        return torch.cat(parts, 1)


def build_layer(entry, shape):
    kind, a = entry["type"], entry["arguments"]
    integer = lambda key: int(a[key])  # noqa: E731
    if kind == "linear":
        return nn.Linear(shape[-1], integer("n"), bias=bool(a["bias"]))
    if kind == "conv":
        return nn.Conv2d(shape[0], integer("n"), integer("k"), stride=integer("s"),
                         padding=integer("p"), dilation=integer("d"), bias=bool(a["bias"]))
    if kind == "embedding":
        return nn.Embedding(integer("vocabulary"), integer("dim"))
    if kind == "layernorm":
        return nn.LayerNorm(shape[-1], eps=1e-5)
    if kind == "groupnorm":
        return nn.GroupNorm(integer("groups"), shape[0], eps=1e-5)
    if kind in ("maxpool", "avgpool"):
        pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        return pool(integer("k"), stride=integer("s"), padding=integer("p"))
    if kind == "adaptiveavgpool":
        return nn.AdaptiveAvgPool2d(integer("n"))
    if kind == "dropout":
        return nn.Dropout(a["p"])
    plain = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU,
             "sigmoid": nn.Sigmoid, "flatten": nn.Flatten}
    if kind in plain:
        return plain[kind]()
    raise ValueError(f"model.json: unknown layer type '{kind}' at position {entry['position']}")


def build_sequence(children, parent, shape, first_name=0):
    """The layers under `parent` ("" for the top), in order; returns them and the output shape."""
    modules = collections.OrderedDict()
    for entry in children.get(parent, []):
        if entry["type"] == "residual":
            body, out = build_sequence(children, entry["position"], shape)
            out = entry["output_shape"]
            shortcut = None
            if out != shape:
                if len(shape) == 3:
                    shortcut = nn.Sequential(nn.Conv2d(shape[0], out[0], 1,
                                                       stride=shape[1] // out[1]))
                else:
                    shortcut = nn.Sequential(nn.Linear(shape[0], out[0]))
            module = Residual(body, shortcut)
        else:
            if entry["type"] == "embedding":
                modules[str(first_name + len(modules))] = ToLong()
            module = build_layer(entry, shape)
        modules[str(first_name + len(modules))] = module
        shape = entry["output_shape"]
    return nn.Sequential(modules), shape


def build(description):
    described = description["model"]
    children = collections.defaultdict(list)
    for entry in described["layer_list"]:
        position = entry["position"]
        children[position.rsplit(".", 1)[0] if "." in position else ""].append(entry)
    shapes = {p["name"]: p["shape"] for p in described["parameters"]}
    codes = described["category_codes"]
    if not codes:
        model, _ = build_sequence(children, "", described["input_shape"])
        return model
    embedded = [(c["feature"], *shapes[f"embedding.table{j}.weight"]) for j, c in enumerate(codes)]
    front = TabularEmbedding(described["input_shape"][0], embedded)
    width = described["input_shape"][0] + sum(dim - 1 for _, _, dim in embedded)
    rest, _ = build_sequence(children, "", [width], first_name=1)
    modules = collections.OrderedDict([("embedding", front)])
    modules.update(rest.named_children())
    return nn.Sequential(modules)


def load(run_dir):
    run_dir = pathlib.Path(run_dir)
    description = json.loads((run_dir / "model.json").read_text())
    if description.get("format") != "dpforge model" or description.get("version") != 1:
        raise ValueError(f"{run_dir / 'model.json'}: not a dpforge model description of version 1")
    model = build(description)
    state = torch.load(run_dir / description["weights"], map_location="cpu")
    model.load_state_dict(state, strict=True)
    return model.eval(), description


def encode_field(column, field, missing, rules, where):
    if missing and rules["missing"] == "error":
        raise ValueError(f"{where}: missing value ('{field}'); the model was trained with "
                         "data.missing = error")
    if column["kind"] == "number":
        value = rules["fill_value"] if missing else None
        if value is None:
            if not NUMBER.match(field):
                raise ValueError(f"{where}: '{field}' is not a number")
            value = float(field)
        if column["clamp"]:
            value = min(max(value, column["shift"]), column["shift"] + column["scale"])
        return [(value - column["shift"]) / column["scale"]]
    value = rules["missing_category"] if missing else field
    if not missing and rules["missing"] == "fill" and field == rules["missing_category"]:
        raise ValueError(f"{where}: the value '{field}' is the category for missing values")
    categories = column["categories"]
    if value not in categories and column["outside"] == "error":
        raise ValueError(f"{where}: category '{field}' is outside its public vocabulary")
    position = categories.index(value) if value in categories else -1
    if column["kind"] == "code":
        return [float(position + 1)]
    return [1.0 if k == position else 0.0 for k in range(len(categories))]


def encode(path, rules):
    """Rows of the CSV at `path` → (float32 N x F features, lines kept, lines dropped)."""
    rows, kept, dropped = [], [], []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        at = {}
        for column in rules["columns"]:
            if column["name"] not in header:
                raise ValueError(f"{path}: the model reads column '{column['name']}', which the "
                                 "header does not have")
            at[column["name"]] = header.index(column["name"])
        for row in reader:
            line = reader.line_num
            features = []
            for column in rules["columns"]:
                field = row[at[column["name"]]]
                missing = field in MISSING
                if missing and rules["missing"] == "drop":
                    features = None
                    break
                where = f"{path}: line {line}, column '{column['name']}'"
                features += encode_field(column, field, missing, rules, where)
            if features is None:
                dropped.append(line)
                continue
            rows.append(features)
            kept.append(line)
    width = len(rules["feature_names"])
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, width), kept, dropped


def scores(description, outputs):
    """Each row's probabilities per class, or its predicted value in the target's units."""
    task = description["task"]
    if task == "regression":
        target = description["preprocessing"].get("target", {"mean": 0.0, "std": 1.0})
        return outputs[:, 0].double() * target["std"] + target["mean"]
    if task == "binary":
        positive = torch.sigmoid(outputs[:, 0].double())
        return torch.stack([1 - positive, positive], 1)
    return torch.softmax(outputs.double(), 1)


def prediction_rows(description, values, kept, dropped):
    names = description["preprocessing"]["label_values"] or [
        str(k) for k in range(description["classes"])]
    regression = description["task"] == "regression"
    header = ["line", "prediction"] + ([] if regression else [f"p_{n}" for n in names]) + ["note"]
    rows = {line: [str(line)] + [""] * (len(header) - 2) +
            ["dropped: a missing value (data.missing = drop)"] for line in dropped}
    for i, line in enumerate(kept):
        if regression:
            rows[line] = [str(line), f"{values[i].item():.9g}", ""]
            continue
        p = values[i]
        rows[line] = ([str(line), names[int(p.argmax())]] + [f"{x:.9g}" for x in p.tolist()] +
                      [""])
    return [header] + [rows[line] for line in sorted(rows)]


def compare(ours, path, tolerance=1e-5):
    with open(path, newline="") as handle:
        theirs = list(csv.reader(handle))
    if len(theirs) != len(ours) or theirs[0] != ours[0]:
        sys.exit(f"compare: {path} has {len(theirs)} rows and header {theirs[0]}, "
                 f"this reader {len(ours)} and {ours[0]}")
    worst = 0.0
    for mine, other in zip(ours[1:], theirs[1:]):
        for a, b in zip(mine, other):
            if a == b:
                continue
            if NUMBER.match(a) and NUMBER.match(b):
                worst = max(worst, abs(float(a) - float(b)))
            else:
                sys.exit(f"compare: line {mine[0]}: '{a}' here, '{b}' in {path}")
    print(f"compare: {len(ours) - 1} rows, largest difference {worst:.3g} (tolerance {tolerance})")
    if worst > tolerance:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("input_csv")
    parser.add_argument("--out", help="CSV to write, as dpforge predict writes it")
    parser.add_argument("--compare", help="dpforge predict's output for the same rows")
    parser.add_argument("--torchscript", help="also write the network as TorchScript here")
    args = parser.parse_args()
    model, description = load(args.run_dir)
    if description["preprocessing"] is None:
        sys.exit("load_model: this model was trained on array data; it reads tables only")
    features, kept, dropped = encode(args.input_csv, description["preprocessing"])
    with torch.no_grad():
        outputs = model(features)
        if args.torchscript:
            traced = torch.jit.trace(model, features[:1])
            traced.save(args.torchscript)
            again = torch.jit.load(args.torchscript)(features)
            gap = (again - outputs).abs().max().item() if len(features) else 0.0
            print(f"torchscript: {args.torchscript}, largest output difference {gap:.3g}")
            if gap > 1e-5:
                sys.exit(1)
    rows = prediction_rows(description, scores(description, outputs), kept, dropped)
    if args.out:
        with open(args.out, "w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)
    if args.compare:
        compare(rows, args.compare)


if __name__ == "__main__":
    main()
