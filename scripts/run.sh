#!/usr/bin/env bash
# Set up (installs what is missing, builds), then train the quickstart recipe on real Fashion-MNIST.
#   scripts/run.sh [RECIPE] [--set section.key=value]... [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
recipe=recipes/quickstart.ini
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then recipe=$1; shift; fi
exec "${DPFORGE_BUILD_DIR:-build}/dpforge" train "$recipe" "$@"
