#!/bin/bash
# Everything CI checks, in one command:
#
#   bash packaging/test.sh
#
# 1. installs missing packages and the training venv (packaging/deps.sh --python --deb)
# 2. cargo fmt --check
# 3. ONE release build of the whole workspace, all targets (reused by every later step)
# 4. cargo clippy (release, all targets, warnings are errors)
# 5. starts a private test rig (tests/rig/start.sh: Xvfb, D-Bus, PulseAudio, dunst, tray host)
# 6. cargo test --release --workspace (unit, integration and end-to-end tests)
# 7. the training package's unit tests and smoke test (models/train/smoke.sh)
# 8. the package test (packaging/deb-test.sh: build the .deb, install, use, purge)
# 9. each cargo-fuzz target for SER_FUZZ_SECONDS (default 60) (packaging/fuzz.sh)
# and prints a summary. Exits non-zero when any step failed. The rig is always stopped.
#
# Environment: CARGO_TARGET_DIR (build dir), SER_RAVDESS (data, default ../shared/data/ravdess),
# SER_VENV (training venv), SER_TEST_THREADS (cargo test threads, default: cargo's),
# SER_SKIP="smoke deb" (skip named steps: fmt build clippy test pytests smoke deb fuzz).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SER_ROOT"

START=$(date +%s)
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ser-test.XXXXXX")
export RIG_RUN="$LOG_DIR/rig"
export SER_RAVDESS=${SER_RAVDESS:-$SER_ROOT/../shared/data/ravdess}
export SER_VENV=${SER_VENV:-$HOME/.cache/ser/venv}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
SKIP=" ${SER_SKIP:-} "

RESULTS=()
FAILED=0
cleanup() { bash tests/rig/stop.sh >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT TERM

# step <name> <command...>: runs it, output live and in $LOG_DIR/<name>.log
step() {
  local name=$1; shift
  if [[ "$SKIP" == *" $name "* ]]; then RESULTS+=("SKIP  $name (SER_SKIP)"); return 0; fi
  echo; echo "================ $name: $* ================"
  local t0=$SECONDS rc
  "$@" 2>&1 | tee "$LOG_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  local dt=$((SECONDS - t0))
  if [ "$rc" = 0 ]; then RESULTS+=("PASS  $name (${dt}s)")
  else RESULTS+=("FAIL  $name (${dt}s, exit $rc; log: $LOG_DIR/$name.log)"); FAILED=1; fi
  return "$rc"
}
skip() { RESULTS+=("SKIP  $1 ($2)"); }

step deps bash packaging/deps.sh --python --deb --fuzz || { echo "deps failed: cannot go on" >&2; printf '%s\n' "${RESULTS[@]}"; exit 1; }
TARGET=$(ser_target_dir)
export SER_BIN_DIR="$TARGET/release"
echo "target dir: $TARGET; data: $SER_RAVDESS; logs: $LOG_DIR"

step fmt cargo fmt --all --check -- --color never
if step build cargo build --release --workspace --all-targets --locked; then
  step clippy cargo clippy --workspace --all-targets --release --locked -- -D warnings
  if step rig bash tests/rig/start.sh; then
    threads=()
    [ -n "${SER_TEST_THREADS:-}" ] && threads=(--test-threads "$SER_TEST_THREADS")
    step test cargo test --release --workspace --locked --no-fail-fast -- "${threads[@]}"
  else
    skip test "the rig did not start"
  fi
  step pytests bash -c 'cd models/train && "$SER_VENV/bin/python" -m unittest discover -s tests'
  if [ -f models/train/smoke.sh ]; then
    step smoke env SER_PYTHON="$SER_VENV/bin/python" bash models/train/smoke.sh
  else
    skip smoke "no models/train/smoke.sh"
  fi
  step deb bash packaging/deb-test.sh
  step fuzz bash packaging/fuzz.sh
else
  for s in clippy rig test pytests smoke deb fuzz; do skip "$s" "the build failed"; done
fi

if [ -s "$RIG_RUN/trayhost.deaths" ]; then
  echo
  echo "tray host deaths during the run (tests/rig/tray.sh restarted each; logs in $RIG_RUN):"
  sed 's/^/  /' "$RIG_RUN/trayhost.deaths"
fi

echo
echo "================ summary ($(( $(date +%s) - START ))s) ================"
printf '%s\n' "${RESULTS[@]}"
if [ "$FAILED" = 0 ]; then echo "ALL PASSED"; else echo "SOME STEPS FAILED (logs in $LOG_DIR)"; fi
exit "$FAILED"
