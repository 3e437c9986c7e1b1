#!/usr/bin/env bash
# Developer entry point, for a fresh Debian or Ubuntu machine:
#   packaging/dev.sh run              install what is missing, then run the gateway and its console
#   packaging/dev.sh test             install what is missing, then run every check and test
#   packaging/dev.sh package          build the Debian package and the release archive (--arm64: for ARM)
#   packaging/dev.sh package-check    build the package, then install, run, upgrade and purge it here
#   packaging/dev.sh desktop-package  build the desktop console's Debian package (cargo tauri build)
#   packaging/dev.sh sqlx-prepare     refresh .sqlx/ after changing a query or a migration
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

# What the console needs: the wasm target, trunk and the wasm-bindgen CLI of the version Cargo.lock
# pins (trunk would otherwise download one), WebKitGTK for the desktop app, and Node, Chromium, Xvfb
# and tauri-driver for its end-to-end tests. Installed tools are reused; from nothing this takes
# about 15 minutes of compiling.
ensure_console_tools() {
  apt_install libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libssl-dev libxdo-dev \
    xvfb xauth xdotool chromium chromium-driver webkit2gtk-driver
  command -v node >/dev/null || apt_install nodejs npm
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  local wbg
  wbg=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print}' Cargo.lock)
  # Not --locked: the CLI's own lockfile pins a crate version crates.io no longer has.
  [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" = "$wbg" ] \
    || { log "installing wasm-bindgen-cli $wbg"; cargo install wasm-bindgen-cli --version "$wbg"; }
  # trunk 0.22 needs a newer rustc than these machines have.
  [ "$(trunk --version 2>/dev/null | cut -d' ' -f2)" = 0.21.14 ] \
    || { log "installing trunk"; cargo install trunk --version 0.21.14 --locked; }
}

