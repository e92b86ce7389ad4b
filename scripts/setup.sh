#!/usr/bin/env bash
# Installs what dpforge needs on a fresh Debian 12 machine, then configures and builds.
# Idempotent: every step checks first, so rerunning it costs seconds.
#   scripts/setup.sh            # Debian packages, .venv with torch==2.13.0 (CPU), build/
# Environment: DPFORGE_BUILD_DIR (default build), DPFORGE_BUILD_TYPE (default Release),
# DPFORGE_EXTRA_PACKAGES (more Debian packages, e.g. scripts/fuzz.sh's clang),
# DPFORGE_CUDA (AUTO|ON|OFF, default AUTO); CXXFLAGS/LDFLAGS seed a new build folder's flags
# (scripts/sanitize.sh uses them).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --- Debian packages -------------------------------------------------------------------------
packages=(g++ make cmake ninja-build ccache git libboost-program-options-dev libfmt-dev
          libgtest-dev libgmock-dev nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist python3-venv
          libjemalloc-dev  # the executables' heap allocator (include/dpforge/core/allocator.h)
          libgloo-dev      # Gloo's headers for torch.distributed from C++ (src/dist/)
          clang-format     # the style check (scripts/check_format.sh, a test)
          chromium)  # chromium: the HTML report is checked in it (scripts/check_plots_and_html.py)
read -r -a extra <<<"${DPFORGE_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python virtualenv with the CPU LibTorch (versions pinned in scripts/requirements.txt) ------
venv="$root/.venv"
requirements="$root/scripts/requirements.txt"
stamp="$venv/.requirements.installed"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
if ! cmp -s "$requirements" "$stamp"; then
  echo "setup: installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

# --- Real tables for the own-data recipes (recipes/breast_cancer_dp.ini, ...), from scikit-learn ---
if [ ! -f "$root/data/sklearn/cars.csv" ]; then
  "$venv/bin/python" "$root/scripts/export_sklearn_data.py" "$root/data/sklearn"
fi

# --- Configure and build ------------------------------------------------------------------------
if [ "${DPFORGE_SETUP_NO_BUILD:-0}" = 1 ]; then exit 0; fi  # scripts/fuzz.sh builds its own
build_dir=${DPFORGE_BUILD_DIR:-build}
build_type=${DPFORGE_BUILD_TYPE:-Release}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" \
    -DDPFORGE_PYTHON="$venv/bin/python" -DDPFORGE_CUDA="${DPFORGE_CUDA:-AUTO}" \
    -DDPFORGE_JEMALLOC="${DPFORGE_JEMALLOC:-ON}"
fi
cmake --build "$build_dir" --parallel "$(nproc)"
echo "setup: built $(ls "$build_dir"/dpforge "$build_dir"/tests/dpforge_tests 2>/dev/null | tr '\n' ' ')"
