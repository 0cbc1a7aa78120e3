# Shared settings for the project's scripts. Sourced, not run.
# Build outputs and tools live outside the clone so that every clone on a machine reuses them.
: "${JOB_IMPORTER_CACHE:=$HOME/.cache/job-importer}"
: "${JOB_IMPORTER_TOOLS:=$JOB_IMPORTER_CACHE/tools}"
: "${CARGO_TARGET_DIR:=$JOB_IMPORTER_CACHE/target}"
export JOB_IMPORTER_CACHE JOB_IMPORTER_TOOLS CARGO_TARGET_DIR
FERRETDB_VERSION=v1.24.2
FERRETDB_BIN="$JOB_IMPORTER_TOOLS/bin/ferretdb"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel picks it; a race with another process is possible
# but harmless for our uses: the server start fails loudly and the caller retries).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1, for at most $2 seconds.
wait_port() {
  local port=$1 limit=${2:-30} i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt $((limit * 10)) ] && return 1
    sleep 0.1
  done
}
