"""The head on the mean and spread of each half of the utterance besides the
whole, scored exactly as `fuse-cv` scores the shipped one (an experiment,
not adopted; model card, "Mixing the head's rows" and "Limits").

For each tap (`--taps` of `fuse-cv`, e.g. block3,block4) the pooled vector is
the whole utterance's means and standard deviations (`EmbeddingHead.pooled`'s
layout) followed by each half's mean and standard deviation (first half, then
second), three times as many values. With 256-unit heads five seeds would
outgrow the 10 MB budget at block 3 + 4 (2,880 values), so `--linear`
restricts `fuse-cv`'s grid to linear heads; with `--plain` the same runs
with the shipped pooling (the control for `--linear`). The arguments after
the options are `fuse-cv`'s:

  python experiments/halves_pooling.py --linear -- fuse-cv --taps block3,block4 \\
      --features /tmp/se-logmel $AUG $EVAL --speech-embedding $SE --out out/halves out/f0-s{0,1,2}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ser_train import fusion  # noqa: E402
from ser_train.__main__ import main as ser_train_main  # noqa: E402
from ser_train.speech_embedding import EmbeddingHead, scaled_bands  # noqa: E402


class _Halves(nn.Module):
    """features [1, T, F] -> the shipped pooled values, then each half's mean and deviation per tap."""

    def __init__(self, encoder, taps: tuple[str, ...]):
        super().__init__()
        self.head = EmbeddingHead(encoder, 0, taps=taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        halves = []
        for a in self.head.encoder.taps(scaled_bands(x, None), self.head.taps):
            a = a.transpose(1, 2).flatten(2)  # [1, T', C * F'], as EmbeddingHead.pooled
            first = (torch.arange(a.shape[1]) < torch.clamp(torch.tensor(a.shape[1] // 2), min=1)).float()
            for w in (first, 1 - first):
                w = w[None, :, None]
                n = w.sum(1).clamp_min(1)
                mean = (a * w).sum(1) / n
                halves += [mean, torch.sqrt((((a - mean.unsqueeze(1)) ** 2) * w).sum(1) / n + 1e-12)]
        return torch.cat([self.head.pooled(x)] + halves, dim=-1)


class _Width:
    """Stands for the encoder where EmbeddingHead only needs the taps' widths (three times theirs)."""

    def __init__(self, encoder):
        self.encoder = encoder

    def tap_widths(self, names):
        return [3 * w for w in self.encoder.tap_widths(names)]

    def buffers(self):
        return self.encoder.buffers()


def _pooled(encoder, data, items, taps) -> np.ndarray:
    return np.concatenate(fusion.run_per_item(_Halves(encoder, tuple(taps)), data, items, "pooled"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--linear", action="store_true", help="linear heads only (the size budget)")
    ap.add_argument("--plain", action="store_true", help="the shipped pooling (a control)")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- fuse-cv ...")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    if args[:1] != ["fuse-cv"]:
        raise SystemExit("give fuse-cv's command after --")
    if a.linear:
        fusion.HEAD_GRID = [(wd, hidden) for wd, hidden in fusion.HEAD_GRID if hidden == 0]
    if not a.plain:
        train = fusion.train_heads
        fusion.pooled_embeddings = _pooled
        fusion.train_heads = lambda encoder, *r, **k: train(_Width(encoder), *r, **k)
    return ser_train_main(args)


if __name__ == "__main__":
    sys.exit(main())
