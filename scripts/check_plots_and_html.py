#!/usr/bin/env python3
"""End-to-end check of what people look at: plots and the HTML report (run by ctest).

Trains a tiny two-run sweep (no defense, DP) with the real CLI, draws scripts/plot_runs.py's PNGs
and checks each is a real picture (PNG signature, size, many colors), then writes the run's HTML
report with `dpforge report` and loads it in headless Chromium, failing on any console error or
a page without its charts.

    .venv/bin/python scripts/check_plots_and_html.py --dpforge build/dpforge
"""
import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(map(str, command))}\n{result.stdout}\n{result.stderr}")
    return result


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    image = Image.open(path).convert("RGB")
    colors = len(image.resize((200, 150)).getcolors(maxcolors=1 << 16) or [])
    assert image.width >= 500 and image.height >= 400, f"{path}: {image.size} is too small"
    assert len(data) > 15000 and colors > 40, f"{path}: looks empty ({len(data)} bytes, {colors} colors)"
    print(f"ok  {path.name}: {image.width}x{image.height}, {len(data)} bytes, {colors} colors")


def check_html_in_chromium(html):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("FAILED: chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--dump-dom", html.as_uri()],
            capture_output=True, text=True, timeout=120)
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert result.returncode == 0, f"chromium exited {result.returncode}:\n{result.stderr[-2000:]}"
    assert not console, "console errors:\n" + "\n".join(console)
    dom = result.stdout
    assert "<title>dpforge report" in dom and dom.count("<svg") >= 3, "the page lost its title or charts"
    assert re.search(r"differential privacy", dom), "the privacy claim is missing"
    print(f"ok  {html.name}: loads in headless Chromium, {dom.count('<svg')} charts, no console errors")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dpforge", default=str(ROOT / "build" / "dpforge"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "sweep"
        run([args.dpforge, "sweep", ROOT / "recipes" / "quickstart.ini", "--variant", "none: privacy.enabled=false",
             "--variant", "dp: privacy.enabled=true", "--set", "data.train_subset=1500", "--set", "data.test_subset=500",
             "--set", "train.epochs=2", "--set", "audit.canaries=500", "--out", out])
        assert len(json.loads((out / "summary.json").read_text())["runs"]) == 2
        run([sys.executable, ROOT / "scripts" / "plot_runs.py", out])
        for name in ("accuracy_vs_epsilon", "epsilon_vs_audit", "roc", "epsilon_vs_step"):
            check_png(out / "plots" / f"{name}.png")
        run([args.dpforge, "report", out / "dp"])
        check_html_in_chromium(out / "dp" / "report.html")


if __name__ == "__main__":
    main()
