#!/usr/bin/env bash
# Instructions per operation, Strata against lsm-tree and coordinode-lsm-tree, counted by
# callgrind (valgrind): a measure a busy or noisy machine does not move. See
# cli/examples/instructions.rs for the trees and the workloads.
#
#   bash scripts/instructions.sh                    # every workload, every engine
#   bash scripts/instructions.sh seek scan          # some workloads
#
# Prints, per workload, each engine's instructions per operation (an operation: a seek of 10
# items, one item of a 1,000-item scan, a get, a merge write) and Strata's count over each peer's
# (below 1.0: Strata executes fewer). Instructions are not time: a workload bound by cache misses
# can run slower with fewer instructions. Needs valgrind; builds with the `compare` feature.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
workloads=("$@")
[ ${#workloads[@]} -eq 0 ] && workloads=(seek scan get merge)
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p strata-cli --features compare --example instructions >&2
bin="$target/release/examples/instructions"
ops_of() {
  case "$1" in
    seek|get|merge) echo 20000 ;;
    scan) echo 200000 ;;
  esac
}
printf '%-8s %14s %14s %14s %12s %12s\n' workload strata lsm-tree coordinode "÷lsm-tree" "÷coordinode"
for w in "${workloads[@]}"; do
  declare -A per=()
  for e in strata lsm-tree coordinode; do
    if [ "$w" = merge ] && [ "$e" = lsm-tree ]; then per[$e]=""; continue; fi
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      --toggle-collect='instructions::*::measured' "$bin" "$e" "$w" 2>&1)
    total=$(echo "$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | tail -1)
    per[$e]=$(awk -v t="$total" -v n="$(ops_of "$w")" 'BEGIN { printf "%.0f", t / n }')
  done
  ratio() { [ -n "${per[$1]}" ] && awk -v a="${per[strata]}" -v b="${per[$1]}" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
  printf '%-8s %14s %14s %14s %12s %12s\n' "$w" "${per[strata]}" "${per[lsm-tree]:--}" "${per[coordinode]}" "$(ratio lsm-tree)" "$(ratio coordinode)"
done
