#!/usr/bin/env bash
# Runs every check and test against real services: Redis and FerretDB instances of its own on
# free loopback ports (data under a temporary folder), the Rust suites, the client's lint,
# typecheck and unit tests, and the browser tests against a real daemon.
#
#   scripts/test.sh [all|rust|client|browser|docker|soak-short]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
what=${1:-all}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/job-importer-test.XXXXXX")
cleanup() {
  [ -f "$scratch/daemon.pid" ] && kill "$(cat "$scratch/daemon.pid")" 2>/dev/null || true
  scripts/services.sh stop --data "$scratch/services" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

start_services() {
  [ -n "${services_started:-}" ] && return
  eval "$(env -u MONGODB_URI -u REDIS_URL scripts/services.sh start --data "$scratch/services" \
    --redis-port "$(free_port)" --mongo-port "$(free_port)")"
  export TEST_MONGODB_URI="$MONGODB_URI" TEST_REDIS_URL="$REDIS_URL"
  unset MONGODB_URI REDIS_URL
  services_started=1
}

# The Docker build context holds every file the image build reads (no Docker daemon needed),
# and the check itself catches broken copies.
docker_context() {
  log "docker build context"
  python3 scripts/check-docker-context.py --self-test
  python3 scripts/check-docker-context.py
}

rust() {
  docker_context
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "cargo clippy -D warnings"
  cargo clippy --all-targets --locked -- -D warnings
  start_services
  log "cargo test"
  # Benches are built by clippy above and run by `make bench`, not here.
  cargo test --locked --lib --bins --tests 2>&1 | tee "$scratch/cargo-test.log"
  log "summary: $(grep -E '^test result:' "$scratch/cargo-test.log" | awk '{p+=$4; f+=$6} END {print p" passed, "f" failed"}')"
}

client() {
  cd client
  log "client: lint"
  npm run --silent lint
  log "client: typecheck"
  npm run --silent typecheck
  log "client: unit tests"
  npm test --silent
  cd ..
}

browser() {
  start_services
  log "browser: building the client and the daemon"
  (cd client && npm run --silent build)
  cargo build --locked --bin job-importer
  local port token alert_port alert_secret
  port=$(free_port)
  token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  # The alerts journey listens on alert_port as the webhook receiver of channel `e2e-hook`.
  alert_port=$(free_port)
  alert_secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  { cat tests/e2e.toml; printf '\n[alerts]\nallow_private_networks = true\npoll_interval_ms = 200\n'
    printf '[[alerts.channels]]\nid = "e2e-hook"\nkind = "webhook"\nurl = "http://127.0.0.1:%s/hook"\nsecret = "%s"\n' \
      "$alert_port" "$alert_secret"; } >"$scratch/e2e.toml"
  mkdir -p artifacts
  # The daemon is started by a script of its own so the journeys can restart it
  # (E2E_RESTART_CMD: stops it, starts it again on the same port and database, returns once
  # it listens).
  cat >"$scratch/daemon.sh" <<DAEMON
#!/usr/bin/env bash
set -euo pipefail
if [ -f "$scratch/daemon.pid" ]; then
  old=\$(cat "$scratch/daemon.pid"); kill "\$old" 2>/dev/null || true
  for _ in \$(seq 200); do kill -0 "\$old" 2>/dev/null || break; sleep 0.1; done
fi
# The daemon serves client/dist relative to its working directory; the journeys call this
# script from client/.
cd "$REPO_ROOT"
JOB_IMPORTER__HTTP__BIND="127.0.0.1:$port" \\
JOB_IMPORTER__AUTH__ADMIN_TOKEN="$token" \\
JOB_IMPORTER__MONGODB__URI="$TEST_MONGODB_URI" \\
JOB_IMPORTER__MONGODB__DATABASE="e2e_$(date +%s)_$$" \\
JOB_IMPORTER__REDIS__URL="$TEST_REDIS_URL" \\
JOB_IMPORTER__REDIS__PREFIX="e2e-$$" \\
  nohup "$CARGO_TARGET_DIR/debug/job-importer" serve --config "$scratch/e2e.toml" >>"$REPO_ROOT/artifacts/e2e-daemon.log" 2>&1 &
echo \$! >"$scratch/daemon.pid"
for _ in \$(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && exit 0; sleep 0.1; done
echo "the daemon did not start" >&2; exit 1
DAEMON
  chmod +x "$scratch/daemon.sh"
  : >artifacts/e2e-daemon.log
  "$scratch/daemon.sh" || { cat artifacts/e2e-daemon.log; die "the daemon did not start"; }
  daemon_pid=$(cat "$scratch/daemon.pid")
  log "browser: running the journeys against http://127.0.0.1:$port"
  (cd client && E2E_BASE_URL="http://127.0.0.1:$port" E2E_TOKEN="$token" \
    E2E_FIXTURES_DIR="$REPO_ROOT/tests/fixtures/feeds" E2E_ARTIFACTS_DIR="$REPO_ROOT/artifacts" \
    E2E_RESTART_CMD="$scratch/daemon.sh" E2E_ALERT_PORT="$alert_port" E2E_ALERT_SECRET="$alert_secret" \
    npm run --silent test:e2e)
  kill "$(cat "$scratch/daemon.pid")" 2>/dev/null || true
}

# The fault-injection soak's short form, part of `all`: the kept regression seeds
# (tests/soak/regressions.txt), then the scenarios of seeds 1-6 not among them (at most 16
# steps each), against the debug build (about 7 minutes); it starts Redis and FerretDB of its
# own. `make soak` plays 200 random scenarios.
soak_short() {
  log "soak: kept seeds and ${SOAK_SCENARIOS:-6} scenarios"
  SOAK_SCENARIOS=${SOAK_SCENARIOS:-6} SOAK_FIRST_SEED=${SOAK_FIRST_SEED:-1} \
    SOAK_STEPS=${SOAK_STEPS:-16} cargo test --locked --test soak
}

case "$what" in
  all) rust; soak_short; client; browser ;;
  rust) rust ;;
  client) client ;;
  browser) browser ;;
  docker) docker_context ;;
  soak-short) soak_short ;;
  *) die "unknown suite $what" ;;
esac
