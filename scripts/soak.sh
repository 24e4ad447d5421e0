#!/usr/bin/env bash
# Soak run: every long test suite in sequence, in release, then one line of counters per suite.
#
#   bash scripts/soak.sh                 # the long forms (README.md, "Longer runs"): hours on 2 cores
#   bash scripts/soak.sh --scale 0.01    # a quick pass: every count times 0.01 (at least 1)
#   bash scripts/soak.sh --only model,kill9 --scale 4
#   bash scripts/soak.sh --list          # the suites and their variables
#
# Each suite prints its own counters (ops, crash points, cycles, cases per outcome) on a line of
# its own; this script keeps those lines, the wall time and the result. The whole output of a
# suite goes to target/soak/<suite>.log, with its seed (each suite prints the variable that
# replays it). The exit status is non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."

scale=1
only=""
list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --list) list=1; shift ;;
    *) echo "usage: $0 [--scale F] [--only suite,suite] [--list]" >&2; exit 2 ;;
  esac
done

# name | test target | cargo features | variable=base count (scaled) | extra variables | counter-line pattern
suites=(
  "model|tree_model|lz4|STRATA_MODEL_OPS=5000000||^model"
  "metamorphic|metamorphic|lz4,zstd|STRATA_METAMORPHIC_LOGS=20|STRATA_METAMORPHIC_OPS=20000|^metamorphic:"
  "power-loss|power_loss||STRATA_POWER_LOSS_CASES=100000||^power loss"
  "kill9|kill9||STRATA_KILL9_CYCLES=300||^kill9:"
  "io-faults|io_faults||||^io faults"
  "corruption|corruption_sweep|lz4,zstd|STRATA_SWEEP_PER_FILE=2048|STRATA_SWEEP=full STRATA_SWEEP_JOBS=2|^sweep total"
  "db-model|db_model||STRATA_DB_MODEL_OPS=1000000||^db model:"
  "db-power-loss|db_power_loss||STRATA_DB_POWER_LOSS_CASES=100000||crash points"
  "db-kill9|db_kill9||STRATA_DB_KILL9_CYCLES=150||^db kill9:"
  "db-io-faults|db_io_faults||||^db (io|recovery) faults"
  "concurrency|concurrency||STRATA_CONCURRENCY_BATCHES=30000||^concurrency"
)

if [ "$list" = 1 ]; then
  for s in "${suites[@]}"; do
    IFS='|' read -r name target features count extra _ <<<"$s"
    echo "$name: cargo test --release --test $target${features:+ --features $features} with $count $extra"
  done
  exit 0
fi

mkdir -p target/soak
summary=()
failed=0
for s in "${suites[@]}"; do
  IFS='|' read -r name target features count extra pattern <<<"$s"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then
    continue
  fi
  if [ ! -f "tests/$target.rs" ]; then
    summary+=("$(printf '%-14s %6s  %-6s %s' "$name" "-" "absent" "tests/$target.rs does not exist")")
    continue
  fi
  envs=()
  if [ -n "$count" ]; then
    var="${count%%=*}"
    base="${count#*=}"
    scaled=$(awk -v b="$base" -v s="$scale" 'BEGIN { n = int(b * s); if (n < 1) n = 1; print n }')
    envs+=("$var=$scaled")
  fi
  for e in $extra; do envs+=("$e"); done
  log="target/soak/$name.log"
  echo "soak: $name (${envs[*]:-default counts}) ..." >&2
  start=$(date +%s)
  env "${envs[@]}" cargo test --release ${features:+--features "$features"} --test "$target" \
    -- --nocapture --test-threads 2 >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  result=ok
  if [ $status -ne 0 ]; then
    result=FAILED
    failed=1
  fi
  # The seed lines stay in the log (they say how to replay); the summary keeps the counters.
  counters=$(grep -E "$pattern" "$log" | grep -v -e 'replay' -e 'seed [0-9]* (' | paste -sd ';' - | cut -c1-1200)
  summary+=("$(printf '%-14s %5ss  %-6s %s' "$name" "$secs" "$result" "${counters:-(no counter line; see $log)}")")
done

echo
printf '%-14s %6s  %-6s %s\n' suite time result counters
for line in "${summary[@]}"; do echo "$line"; done
exit $failed
