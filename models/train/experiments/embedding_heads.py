"""Other heads on the speech embedding, scored exactly as `fuse-cv` scores
the shipped one (an experiment; none adopted, see the model card's "No
silence padding" and "Limits").

`fuse-cv`'s head reads the mean and standard deviation of an utterance's
embeddings through a linear layer or a 256-unit MLP. This script runs
`python -m ser_train fuse-cv` unchanged (own fold models, validation-actor
choices, robustness, calibration) with one of these heads instead:

  --pooling minmax     mean, standard deviation, maximum and minimum
  --pooling delta      mean, standard deviation and the mean absolute change
                       between successive embeddings (how fast they move)
  --pooling loudness   mean and standard deviation weighted by each window's
                       loudness (windows 25 dB or more below the loudest
                       count little), next to the plain ones
  --pooling attention  attentive statistics pooling over the sequence (a
                       learned score per embedding, 64 tanh units; weighted
                       mean and standard deviation; dropout 0.3; Linear 8),
                       trained with minibatches (256, 30 epochs, AdamW)

Every utterance's embedding sequence is computed once (onnxruntime, the
graph `fuse-cv` exports) and cached in CACHE (default
/tmp/ser-embedding-sequences.pkl, about 120 MB for the shipped dumps). The
arguments after the options are `fuse-cv`'s, e.g.

  python experiments/embedding_heads.py --pooling delta --grid 0.1,1,3,10 -- \\
      fuse-cv --taps embedding --features /tmp/se-logmel $AUG $EVAL --speech-embedding $SE \\
      --out out/heads-delta out/f0-s{0,1,2}

`--grid` replaces the weight decays searched (linear heads only; with
attention, the decay of the whole head).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ser_train import fusion, speech_embedding as se  # noqa: E402
from ser_train.__main__ import main as ser_train_main  # noqa: E402

POOLED_WIDTH = {"minmax": 4 * 96, "delta": 3 * 96, "loudness": 4 * 96}


class _Sequence(nn.Module):
    def __init__(self, encoder: se.SpeechEmbedding):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(se.scaled_bands(x, None))[0]


class Sequences:
    """Every item's embedding sequence [T', 96] (computed once, cached)."""

    def __init__(self, cache: Path):
        self.cache, self.seqs = cache, []

    def load(self, encoder, data, items) -> None:
        stable = [(it.offset, it.frames, it.path, it.segment) for it in items]  # the order fuse-cv embeds them in
        if self.cache.exists():
            cached_keys, seqs = pickle.loads(self.cache.read_bytes())
            if cached_keys == stable:
                self.seqs = seqs
        if not self.seqs:
            self.seqs = [e.astype(np.float16) for e in fusion.run_per_item(_Sequence(encoder), data, items, "sequence")]
            self.cache.write_bytes(pickle.dumps((stable, self.seqs)))

    def __getitem__(self, i: int) -> np.ndarray:
        return self.seqs[i].astype(np.float32)


def pooled(kind: str, e: np.ndarray, bands: np.ndarray | None) -> np.ndarray:
    m, s = e.mean(0), e.std(0)
    if kind == "minmax":
        return np.concatenate([m, s, e.max(0), e.min(0)])
    if kind == "delta":
        d = np.abs(np.diff(e, axis=0)).mean(0) if len(e) > 1 else np.zeros_like(m)
        return np.concatenate([m, s, d])
    if kind == "loudness":
        level = bands.mean(1)
        if len(level) < se.WINDOW:
            level = np.concatenate([level, np.full(se.WINDOW - len(level), level.min())])
        wl = np.array([level[se.STEP * j: se.STEP * j + se.WINDOW].mean() for j in range(len(e))])
        w = 1 / (1 + np.exp(-(wl - (level.max() - 25)) / 3))
        w = w / max(w.sum(), 1e-6)
        mw = (w[:, None] * e).sum(0)
        return np.concatenate([mw, np.sqrt((w[:, None] * (e - mw) ** 2).sum(0) + 1e-12), m, s])
    raise ValueError(kind)


class Attentive(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray, units: int = 64, dropout: float = 0.3):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))
        self.score = nn.Sequential(nn.Linear(96, units), nn.Tanh(), nn.Linear(units, 1))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * 96, 8)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        a = torch.softmax(self.score(z).squeeze(-1).masked_fill(~mask, -1e9), -1).unsqueeze(-1)
        m = (a * z).sum(1)
        sd = torch.sqrt((a * (z - m.unsqueeze(1)) ** 2).sum(1) + 1e-6)
        return self.out(self.drop(torch.cat([m, sd], -1)))


def install_attention(seqs: Sequences, epochs: int = 30) -> None:
    """fuse-cv's head functions, on sequences: `pooled` is each item's index."""

    def batch(idx):
        xs = [seqs[int(i)] for i in idx]
        x = np.zeros((len(xs), max(len(s) for s in xs), 96), np.float32)
        mask = np.zeros(x.shape[:2], bool)
        for j, s in enumerate(xs):
            x[j, : len(s)], mask[j, : len(s)] = s, True
        return torch.tensor(x), torch.tensor(mask)

    def train_heads(encoder, x, y, weight_decay, hidden, seeds, taps=("embedding",)):
        idx = x[:, 0].astype(int)
        frames = np.concatenate([seqs[i] for i in idx])
        nets = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            net = Attentive(frames.mean(0), frames.std(0) + 1e-6)
            opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=weight_decay)
            net.train()
            for _ in range(epochs):
                perm = rng.permutation(len(idx))
                for b in range(0, len(perm), 256):
                    sel = perm[b: b + 256]
                    opt.zero_grad()
                    F.cross_entropy(net(*batch(idx[sel])), torch.tensor(y[sel])).backward()
                    opt.step()
            nets.append(net.eval())
        return nets

    @torch.no_grad()
    def head_log_probs(nets, pooled_idx):
        idx = pooled_idx[:, 0].astype(int)
        out = []
        for b in range(0, len(idx), 512):
            xb, mb = batch(idx[b: b + 512])
            out.append(torch.log(torch.stack([torch.softmax(n(xb, mb), -1) for n in nets]).mean(0).clamp_min(1e-12)))
        return torch.cat(out)

    fusion.train_heads, fusion.head_log_probs = train_heads, head_log_probs


class _Width:
    """Stands for the encoder where EmbeddingHead only needs `dim` (half the pooled width)."""

    def __init__(self, encoder, width: int):
        self.encoder, self.dim = encoder, width // 2

    def tap_widths(self, names):
        return [self.dim]

    def buffers(self):
        return self.encoder.buffers()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pooling", required=True, choices=[*POOLED_WIDTH, "attention"])
    ap.add_argument("--grid", help="comma-separated weight decays to search (default: fuse-cv's grid)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ser-embedding-sequences.pkl")
    ap.add_argument("fuse_cv", nargs=argparse.REMAINDER, help="-- fuse-cv ARGS…")
    a = ap.parse_args()
    args = a.fuse_cv[1:] if a.fuse_cv[:1] == ["--"] else a.fuse_cv
    if args[:1] != ["fuse-cv"]:
        raise SystemExit("give fuse-cv's arguments after --, starting with fuse-cv")
    seqs = Sequences(a.cache)

    def pooled_embeddings(encoder, data, items, taps):
        if tuple(taps) != ("embedding",):
            raise SystemExit("these heads read the embeddings: give fuse-cv --taps embedding")
        seqs.load(encoder, data, items)
        if a.pooling == "attention":
            return np.arange(len(items), dtype=np.float32)[:, None]
        def bands(it):  # only the loudness weighting reads them
            return data.matrix(it)[:, -se.SPEECH_EMBEDDING_MELS:] if a.pooling == "loudness" else None

        return np.stack([pooled(a.pooling, seqs[i], bands(it)) for i, it in enumerate(items)]).astype(np.float32)

    fusion.pooled_embeddings = pooled_embeddings
    if a.pooling == "attention":
        install_attention(seqs)
    else:
        train = fusion.train_heads
        fusion.train_heads = lambda encoder, *r, **k: train(_Width(encoder, POOLED_WIDTH[a.pooling]), *r, **k)
    if a.grid:
        fusion.HEAD_GRID = [(float(wd), 0) for wd in a.grid.split(",")]
    return ser_train_main(args)


if __name__ == "__main__":
    sys.exit(main())
