#!/usr/bin/env bash
# Fails (exit 1) listing the files clang-format would change: .clang-format is the style, and CI
# runs this as the `clang_format` test. Fix with: scripts/check_format.sh --fix
# Also fails on a file in src/ over 400 lines: small files that own one thing (docs/development.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.h' 'include/*.h' 'tests/*.cpp' 'tests/*.h' \
                                  'kernels/*.cu' 'kernels/*.h' 'kernels/*.cpp' 'fuzz/*.cpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
unformatted=()
for file in "${files[@]}"; do
  clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done
if ((${#unformatted[@]})); then
  printf 'not formatted (scripts/check_format.sh --fix):\n' >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
long_files=()
for file in "${files[@]}"; do
  [[ $file == src/* ]] && (($(wc -l <"$file") > 400)) && long_files+=("$file ($(wc -l <"$file") lines)")
done
if ((${#long_files[@]})); then
  printf 'over 400 lines (split by what each part owns):\n' >&2
  printf '  %s\n' "${long_files[@]}" >&2
  exit 1
fi
echo "clang-format: ${#files[@]} files formatted; none in src/ over 400 lines"
