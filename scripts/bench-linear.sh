#!/usr/bin/env bash
# Runs the `check` benchmark of stackc and prints the time per service for each size,
# so that 1 000 vs 10 000 services shows whether a stage grows faster than linearly.
#
# Usage:
#   scripts/bench-linear.sh            # run the whole bench (a few minutes), then report
#   scripts/bench-linear.sh --quick    # run only the 1 000 and 10 000 sizes
#   scripts/bench-linear.sh --report   # report the last results without running
#
# Reads criterion's results from $CARGO_TARGET_DIR/criterion (default target/criterion).
# `rest` is check minus parse: validation, environment merges, lowering and the graph.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
mode="${1:-}"

case "$mode" in
  --report) ;;
  --quick) cargo bench -p stackc --bench check -- '/(1000|10000)$' ;;
  "") cargo bench -p stackc --bench check ;;
  *) echo "usage: $0 [--quick|--report]" >&2; exit 2 ;;
esac

# Time per iteration in nanoseconds, from criterion's estimates.json: the slope where
# criterion fitted one (what it prints as `time:`), else the mean (flat sampling).
mean_ns() {
  local file="$target/criterion/$1/$2/new/estimates.json"
  [[ -f "$file" ]] || { echo ""; return; }
  local est
  for est in slope mean; do
    if grep -q "\"$est\":{" "$file"; then
      sed -E "s/.*\"$est\":\\{\"confidence_interval\":\\{[^}]*\\},\"point_estimate\":([0-9.eE+-]+).*/\\1/" "$file"
      return
    fi
  done
}

# Bytes per iteration, from criterion's benchmark.json (throughput).
bytes() {
  local file="$target/criterion/$1/$2/new/benchmark.json"
  [[ -f "$file" ]] || { echo ""; return; }
  sed -E 's/.*"throughput":\{"Bytes":([0-9]+)\}.*/\1/' "$file"
}

printf '%-9s %12s %11s %11s %11s %13s %12s %11s %11s\n' \
  services bytes parse check rest "parse/svc" "rest/svc" "parse MB/s" "rest MB/s"
prev_parse="" prev_rest="" prev_n=""
for n in 10 100 1000 10000; do
  p=$(mean_ns parse "$n"); c=$(mean_ns check "$n"); b=$(bytes parse "$n")
  [[ -n "$p" && -n "$c" ]] || continue
  awk -v n="$n" -v p="$p" -v c="$c" -v b="$b" 'BEGIN {
    r = c - p
    printf "%-9d %12d %9.2fms %9.2fms %9.2fms %11.1fus %10.1fus %11.2f %11.2f\n",
      n, b, p / 1e6, c / 1e6, r / 1e6, p / n / 1e3, r / n / 1e3, (b / 1e6) / (p / 1e9), (b / 1e6) / (r / 1e9)
  }'
  if [[ -n "$prev_n" ]]; then
    awk -v n="$n" -v pn="$prev_n" -v p="$p" -v pp="$prev_parse" -v r="$(awk -v c="$c" -v p="$p" 'BEGIN{print c-p}')" -v pr="$prev_rest" 'BEGIN {
      f = n / pn
      printf "          x%g services: parse x%.2f, rest x%.2f (linear: x%g; per service: parse x%.2f, rest x%.2f)\n",
        f, p / pp, r / pr, f, (p / pp) / f, (r / pr) / f
    }'
  fi
  prev_n="$n" prev_parse="$p" prev_rest=$(awk -v c="$c" -v p="$p" 'BEGIN{print c-p}')
done
echo
echo "Per-service ratios near 1.00 are linear; clearly above 1 (e.g. > 1.3) from 1 000 to 10 000 is super-linear."
