#!/usr/bin/env bash
# Starts TEST_BINARY as WORLD_SIZE processes on 127.0.0.1, as torchrun would (RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR, MASTER_PORT), running the gtest FILTER; fails if any rank fails.
#   tests/dist/run_ranks.sh TEST_BINARY WORLD_SIZE FILTER
set -uo pipefail
binary=$1 world=$2 filter=$3
# A port of its own per invocation: two of these may run at once under ctest -j.
port=$((20000 + (RANDOM % 20000)))
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for rank in $(seq 0 $((world - 1))); do
  RANK=$rank LOCAL_RANK=$rank WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    OMP_NUM_THREADS=1 timeout 120 "$binary" --gtest_filter="$filter" >"$logs/rank$rank.log" 2>&1 &
  pids+=($!)
done
status=0
for rank in "${!pids[@]}"; do
  if ! wait "${pids[$rank]}"; then
    echo "run_ranks: rank $rank of $world failed:"
    cat "$logs/rank$rank.log"
    status=1
  fi
done
[ $status -eq 0 ] && grep -h "PASSED\|SKIPPED" "$logs"/rank*.log | sort | uniq -c
exit $status
