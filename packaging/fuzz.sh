#!/bin/bash
# Runs each cargo-fuzz target in fuzz/ for a bounded time (CI), or longer by hand:
#
#   bash packaging/fuzz.sh                  # every target, SER_FUZZ_SECONDS each (default 60)
#   SER_FUZZ_SECONDS=3600 bash packaging/fuzz.sh request_line
#
# cargo-fuzz needs nightly rustc features; the machine's stable toolchain is allowed
# to use them with RUSTC_BOOTSTRAP=1. The sanitizer is off (no ASan runtime on
# stable): libFuzzer still finds panics, aborts, timeouts and out-of-memory, which
# is what safe Rust can do wrong (panics inside symphonia, which the decoder
# contains, are listed instead: see fuzz/fuzz_targets/audio_decode.rs). The full
# libFuzzer output is kept in $CARGO_TARGET_DIR/fuzz-logs/<target>.log. The corpus
# lives in $CARGO_TARGET_DIR/fuzz-corpus (it grows across runs); a crash leaves its
# input in fuzz/artifacts/<target>/, to be added as a regression test in
# daemon/tests/fuzz_props.rs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SER_ROOT"
TARGET=$(ser_target_dir)
SECONDS_EACH=${SER_FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_line audio_decode)
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  corpus="$TARGET/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz: $t for ${SECONDS_EACH}s (corpus $corpus: $(ls "$corpus" | wc -l) inputs)"
  log="$TARGET/fuzz-logs/$t.log"
  mkdir -p "$(dirname "$log")"
  set +e
  cargo fuzz run --sanitizer none --target-dir "$TARGET/fuzz" "$t" "$corpus" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 |
    tee "$log" | grep -v '^contained panic in symphonia' |
    grep -E '^(#[0-9]+ *(DONE|INITED)|stat::|==|SUMMARY|Done|.*(panicked|crash|ERROR|deadly))'
  status=${PIPESTATUS[0]}
  set -e
  # Panics inside symphonia that the decoder's catch_unwind contained (the
  # audio_decode target lets them through; see its comment): not failures,
  # but each is a symphonia bug worth a look, listed by place.
  contained=$(grep -A1 '^contained panic in symphonia' "$log" | grep -oE 'symphonia-[^ ]*:[0-9]+:[0-9]+' | sort | uniq -c || true)
  if [ -n "$contained" ]; then
    echo "fuzz: $t: panics inside symphonia, contained by catch_unwind (count, place):"
    echo "$contained" | sed 's/^/  /'
  fi
  if [ "$status" != 0 ]; then
    echo "fuzz: $t FAILED (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: OK (${targets[*]}, ${SECONDS_EACH}s each)"
