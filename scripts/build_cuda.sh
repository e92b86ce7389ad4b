#!/usr/bin/env bash
# Builds dpforge with its CUDA kernels and bridge on a GPU machine, against the LibTorch inside a
# Python environment that has a CUDA build of torch (no apt, no network needed).
#   scripts/build_cuda.sh              # configure + build into build-cuda/
#   scripts/build_cuda.sh --test       # ... then run the GPU tests (ctest -R _CUDA)
#   scripts/build_cuda.sh --bench      # ... then the GPU benchmark table (dpforge_bench on CUDA)
# Environment: DPFORGE_PYTHON (default python3: must import a CUDA torch), DPFORGE_BUILD_DIR
# (default build-cuda), CMAKE_PREFIX_PATH (where Boost.Program_options, fmt, GoogleTest and
# nlohmann-json are, when not in /usr), CUDA_ARCHITECTURES (default: the visible GPU's, else 90).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
python=${DPFORGE_PYTHON:-python3}
build_dir=${DPFORGE_BUILD_DIR:-build-cuda}

torch_info=$("$python" - <<'EOF'
import torch
cuda = torch.version.cuda
arch = ""
if cuda and torch.cuda.is_available():
    major, minor = torch.cuda.get_device_capability(0)
    arch = f"{major}{minor}"
print(torch.utils.cmake_prefix_path, cuda or "none", arch or "none", torch.__version__)
EOF
)
read -r torch_prefix torch_cuda visible_arch torch_version <<<"$torch_info"
if [ "$torch_cuda" = none ]; then
  echo "build_cuda: $python has torch $torch_version without CUDA; install a CUDA build of torch (or use" >&2
  echo "            scripts/setup.sh for the CPU build)" >&2
  exit 2
fi
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
  echo "build_cuda: no nvcc in PATH or /usr/local/cuda/bin: install the CUDA toolkit" >&2
  exit 2
fi
arch=${CUDA_ARCHITECTURES:-$([ "$visible_arch" != none ] && echo "$visible_arch" || echo 90)}
echo "build_cuda: torch $torch_version (CUDA $torch_cuda), $("$nvcc" --version | tail -1), sm_$arch -> $build_dir"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# LibTorch's CMake config looks for the toolkit and an architecture list of its own.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$(echo "$arch" | sed 's/\(.\)$/.\1/')}
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DDPFORGE_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DCMAKE_PREFIX_PATH="$torch_prefix${CMAKE_PREFIX_PATH:+;$CMAKE_PREFIX_PATH}" \
  -DDPFORGE_PYTHON="$(command -v "$python")"
grep -q "DPFORGE_C10_CUDA_LIBRARY:FILEPATH=/" "$build_dir/CMakeCache.txt" \
  || { echo "build_cuda: LibTorch at $torch_prefix has no c10_cuda library: the bridge cannot be built" >&2; exit 2; }
cmake --build "$build_dir" --parallel "$(nproc)"
echo "build_cuda: built $build_dir/dpforge with the CUDA bridge"

for arg in "$@"; do
  case "$arg" in
    --test) ctest --test-dir "$build_dir" -R _CUDA --output-on-failure ;;
    --bench)
      "$build_dir/dpforge_bench" --device cuda --models mlp,cnn_tanh,wrn16_4,token_block --batches 256,1024 --repeats 20
      "$build_dir/dpforge_bench" --device cuda --noise --repeats 20 ;;
    *) echo "build_cuda: unknown option $arg (expected --test or --bench)" >&2; exit 2 ;;
  esac
done
