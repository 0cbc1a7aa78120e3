#!/usr/bin/env bash
# Ingestion benchmark: builds benches/ingest.rs in release, generates WP Job Manager-shaped
# feeds (never committed), runs every variant RUNS times as its own process and prints the
# medians and ratios. Usage: scripts/bench-ingest.sh [SIZES] (default "10000 100000").
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"10000 100000"}
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$(mktemp -d)}
trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$WORK"' EXIT

BIN=$(cargo bench --bench ingest --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "bench binary not found" >&2; exit 1; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
VARIANTS="floor raw ours-nosan-1t ours-nosan ours-1t ours feedrs"
for n in $SIZES; do
  feed="$WORK/feed-$n.xml"
  "$BIN" gen "$n" "$feed" >/dev/null
  mb=$(awk -v b="$(stat -c %s "$feed")" 'BEGIN {printf "%.1f", b / 1048576}')
  echo
  echo "### $n items, $mb MiB (median of $RUNS runs)"
  echo
  echo "| variant | seconds | items/s | MB/s | peak RSS (MiB) |"
  echo "|---|---:|---:|---:|---:|"
  declare -A SECS RSS
  for v in $VARIANTS; do
    for _ in $(seq "$RUNS"); do "$BIN" run "$v" "$feed"; done >"$WORK/$v.txt"
    # Columns: variant items bytes seconds rss_kib. Median by seconds; RSS median alone.
    read -r items bytes secs < <(sort -k4 -g "$WORK/$v.txt" | awk -v m=$(((RUNS + 1) / 2)) 'NR == m {print $2, $3, $4}')
    rss=$(sort -k5 -g "$WORK/$v.txt" | awk -v m=$(((RUNS + 1) / 2)) 'NR == m {print $5}')
    SECS[$v]=$secs; RSS[$v]=$rss
    awk -v v="$v" -v i="$items" -v b="$bytes" -v s="$secs" -v r="$rss" 'BEGIN {
      printf "| %s | %.3f | %.0f | %.0f | %.1f |\n", v, s, i / s, b / 1e6 / s, r / 1024 }'
  done
  echo
  awk -v a="${SECS[feedrs]}" -v b="${SECS[ours]}" -v ra="${RSS[feedrs]}" -v rb="${RSS[ours]}" \
      -v f="${SECS[floor]}" -v ns="${SECS[ours-nosan]}" -v n1="${SECS[ours-nosan-1t]}" 'BEGIN {
    printf "- ours vs feed-rs + ammonia: %.2fx throughput, 1/%.0f of the peak memory\n", a / b, ra / rb
    printf "- ours without sanitizing vs the quick-xml floor: %.2f of its throughput (one thread: %.2f)\n", f / ns, f / n1 }'
  unset SECS RSS
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
