#!/bin/sh
# Fetch the pretrained speech embedding (Google's speech_embedding, Apache-2.0,
# as shipped in the openwakeword 0.4.0 wheel on PyPI) for `fuse-cv` /
# `fuse-final` and the fixture scripts. Nothing is installed: the wheel is
# downloaded and unpacked into DIR (default /tmp/oww), and the two graphs
# are checked by SHA-256.
#   sh models/train/fetch_speech_embedding.sh [DIR]
#   -> DIR/openwakeword/resources/models/{embedding_model,melspectrogram}.onnx
set -eu
dir=${1:-/tmp/oww}
python=${SER_PYTHON:-python3}
mkdir -p "$dir"
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$dir" openwakeword==0.4.0
"$python" -m zipfile -e "$dir"/openwakeword-0.4.0-py3-none-any.whl "$dir"
cd "$dir/openwakeword/resources/models"
sha256sum -c <<'SUMS'
ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51  embedding_model.onnx
ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f  melspectrogram.onnx
SUMS
echo "$dir/openwakeword/resources/models"
