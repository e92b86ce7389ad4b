#!/usr/bin/env python3
"""Rewrites the key table of docs/recipes.md from `dpforge keys --markdown` (the code is the source).

Usage: scripts/update_recipe_docs.py [path/to/dpforge]
"""
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "build" / "dpforge")
table = subprocess.run([binary, "keys", "--markdown"], check=True, capture_output=True, text=True).stdout
docs = root / "docs" / "recipes.md"
text = docs.read_text()
begin, end = "<!-- keys:begin (scripts/update_recipe_docs.py) -->", "<!-- keys:end -->"
head, rest = text.split(begin)
_, tail = rest.split(end)
docs.write_text(f"{head}{begin}\n{table}{end}{tail}")
print(f"updated {docs.relative_to(root)}: {table.count(chr(10)) - 2} keys")
