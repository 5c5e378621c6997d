#!/usr/bin/env bash
# Starts `npm start` on a fresh data directory (no DATABASE_URL: the embedded database) and checks that
# it serves first-run setup, then, restarted with a seeded administrator, the sign-in page at /login.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${CHECK_PORT:-3917}
data_dir=$(mktemp -d)
log=$(mktemp)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

start() {
  env -u DATABASE_URL PORT="$port" DATA_DIR="$data_dir" "$@" npm start >"$log" 2>&1 &
  pid=$!
  local started=$SECONDS
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      echo "  answered after $((SECONDS - started)) s"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "npm start exited:"; cat "$log"; exit 1; fi
    sleep 1
  done
  echo "npm start did not answer within 120 s:"; cat "$log"; exit 1
}

stop() {
  kill -TERM "$pid"
  if ! wait "$pid"; then echo "npm start did not exit cleanly on SIGTERM:"; cat "$log"; exit 1; fi
  pid=""
}

echo "First boot (fresh data directory)"
start
location=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$port/login")
[ "$location" = "303 http://127.0.0.1:$port/setup" ] || { echo "expected /login to lead to /setup, got: $location"; exit 1; }
curl -fsS "http://127.0.0.1:$port/setup" | grep -q "Create administrator" || { echo "/setup does not show the setup form"; exit 1; }
stop

echo "Second boot (administrator seeded from ADMIN_USERNAME / ADMIN_PASSWORD)"
start ADMIN_USERNAME=ci-admin ADMIN_PASSWORD="ci admin password long enough"
page=$(curl -fsS "http://127.0.0.1:$port/login")
echo "$page" | grep -q '<h1>Sign in</h1>' || { echo "/login does not show the sign-in form"; exit 1; }
echo "$page" | grep -q 'Forgot password' || { echo "/login has no Forgot password link"; exit 1; }
stop
echo "README start command serves /login: ok"
