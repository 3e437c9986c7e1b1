#!/usr/bin/env bash
# Developer entry point, for a fresh Debian or Ubuntu machine:
#   packaging/dev.sh run            install what is missing, then run the gateway
#   packaging/dev.sh test           install what is missing, then run every check and test
#   packaging/dev.sh sqlx-prepare   refresh .sqlx/ after changing a query or a migration
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi
}

apt_updated=
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_toolchain() {
  apt_install gcc libc6-dev pkg-config ca-certificates curl
  if ! command -v cargo >/dev/null; then
    # Debian 13 / Ubuntu 24.04 ship rustup; older releases need https://rustup.rs.
    apt_install rustup
    rustup default stable
  fi
}

ensure_services() {
  apt_install postgresql redis-server postgresql-client redis-tools
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
}

# A PostgreSQL server URL (without a database name) the current user can create databases with.
postgres_server() {
  if psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:5432"
    return
  fi
  # Debian's default: peer authentication on the socket. Give this OS user a superuser role.
  local me; me=$(id -un)
  as_postgres "psql -Atqc \"select 1 from pg_roles where rolname = '$me'\"" | grep -q 1 \
    || as_postgres "createuser --superuser '$me'"
  echo "postgres://${me}@%2Fvar%2Frun%2Fpostgresql"
}

cmd_run() {
  ensure_toolchain
  ensure_services
  local state="${XDG_STATE_HOME:-$HOME/.local/state}/dhis2gw-dev"
  mkdir -p "$state"
  [ -s "$state/jwt_secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/jwt_secret"
  [ -s "$state/admin_password" ] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/admin_password"
  export DHIS2GW_DB="${DHIS2GW_DB:-$(postgres_server)/dhis2gw_dev}"
  export DHIS2GW_JWT_SECRET="${DHIS2GW_JWT_SECRET:-$(cat "$state/jwt_secret")}"
  export DHIS2GW_BOOTSTRAP_ADMIN_USER="${DHIS2GW_BOOTSTRAP_ADMIN_USER:-admin}"
  export DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD="${DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD:-$(cat "$state/admin_password")}"
  export DHIS2GW_MIGRATIONS_DIR="${DHIS2GW_MIGRATIONS_DIR:-$ROOT/migrations}"
  local port="${DHIS2GW_SERVER_PORT:-9090}"
  log "building the gateway"
  cargo build -p dhis2gw -p dhis2-double
  if [ -z "${dhis2_base_url:-}${DHIS2GW_DHIS2_BASE_URL:-}" ]; then
    # No DHIS2 of your own: deliver to the test double, so submissions go all the way.
    "${CARGO_TARGET_DIR:-$ROOT/target}/debug/dhis2-double" --port 8089 --version 2.40 >/dev/null &
    trap 'kill $! 2>/dev/null' EXIT
    export dhis2_base_url=http://127.0.0.1:8089 dhis2_user=admin dhis2_password=district
    log "no DHIS2 configured: delivering to the DHIS2 test double on http://127.0.0.1:8089"
    log "  (data set pBOMPrpg1QY, org unit OrgFac00001, data element DeInteger01; set dhis2_base_url to use a real DHIS2)"
  fi
  log "gateway on http://localhost:${port}  (Swagger UI: http://localhost:${port}/swagger/)"
  log "first admin: ${DHIS2GW_BOOTSTRAP_ADMIN_USER} / ${DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD} (created on an empty database only)"
  cargo run -q -p dhis2gw -- --config "$ROOT/packaging/dev/dhis2gw.dev.yml" "$@"
}

cmd_test() {
  ensure_toolchain
  ensure_services
  export DHIS2GW_TEST_POSTGRES="${DHIS2GW_TEST_POSTGRES:-$(postgres_server)}"
  export DHIS2GW_TEST_REDIS="${DHIS2GW_TEST_REDIS:-127.0.0.1:6379}"
  drop_test_databases
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "cargo clippy"
  cargo clippy --all-targets -- -D warnings
  log "tests"
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
  else
    cargo test --workspace --no-fail-fast
  fi
  drop_test_databases
}

# Each test creates its own database; remove those left by earlier runs. A database still in
# use (another test run on this machine) cannot be dropped and is left alone.
drop_test_databases() {
  local server="$DHIS2GW_TEST_POSTGRES"
  psql "$server/postgres" -Atqc "select datname from pg_database where datname like 'dhis2gw\_test\_%'" 2>/dev/null |
    while read -r db; do psql "$server/postgres" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
}

cmd_sqlx_prepare() {
  ensure_services
  local url; url="$(postgres_server)/dhis2gw_sqlx"
  psql "$(postgres_server)/postgres" -qc 'drop database if exists dhis2gw_sqlx with (force)' -c 'create database dhis2gw_sqlx'
  for f in migrations/*.sql; do psql "$url" -q -v ON_ERROR_STOP=1 -f "$f"; done
  rm -rf .sqlx && mkdir .sqlx
  touch server/src/lib.rs
  SQLX_OFFLINE=false DATABASE_URL="$url" SQLX_OFFLINE_DIR="$ROOT/.sqlx" cargo check --workspace --all-targets
  log "$(ls .sqlx | wc -l) queries cached in .sqlx/"
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  sqlx-prepare) shift; cmd_sqlx_prepare "$@" ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
