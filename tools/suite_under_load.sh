#!/usr/bin/env bash
# Runs the whole test suite N times beside B busy loops (one per core they take), the way CI sees a busy machine,
# and prints one line per run: exit code, seconds, Deno's summary line. Usage: tools/suite_under_load.sh [N] [B]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
loops=${2:-2}
logs=$(mktemp -d)
busy=()
for _ in $(seq "$loops"); do
  sh -c 'while :; do :; done' &
  busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null' EXIT
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD), $(nproc) cores, $loops busy loops, logs in $logs"
for i in $(seq "$runs"); do
  start=$(date +%s)
  npm test >"$logs/run$i.txt" 2>&1
  rc=$?
  line=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/run$i.txt" | grep -E '^(ok|FAILED) \| ' | tail -n 1)
  echo "run $i: rc=$rc $(($(date +%s) - start)) s: ${line:-no summary line}"
done
