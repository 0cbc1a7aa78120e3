#!/usr/bin/env bash
# Starts Redis and FerretDB on 127.0.0.1 when they are not already running, and prints the
# MONGODB_URI and REDIS_URL they provide (as shell `export` lines on stdout).
#
#   scripts/services.sh [start|stop|status] [--data DIR] [--redis-port N] [--mongo-port N]
#
# A service whose URL is already set in the environment (MONGODB_URI, REDIS_URL) is used as it
# is and not started. Data lives under ./data by default; pid files make it idempotent.
set -euo pipefail
source "$(dirname "$0")/env.sh"

cmd=start
data_dir="$REPO_ROOT/data"
redis_port=6379
mongo_port=27017
while [ $# -gt 0 ]; do
  case "$1" in
    start|stop|status) cmd=$1 ;;
    --data) data_dir=$2; shift ;;
    --redis-port) redis_port=$2; shift ;;
    --mongo-port) mongo_port=$2; shift ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_redis() {
  local dir="$data_dir/redis" pidf="$data_dir/redis.pid"
  mkdir -p "$dir"
  if alive "$pidf"; then
    redis_port=$(cat "$data_dir/redis.port")
    wait_redis_ready "$redis_port"
    return
  fi
  command -v redis-server >/dev/null || die "redis-server is missing: run scripts/install.sh"
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir" \
    --appendonly yes --appendfsync everysec --save '' \
    --maxmemory-policy noeviction --protected-mode yes \
    --daemonize yes --pidfile "$pidf" --logfile "$data_dir/redis.log"
  echo "$redis_port" >"$data_dir/redis.port"
  wait_port "$redis_port" 20 || die "redis did not start; see $data_dir/redis.log"
  wait_redis_ready "$redis_port"
}

# Redis accepts connections while it loads its append-only file, answering LOADING to every
# command; wait until it answers PING.
wait_redis_ready() {
  local port=$1 i=0 reply
  while :; do
    reply=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>&1 || true)
    [ "$reply" = "PONG" ] && return 0
    i=$((i + 1))
    [ "$i" -eq 1 ] && log "waiting for Redis on port $port to load its data ($reply)"
    [ "$i" -gt 1200 ] && die "redis on port $port is not ready after 120 s: $reply"
    sleep 0.1
  done
}

start_ferretdb() {
  local dir="$data_dir/ferretdb" pidf="$data_dir/ferretdb.pid"
  mkdir -p "$dir"
  if alive "$pidf"; then
    mongo_port=$(cat "$data_dir/ferretdb.port")
    return
  fi
  [ -x "$FERRETDB_BIN" ] || die "FerretDB is missing: run scripts/install.sh"
  nohup "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$dir/" \
    --listen-addr="127.0.0.1:$mongo_port" --state-dir="$dir" \
    --telemetry=disable --log-level=warn --debug-addr=- \
    >"$data_dir/ferretdb.log" 2>&1 &
  echo $! >"$pidf"
  echo "$mongo_port" >"$data_dir/ferretdb.port"
  wait_port "$mongo_port" 30 || die "FerretDB did not start; see $data_dir/ferretdb.log"
}

stop_one() {
  local pidf="$data_dir/$1.pid"
  if alive "$pidf"; then
    kill "$(cat "$pidf")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pidf" || break; sleep 0.1; done
  fi
  rm -f "$pidf"
}

case "$cmd" in
  start)
    [ -n "${REDIS_URL:-}" ] || start_redis
    [ -n "${MONGODB_URI:-}" ] || start_ferretdb
    echo "export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$redis_port}"
    echo "export MONGODB_URI=${MONGODB_URI:-mongodb://127.0.0.1:$mongo_port/}"
    ;;
  stop)
    stop_one redis
    stop_one ferretdb
    ;;
  status)
    for s in redis ferretdb; do
      if alive "$data_dir/$s.pid"; then echo "$s: running on port $(cat "$data_dir/$s.port")"; else echo "$s: stopped"; fi
    done
    ;;
esac
