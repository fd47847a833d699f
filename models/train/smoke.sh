#!/usr/bin/env bash
# Training-pipeline smoke test: a few dozen RAVDESS clips -> Rust `ser-features`
# -> 2 epochs of training -> ONNX export -> `ser-eval` runs the exported model
# on the same clips through the run-time path (Rust features + tract).
# Fails loudly (non-zero exit) on any break.
# Meant for CI: 2 CPU cores, no GPU, a couple of minutes once Rust is built.
#
# Usage (from anywhere):   models/train/smoke.sh
# Environment:
#   SER_PYTHON    python with requirements.txt installed   (default: python3)
#   SER_BIN_DIR   dir holding built `ser-features`, `ser-eval` (default: cargo run)
#   SER_RAVDESS   RAVDESS root with Actor_XX/*.wav          (default: <workspace>/../shared/data/ravdess)
#   SER_SMOKE_DIR work dir to keep                          (default: a temp dir, removed on exit)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${SER_PYTHON:-python3}"
data="${SER_RAVDESS:-$root/../shared/data/ravdess}"
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

[ -d "$data" ] || fail "RAVDESS not found at $data (set SER_RAVDESS)"
"$py" -c 'import torch, numpy, onnx' 2>/dev/null || fail "$py lacks torch/numpy/onnx (pip install -r $here/requirements.txt)"

if [ -n "${SER_SMOKE_DIR:-}" ]; then work="$SER_SMOKE_DIR"; mkdir -p "$work"
else work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi

# 1. a subset: 4 actors (2 male, 2 female) x 8 clips, one of each emotion
subset="$work/ravdess"
rm -rf "$subset"
for actor in 01 02 03 04; do
  mkdir -p "$subset/Actor_$actor"
  for emo in 01 02 03 04 05 06 07 08; do
    src="$data/Actor_$actor/03-01-$emo-02-01-01-$actor.wav"
    [ -f "$src" ] || src="$data/Actor_$actor/03-01-$emo-01-01-01-$actor.wav"
    [ -f "$src" ] || fail "missing clip $src"
    ln -s "$src" "$subset/Actor_$actor/"
  done
done
echo "smoke: subset of $(find "$subset" -name '*.wav' | wc -l) clips in $subset"

# 2. features from the Rust binary
if [ -n "${SER_BIN_DIR:-}" ]; then
  "$SER_BIN_DIR/ser-features" --data "$subset" --out "$work/feats" || fail "ser-features failed"
else
  (cd "$root" && cargo run -q -p ser-models --bin ser-features -- --data "$subset" --out "$work/feats") \
    || fail "ser-features failed"
fi
[ -s "$work/feats/feats.npy" ] && [ -s "$work/feats/index.json" ] || fail "ser-features wrote no feats.npy/index.json"

# 3. two epochs of training + ONNX export (also checks ONNX == PyTorch with onnxruntime if present)
(cd "$here" && "$py" -m ser_train final --features "$work/feats" --arch seed --epochs 2 \
  --version smoke-0 --out "$work/final") || fail "training/export failed"
model="$work/final/model.onnx"
[ -s "$model" ] || fail "no model exported"

# 4. the Rust side runs the exported model end to end (audio -> Rust features ->
#    tract), exactly as `serctl analyze` does: `ser-eval` over the same clips
if [ -n "${SER_BIN_DIR:-}" ]; then
  "$SER_BIN_DIR/ser-eval" --data "$subset" --model "$model" --json > "$work/eval.json" \
    || fail "ser-eval could not run $model"
else
  (cd "$root" && cargo run -q -p ser-models --bin ser-eval -- --data "$subset" --model "$model" --json) \
    > "$work/eval.json" || fail "ser-eval could not run $model"
fi
"$py" - "$work/eval.json" <<'PY' || fail "ser-eval report is wrong: $(cat "$work/eval.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["model_version"] == "smoke-0", r["model_version"]
assert r["evaluated"] == 32 and not r["failed"], (r["evaluated"], r["failed"])
assert 0.0 <= r["ua"] <= 1.0 and 0.0 <= r["wa"] <= 1.0
print(f"smoke: ser-eval ran the exported model on {r['evaluated']} clips (WA {r['wa']:.2f} after 2 epochs)")
PY
echo "smoke: OK ($model)"
