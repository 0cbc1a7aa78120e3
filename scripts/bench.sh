#!/usr/bin/env bash
# `make bench`: every benchmark, in release builds, against Redis and FerretDB instances of its
# own on free loopback ports. Prints markdown tables for BENCHMARKS.md (copy them there by hand,
# with the date): ingestion (parse/normalize/sanitize vs feed-rs and a quick-xml floor), the
# import pipeline (through the daemon vs insert_many), the job index's Redis memory per job,
# WebSocket fan-out, and read latency at 1,000,000 runs and jobs (BENCH_READS_N to change it).
#
#   scripts/bench.sh [ingest|pipeline|index|ws|reads|all]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
what=${1:-all}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/job-importer-bench.XXXXXX")
cleanup() {
  scripts/services.sh stop --data "$scratch/services" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

services() {
  [ -n "${services_up:-}" ] && return
  services_up=1
  eval "$(env -u MONGODB_URI -u REDIS_URL scripts/services.sh start --data "$scratch/services" \
    --redis-port "$(free_port)" --mongo-port "$(free_port)")"
}

echo "# Benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"

if [ "$what" = all ] || [ "$what" = ingest ]; then
  echo; echo "## Ingestion"
  scripts/bench-ingest.sh
fi
if [ "$what" = all ] || [ "$what" = pipeline ]; then
  services
  echo; echo "## Import pipeline"
  for shape in small wp; do
    BENCH_SHAPE=$shape BENCH_RUNS=${BENCH_RUNS:-3} cargo bench --locked --bench pipeline 2>&1 | grep -vE '^\s+(Compiling|Finished|Running)'
    echo
  done
fi
if [ "$what" = all ] || [ "$what" = index ]; then
  services
  echo; echo "## Job index memory"
  REDIS_URL="$REDIS_URL" cargo bench --locked --bench index_memory 2>&1 | grep -vE '^\s+(Compiling|Finished|Running)'
fi
if [ "$what" = all ] || [ "$what" = ws ]; then
  services
  echo; echo "## WebSocket fan-out"
  ulimit -n 65536 2>/dev/null || true
  TEST_MONGODB_URI="$MONGODB_URI" TEST_REDIS_URL="$REDIS_URL" cargo bench --locked --bench ws_fanout 2>&1 | grep -vE '^\s+(Compiling|Finished|Running)'
fi
if [ "$what" = all ] || [ "$what" = reads ]; then
  services
  echo; echo "## Reads at ${BENCH_READS_N:-1000000} runs and jobs"
  BENCH_READS_N=${BENCH_READS_N:-1000000} cargo bench --locked --bench reads 2>&1 | grep -vE '^\s+(Compiling|Finished|Running)'
fi
