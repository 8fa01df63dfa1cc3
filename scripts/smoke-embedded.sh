#!/usr/bin/env bash
# Smoke test of the embedded default: `make run` on a fresh var/ (SQLite, file broker, local key),
# then sign in as a demo user with the password it printed and wait for the worker and beat to act.
set -euo pipefail
cd "$(dirname "$0")/.."

export PALISADE_VAR_DIR="$(mktemp -d)"
unset DATABASE_URL CELERY_BROKER_URL
log="$PALISADE_VAR_DIR/run.log"

setsid make run >"$log" 2>&1 &
run_pid=$!
cleanup() {
  kill -TERM -- "-$run_pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$run_pid" 2>/dev/null || true
}
trap cleanup EXIT

if ! .venv/bin/python scripts/smoke_embedded.py "$log"; then
  echo "--- make run output ---"; tail -n 80 "$log"; exit 1
fi
