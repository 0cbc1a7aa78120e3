#!/usr/bin/env bash
# Installs what the project needs and is missing: Debian's redis-server (and chromium with
# --browser), FerretDB built from the Go module proxy, and the client's npm packages.
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
source "$(dirname "$0")/env.sh"

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) die "unknown argument $arg" ;;
  esac
done

apt_missing=()
command -v redis-server >/dev/null || apt_missing+=(redis-server)
if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then apt_missing+=(chromium); fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing ${apt_missing[*]} from Debian"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

if ! "$FERRETDB_BIN" --version >/dev/null 2>&1; then
  command -v go >/dev/null || die "Go is needed to build FerretDB"
  log "building FerretDB $FERRETDB_VERSION into $JOB_IMPORTER_TOOLS/bin"
  mkdir -p "$JOB_IMPORTER_TOOLS/bin"
  (cd /tmp && go mod download "github.com/FerretDB/FerretDB@$FERRETDB_VERSION")
  src=$(cd /tmp && go list -m -f '{{.Dir}}' "github.com/FerretDB/FerretDB@$FERRETDB_VERSION")
  # The module archive lacks build/version/version.txt, which `bin/task gen-version` writes in
  # FerretDB's own checkout; without it the binary panics at start. Build from a copy that has it.
  work=$(mktemp -d)
  cp -r "$src" "$work/ferretdb"
  chmod -R u+w "$work/ferretdb"
  echo "$FERRETDB_VERSION" >"$work/ferretdb/build/version/version.txt"
  (cd "$work/ferretdb" && go build -o "$FERRETDB_BIN" ./cmd/ferretdb)
  rm -rf "$work"
  "$FERRETDB_BIN" --version >/dev/null || die "FerretDB build does not run"
fi

if [ -f "$REPO_ROOT/client/package.json" ] && [ ! -d "$REPO_ROOT/client/node_modules" ]; then
  log "installing the client's npm packages"
  (cd "$REPO_ROOT/client" && npm ci --no-audit --no-fund --loglevel=error)
fi