# The console, built by trunk into ui/dist (offline: crates are fetched first).
build_console() {
  ensure_console_tools
  log "building the console (ui/dist)"
  cargo fetch --locked -q
  (cd ui && TRUNK_SKIP_VERSION_CHECK=true trunk build --release)
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
  for secret in jwt_secret credentials_key; do
    [ -s "$state/$secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/$secret"
  done
  [ -s "$state/admin_password" ] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/admin_password"
  export DHIS2GW_DB="${DHIS2GW_DB:-$(postgres_server)/dhis2gw_dev}"
  export DHIS2GW_JWT_SECRET="${DHIS2GW_JWT_SECRET:-$(cat "$state/jwt_secret")}"
  export DHIS2GW_CREDENTIALS_KEY="${DHIS2GW_CREDENTIALS_KEY:-$(cat "$state/credentials_key")}"
  export DHIS2GW_BOOTSTRAP_ADMIN_USER="${DHIS2GW_BOOTSTRAP_ADMIN_USER:-admin}"
  export DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD="${DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD:-$(cat "$state/admin_password")}"
  export DHIS2GW_MIGRATIONS_DIR="${DHIS2GW_MIGRATIONS_DIR:-$ROOT/migrations}"
  local port="${DHIS2GW_SERVER_PORT:-9090}"
  build_console
  export DHIS2GW_CONSOLE_DIR="${DHIS2GW_CONSOLE_DIR:-$ROOT/ui/dist}"
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
  log "console:  http://localhost:${port}/console/"
  log "first admin: ${DHIS2GW_BOOTSTRAP_ADMIN_USER} / ${DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD} (created on an empty database only)"
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    log "building the desktop console"
    cargo build -p dhis2gw-console
    DHIS2GW_GATEWAY="http://localhost:${port}" "$TARGET_DIR/debug/dhis2gw-console" &
  fi
  cargo run -q -p dhis2gw -- --config "$ROOT/packaging/dev/dhis2gw.dev.yml" "$@"
}

# From PyPI, into a virtualenv beside the build: dhis2.py, a DHIS2 client library we did not
# write, for the DHIS2-compatible API's tests; and schemathesis, which fuzzes the whole API
# from its OpenAPI document (server/tests/api/fuzz.rs).
ensure_python_tools() {
  local venv="$TARGET_DIR/dhis2py-venv"
  if ! "$venv/bin/python" -c 'import dhis2' 2>/dev/null \
      || [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version 4.32.5" ]; then
    command -v python3 >/dev/null || apt_install python3
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    log "installing dhis2.py and schemathesis (PyPI) for the client-library and fuzzing tests"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "dhis2.py==2.3.0" "schemathesis==4.32.5"
  fi
  export DHIS2GW_TEST_PYTHON="$venv/bin/python" DHIS2GW_TEST_SCHEMATHESIS="$venv/bin/schemathesis"
}

cmd_test() {
  ensure_toolchain
  ensure_services
  ensure_python_tools
  ensure_console_tools
  command -v tauri-driver >/dev/null || { log "installing tauri-driver"; cargo install tauri-driver --version '^2' --locked; }
  export DHIS2GW_TEST_POSTGRES="${DHIS2GW_TEST_POSTGRES:-$(postgres_server)}"
  export DHIS2GW_TEST_REDIS="${DHIS2GW_TEST_REDIS:-127.0.0.1:6379}"
  export CHROMEDRIVER=/usr/bin/chromedriver GSETTINGS_BACKEND=memory
  drop_test_databases
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "module layers (no cycles; no HTTP in the gateway's domain)"
  python3 packaging/check-layers.py
  # The desktop crate embeds ui/dist, so the console is built before anything that compiles it.
  build_console
  (cd ui/e2e && npm ci --no-audit --no-fund --loglevel=error)
  log "cargo clippy"
  cargo clippy --all-targets -- -D warnings
  cargo clippy -p dhis2gw-console --all-targets -- -D warnings
  cargo clippy -p dhis2gw-ui --target wasm32-unknown-unknown --all-targets -- -D warnings
  log "building the desktop console for its end-to-end test"
  cargo build -p dhis2gw-console
  log "tests (the console's end-to-end tests among them: server/tests/api/browser.rs)"
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --exclude dhis2gw-ui --no-fail-fast
  else
    cargo test --workspace --exclude dhis2gw-ui --no-fail-fast
  fi
  log "console component tests in headless Chromium"
  cargo test -p dhis2gw-ui --target wasm32-unknown-unknown
  drop_test_databases
  cmd_package_check
  cmd_desktop_package
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
  # DHIS2GW_SQLX_DB: another name, so two checkouts on one machine can prepare at once.
  local name="${DHIS2GW_SQLX_DB:-dhis2gw_sqlx}" url
  url="$(postgres_server)/$name"
  psql "$(postgres_server)/postgres" -qc "drop database if exists $name with (force)" -c "create database $name"
  for f in migrations/*.sql; do psql "$url" -q -v ON_ERROR_STOP=1 -f "$f"; done
  rm -rf .sqlx && mkdir .sqlx
  touch server/src/lib.rs
  SQLX_OFFLINE=false DATABASE_URL="$url" SQLX_OFFLINE_DIR="$ROOT/.sqlx" cargo check -p dhis2gw -p dhis2gw-wire -p dhis2-double --all-targets
  log "$(ls .sqlx | wc -l) queries cached in .sqlx/"
}

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

ensure_cargo_deb() {
  apt_install dpkg-dev
  command -v cargo-deb >/dev/null || { log "installing cargo-deb"; cargo install --locked cargo-deb; }
}

# Release build, then dhis2gw_<version>-1_<arch>.deb and dhis2gw-<version>-<arch>-linux.tar.gz
# (binary, default config, migrations, pages, docs, README) in $TARGET_DIR/dist/.
# `package --arm64` cross-builds both for 64-bit ARM (Debian's cross gcc, rustup's target).
cmd_package() {
  ensure_toolchain
  ensure_cargo_deb
  local dist="$TARGET_DIR/dist" arch target="" binary="$TARGET_DIR/release/dhis2gw"
  arch=$(uname -m)
  if [ "${1:-}" = --arm64 ]; then
    shift
    target=aarch64-unknown-linux-gnu arch=aarch64 binary="$TARGET_DIR/aarch64-unknown-linux-gnu/release/dhis2gw"
    apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  fi
  mkdir -p "$dist"
  build_console
  log "building the Debian package (release build${target:+ for $target})"
  cargo deb -p dhis2gw ${target:+--target "$target"} --output "$dist/" "$@" >&2
  local name="dhis2gw-$VERSION-$arch-linux" stage
  stage=$(mktemp -d)
  mkdir -p "$stage/$name/migrations"
  cp "$binary" README.md "$stage/$name/"
  cp migrations/*.sql "$stage/$name/migrations/"
  cp -r server/templates server/static server/docs "$stage/$name/"
  cp -r ui/dist "$stage/$name/console"
  # Paths relative to the unpacked folder; run there with ./dhis2gw --config dhis2gw.yml.
  sed -e 's|^  uri: .*|  uri: postgres://dhis2gw:CHANGE-ME@localhost/dhis2gw|' \
      -e 's|^  jwt_secret_file: .*|  jwt_secret_file: jwt.secret     # create it: openssl rand -hex 32 > jwt.secret|' \
      -e 's|^  credentials_key_file: .*|  credentials_key_file: credentials.key   # create it: openssl rand -hex 32 > credentials.key|' \
      -e 's|^  # conf_dir: .*|  conf_dir: conf.d|' \
      -e 's|^  logdir: .*|  logdir: ""                       # stdout only; or a directory for daily files|' \
      -e 's|file:///usr/share/dhis2gw/db/migrations|migrations|; s|/usr/share/dhis2gw/||' \
      packaging/deb/dhis2gw.yml >"$stage/$name/dhis2gw.yml"
  tar -C "$stage" -czf "$dist/$name.tar.gz" "$name"
  rm -rf "$stage"
  log "built $name.tar.gz and the .deb in $dist"
}

# What an operator does with the package, on this machine: inspect it, install it, run the
# installed binary with the installed config against local PostgreSQL and Redis, upgrade to a
# newer build, remove, purge, and check nothing is left but what policy keeps.
cmd_package_check() {
  cmd_package
  ensure_services
  local deb="$TARGET_DIR/dist/dhis2gw_${VERSION}-1_$(dpkg --print-architecture).deb"
  local newer="$TARGET_DIR/dist/dhis2gw_${VERSION}-2_$(dpkg --print-architecture).deb"
  log "package check: metadata and file list"
  local info files
  info=$(dpkg-deb -I "$deb")
  for field in "Package: dhis2gw" "Version: ${VERSION}-1" "Depends: .*adduser" "Recommends: postgresql.*redis-server"; do
    grep -q "^ $field" <<<"$info" || fail "control has no '$field':\n$info"
  done
  files=$(dpkg-deb -c "$deb" | awk '{print $1, $NF}')
  for entry in "-rwxr-xr-x ./usr/bin/dhis2gw" "-rw-r--r-- ./usr/share/dhis2gw/dhis2gw.yml" \
      "-rw-r--r-- ./lib/systemd/system/dhis2gw.service" "-rw-r--r-- ./usr/share/dhis2gw/db/migrations/0001_foundation.sql" \
      "-rw-r--r-- ./usr/share/dhis2gw/templates/index.html" "-rw-r--r-- ./usr/share/dhis2gw/static/favicon.svg" \
      "-rw-r--r-- ./usr/share/dhis2gw/docs/operations-guide.md" "-rw-r--r-- ./usr/share/dhis2gw/console/index.html"; do
    grep -qxF -- "$entry" <<<"$files" || fail "the package lacks $entry"
  done
  # No conffile: dpkg's question about one would stop an install over the original's config.
  ! dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -q conffiles || fail "the package must have no conffile"

  if dpkg-query -W dhis2gw >/dev/null 2>&1; then
    log "package check: purging the dhis2gw package already installed here"
    as_root dpkg --purge dhis2gw >/dev/null
  fi
  local db=dhis2gw_pkgcheck port prefix
  port=$(free_port)
  prefix="pkgcheck_$$"
  log "package check: dpkg -i"
  as_root dpkg -i "$deb" >/dev/null
  [ "$(stat -c '%U:%G %a' /etc/dhis2gw/dhis2gw.yml)" = "root:dhis2gw 640" ] || fail "config permissions: $(stat -c '%U:%G %a' /etc/dhis2gw/dhis2gw.yml)"
  for key in jwt.secret credentials.key; do
    [ "$(stat -c '%U:%G %a' /etc/dhis2gw/$key)" = "root:dhis2gw 640" ] || fail "no generated $key with 640 root:dhis2gw"
  done
  [ "$(stat -c '%U %a' /var/log/dhis2gw)" = "dhis2gw 750" ] || fail "/var/log/dhis2gw must belong to dhis2gw"
  [ "$(stat -c '%U %a' /var/lib/dhis2gw/archive)" = "dhis2gw 750" ] || fail "/var/lib/dhis2gw/archive must belong to dhis2gw"
  if [ -d /run/systemd/system ] || systemd-analyze --version >/dev/null 2>&1; then
    systemd-analyze verify /lib/systemd/system/dhis2gw.service || fail "systemd-analyze verify"
  fi
  if [ -e /etc/systemd/system/multi-user.target.wants/dhis2gw.service ]; then :; else fail "the service is not enabled"; fi

  # The README's prerequisites: a role named like the service user, owning its database.
  as_postgres "psql -qc 'drop database if exists $db' -c 'drop role if exists dhis2gw' -c 'create role dhis2gw login' -c 'create database $db owner dhis2gw'" >/dev/null
  local secret; secret=$(as_root sha256sum /etc/dhis2gw/jwt.secret)
  run_installed() {
    as_root runuser -u dhis2gw -- env DHIS2GW_DB="postgres:///$db?host=/var/run/postgresql" \
      DHIS2GW_SERVER_PORT="$port" DHIS2GW_QUEUE_PREFIX="$prefix" /usr/bin/dhis2gw --config /etc/dhis2gw/dhis2gw.yml "$@"
  }
  local admin_password; admin_password=$(head -c 9 /dev/urandom | base64)
  echo "$admin_password" | run_installed create-user --username admin --role admin --password-stdin >/dev/null
  log "package check: the installed gateway as the service user, with the installed config"
  run_installed >/dev/null 2>&1 &
  local pid=$!
  wait_ready "$port" || fail "the installed gateway did not answer /health/ready"
  # grep -c reads the whole page: grep -q stops at the first match, and curl then fails on a page
  # larger than the pipe holds (error 23), which pipefail turns into a failed check.
  curl -fsS "http://127.0.0.1:$port/docs/operations-guide" | grep -c '<h1 id="operations-guide">' >/dev/null \
    || fail "installed docs are not served"
  curl -fsS "http://127.0.0.1:$port/metrics" | grep -c '^dhis2gw_http_requests_total' >/dev/null || fail "no metrics"
  curl -fsS "http://127.0.0.1:$port/console/" | grep -c '<title>dhis2gw console</title>' >/dev/null \
    || fail "the console is not served"
  curl -fsS "http://127.0.0.1:$port/api/v2/users/getToken" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$admin_password\"}" | grep -q '"token"' || fail "cannot sign in"
  as_root kill -TERM "$(pgrep -f -n "^/usr/bin/dhis2gw --config /etc/dhis2gw/dhis2gw.yml")"
  wait "$pid" || fail "the gateway did not stop cleanly"
  ls /var/log/dhis2gw/dhis2gw.log.* >/dev/null 2>&1 || fail "no log file in /var/log/dhis2gw"

  log "package check: upgrade to a newer build keeps the admin's config edits, the secret and the data"
  echo "# edited by the admin" | as_root tee -a /etc/dhis2gw/dhis2gw.yml >/dev/null
  cargo deb -p dhis2gw --no-build --deb-revision 2 --output "$newer" >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$newer" >/dev/null
  [ "$(dpkg-query -W -f='${Version}' dhis2gw)" = "${VERSION}-2" ] || fail "upgrade did not happen"
  grep -q "^# edited by the admin" /etc/dhis2gw/dhis2gw.yml || fail "the upgrade lost the admin's edit"
  [ "$(as_root sha256sum /etc/dhis2gw/jwt.secret)" = "$secret" ] || fail "the upgrade replaced the secret"
  cmp -s /usr/share/dhis2gw/dhis2gw.yml /etc/dhis2gw/dhis2gw.yml.dpkg-dist || fail "the package's config is not beside the admin's"
  run_installed >/dev/null 2>&1 &
  pid=$!
  wait_ready "$port" || fail "the upgraded gateway did not answer /health/ready"
  curl -fsS "http://127.0.0.1:$port/api/v2/users/getToken" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$admin_password\"}" | grep -q '"token"' || fail "data lost on upgrade"
  as_root kill -TERM "$(pgrep -f -n "^/usr/bin/dhis2gw --config /etc/dhis2gw/dhis2gw.yml")"
  wait "$pid" || true

  log "package check: remove keeps the config, purge leaves only the service user"
  as_root dpkg --remove dhis2gw >/dev/null
  [ ! -e /usr/bin/dhis2gw ] && [ -e /etc/dhis2gw/dhis2gw.yml ] || fail "remove must delete the binary and keep the config"
  as_root dpkg --purge dhis2gw >/dev/null
  local left
  left=$(ls -d /etc/dhis2gw /var/log/dhis2gw /var/lib/dhis2gw /usr/share/dhis2gw /usr/share/doc/dhis2gw /lib/systemd/system/dhis2gw.service \
    /etc/systemd/system/multi-user.target.wants/dhis2gw.service /var/lib/systemd/deb-systemd-helper-enabled/dhis2gw.service 2>/dev/null || true)
  [ -z "$left" ] || fail "left after purge: $left"
  getent passwd dhis2gw >/dev/null || fail "the service user should stay (Debian policy)"
  as_postgres "psql -qc 'drop database if exists $db' -c 'drop role if exists dhis2gw'" >/dev/null
  redis-cli -h 127.0.0.1 --scan --pattern "$prefix*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null
  package_check_over_the_original "$deb"
  log "package check passed: $(basename "$deb") installs, runs, upgrades and purges cleanly, also over the original dhis2gw"
}

# A host set up as the original dhis2gw's README says: its configuration (every key of its
# table) and conf.d, its database (its migrations 1-7, a partner with a token, mappings, a
# month of history; server/tests/fixtures/v1), its files under /usr/share/dhis2gw. Our package
# installs over it unattended, keeps its configuration, and the gateway starts on it as the
# unit would and delivers the old partner's next post with its old token.
package_check_over_the_original() {
  local deb=$1 fixtures="$ROOT/server/tests/fixtures/v1" db=dhis2gw_pkgcheck_v1 port dport prefix double pid=""
  port=$(free_port) dport=$(free_port) prefix="pkgcheck_v1_$$"
  local base="http://localhost:$port"   # the original's configuration says host: localhost
  log "package check: over the original dhis2gw's configuration, conf.d and database"
  cargo build -q -p dhis2-double
  as_postgres "psql -qc 'drop database if exists $db' -c 'drop role if exists dhis2gw' -c 'create role dhis2gw login' -c 'create database $db owner dhis2gw'" >/dev/null
  # The original's tables belong to the role it connects as.
  for sql in "$fixtures"/migrations/*.sql "$fixtures/data.sql"; do
    { echo 'set role dhis2gw;'; cat "$sql"; } | as_postgres "psql -X -q -1 -v ON_ERROR_STOP=1 -d $db -f -" >/dev/null \
      || fail "building the original's database: $sql"
  done
  as_root install -d -m 0755 /etc/dhis2gw/conf.d /usr/share/dhis2gw/db/migrations
  sed -e "s|@DATABASE_URI@|postgres:///$db?host=/var/run/postgresql|" -e "s|@PORT@|$port|" -e "s|@QUEUE_PREFIX@|$prefix|" \
      -e "s|@DHIS2_BASE_URL@|http://127.0.0.1:$dport|" -e "s|@DHIS2_USER@|admin|" -e "s|@DHIS2_PASSWORD@|district|" \
      "$fixtures/dhis2gw.yml" | as_root tee /etc/dhis2gw/dhis2gw.yml >/dev/null
  as_root cp "$fixtures/conf.d/dhis2.json" /etc/dhis2gw/conf.d/
  # The original's golang-migrate files, left where its configuration points.
  echo "-- the original's first migration" | as_root tee /usr/share/dhis2gw/db/migrations/000001_initial.up.sql >/dev/null
  local before; before=$(as_root cat /etc/dhis2gw/dhis2gw.yml | sha256sum)
  "$TARGET_DIR/debug/dhis2-double" --port "$dport" --version 2.40 >/dev/null 2>&1 &
  double=$!
  as_root dpkg -i "$deb" </dev/null >/dev/null || { kill "$double"; fail "dpkg -i over the original's layout failed"; }
  [ "$(as_root cat /etc/dhis2gw/dhis2gw.yml | sha256sum)" = "$before" ] || fail "the install changed the original's configuration"
  [ -e /etc/dhis2gw/dhis2gw.yml.dpkg-dist ] || fail "the package's configuration is not beside the original's"
  [ "$(stat -c '%U:%G %a' /etc/dhis2gw/dhis2gw.yml)" = "root:dhis2gw 640" ] || fail "config permissions after install"
  if ! systemctl is-active --quiet dhis2gw 2>/dev/null; then
    # No systemd here (a container): run it as the unit would, as the service user, in the
    # unit's working directory, with nothing but the file.
    (cd /usr/share/dhis2gw && as_root runuser -u dhis2gw -- env -i PATH="$PATH" /usr/bin/dhis2gw --config /etc/dhis2gw/dhis2gw.yml) \
      >/tmp/dhis2gw-pkgcheck-v1.log 2>&1 &
    pid=$!
  fi
  local ready=""
  for _ in $(seq 300); do curl -fsS "$base/health/ready" >/dev/null 2>&1 && { ready=1; break; }; sleep 0.1; done
  [ -n "$ready" ] || { kill "$double"; fail "the gateway did not start on the original's configuration: $(tail -5 /tmp/dhis2gw-pkgcheck-v1.log 2>/dev/null)"; }
  local id status=""
  id=$(curl -fsS "$base/api/v2/aggregate" -H 'Authorization: Token a3f1c2e4b5d6978812ab34cd56ef7890a1b2c3d4' \
    -H 'Content-Type: application/json' \
    -d '{"orgUnit":"OrgFac00001","period":"202410","dataSet":"pBOMPrpg1QY","dataValues":{"hiv_positive":3}}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["submission_id"])') \
    || fail "the old partner's post with its old token was refused"
  for _ in $(seq 100); do
    status=$(curl -fsS -u meofficer:me-password-2 "$base/api/v2/logs/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = succeeded ] && break
    sleep 0.3
  done
  [ "$status" = succeeded ] || fail "the old partner's post was not delivered ($status)"
  curl -fsS -u meofficer:me-password-2 "$base/api/v2/logs?status=failed&page_size=1" | grep -c '"total":[1-9]' >/dev/null \
    || fail "the original's history is not listed"
  if [ -n "$pid" ]; then
    as_root kill -TERM "$(pgrep -f -n "^/usr/bin/dhis2gw --config /etc/dhis2gw/dhis2gw.yml")"
    wait "$pid" || true
  fi
  kill "$double"
  as_root dpkg --purge dhis2gw >/dev/null
  as_root rm -rf /etc/dhis2gw /usr/share/dhis2gw
  as_root rm -f /tmp/dhis2gw.log.*   # the original's configuration says logdir: /tmp
  as_postgres "psql -qc 'drop database if exists $db' -c 'drop role if exists dhis2gw'" >/dev/null
  redis-cli -h 127.0.0.1 --scan --pattern "$prefix*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null
}

# The desktop console's Debian package, built by tauri-cli (which also builds ui/dist in release),
# then checked: what it depends on, and that it holds the binary, its menu entry and icons.
# Windows (msi, nsis) and macOS (app, dmg) bundles are configured in desktop/tauri.conf.json and
# built with the same command on those systems.
cmd_desktop_package() {
  ensure_toolchain
  ensure_console_tools
  cargo tauri --version 2>/dev/null | grep -q '^tauri-cli 2' \
    || { log "installing tauri-cli"; cargo install tauri-cli --version '^2' --locked; }
  cargo fetch --locked -q
  log "building the desktop console's Debian package (cargo tauri build)"
  (cd desktop && TRUNK_SKIP_VERSION_CHECK=true cargo tauri build --bundles deb "$@")
  local built deb
  built=$(ls -t "$TARGET_DIR"/release/bundle/deb/*.deb | head -n 1)
  mkdir -p "$TARGET_DIR/dist"
  deb="$TARGET_DIR/dist/dhis2gw-console_${VERSION}_$(dpkg --print-architecture).deb"
  cp "$built" "$deb"
  local info files
  info=$(dpkg-deb -I "$deb")
  grep -q "^ Package: dhis2gw-console" <<<"$info" || fail "the desktop package is not named dhis2gw-console:\n$info"
  grep -q "^ Depends: .*libwebkit2gtk-4.1-0" <<<"$info" || fail "the desktop package must depend on WebKitGTK:\n$info"
  files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./||')
  for entry in usr/bin/dhis2gw-console "usr/share/applications/dhis2gw console.desktop" \
      usr/share/icons/hicolor/128x128/apps/dhis2gw-console.png; do
    grep -qxF -- "$entry" <<<"$files" || fail "the desktop package lacks $entry:\n$files"
  done
  # Installed, the app opens its window (under Xvfb) and keeps running until closed.
  as_root dpkg -i "$deb" >/dev/null
  local home status; home=$(mktemp -d)
  HOME="$home" XDG_CONFIG_HOME="$home" GSETTINGS_BACKEND=memory \
    timeout 8 xvfb-run -a -s '-screen 0 1280x800x24' /usr/bin/dhis2gw-console >/dev/null 2>&1 && status=0 || status=$?
  as_root dpkg -r dhis2gw-console >/dev/null
  rm -rf "$home"
  [ "$status" = 124 ] || fail "the installed desktop console stopped by itself (exit $status) instead of running until closed"
  log "built $(basename "$deb") in $TARGET_DIR/dist: it installs, opens its window and is removed cleanly"
}

free_port() {
  local port
  while :; do
    port=$(shuf -i 20000-60000 -n 1)
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

fail() { printf '\033[1;31mFAILED: %b\033[0m\n' "$*" >&2; exit 1; }

wait_ready() {
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  sqlx-prepare) shift; cmd_sqlx_prepare "$@" ;;
  package) shift; cmd_package "$@" ;;
  package-check) shift; cmd_package_check "$@" ;;
  desktop-package) shift; cmd_desktop_package "$@" ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
