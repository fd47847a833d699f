"""A head over the sequence of the speech-embedding network's inner blocks,
instead of their pooled statistics (an experiment, not adopted; model card,
"Limits and not done yet").

The activations at the end of blocks 3 and 4 (480 values every 40 ms;
block 3's extra steps at either end cropped to block 4's) go through a
1 x 1 convolution, a residual convolution over 5 steps, attentive pooling
(the attention-weighted mean and standard deviation of every channel) and a
linear layer, trained with AdamW and a one-cycle schedule on the fold's
training actors (clean and augmented segments); the epoch with the lowest
validation log-loss is kept. Scored per segment on the validation actors
(the figure that would choose) and on the test actors, as
`experiments/embedding_taps.py` scores a linear head on the pooled values
(block3,block4 there: 68.5 / 64.5):

  python experiments/temporal_head.py --features /tmp/se-logmel \\
      --extra-train /tmp/se-logmel-aug{1..6} --speech-embedding $SE --folds-from out/f0-s0/report.json

One seed, about 35 s a fold on two cores once every segment is run through
the network (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from embedding_taps import add_probe_arguments, probe_segments  # noqa: E402  (this directory)
from ser_train import LABELS, fusion, metrics  # noqa: E402
from ser_train.speech_embedding import SpeechEmbedding, scaled_bands  # noqa: E402

TAPS = ("block3", "block4")


class _Frames(nn.Module):
    """features [1, T, F] -> the blocks' activations side by side [1, T4, C3 * F3 + C4 * F4]."""

    def __init__(self, encoder: SpeechEmbedding):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a3, a4 = (t.transpose(1, 2).flatten(2) for t in self.encoder.taps(scaled_bands(x, None), TAPS))
        extra = a3.shape[1] - a4.shape[1]  # block 4's convolutions do not pad time
        return torch.cat([a3[:, extra // 2: a3.shape[1] - (extra - extra // 2)], a4], -1)


class TemporalHead(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int, dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))
        self.inp = nn.Conv1d(len(mean), hidden, 1)
        self.conv = nn.Conv1d(hidden, hidden, 5, padding=2)
        self.att = nn.Conv1d(hidden, 1, 1)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, len(LABELS))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, T, V], mask [B, T] (the steps that exist) -> logits [B, 8]."""
        h = torch.relu(self.inp(self.drop(((x - self.mean) / self.std).transpose(1, 2))))
        h = torch.relu(self.conv(h)) + h
        w = self.att(h).squeeze(1).masked_fill(~mask, -1e4).softmax(-1).unsqueeze(1)
        mean = (h * w).sum(-1)
        std = torch.sqrt(((h - mean.unsqueeze(-1)) ** 2 * w).sum(-1) + 1e-6)
        return self.out(self.drop(torch.cat([mean, std], -1)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_probe_arguments(ap)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--step-drop", type=float, default=0.0, help="share of steps masked out in training")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    encoder = SpeechEmbedding.from_file(a.speech_embedding).eval()
    clean, everything, actor, label, is_clean = probe_segments(a)
    frames = [r[0].astype(np.float32) for r in fusion.run_per_item(_Frames(encoder), clean, everything, "frames")]
    lengths = np.array([len(f) for f in frames])

    def batch(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.zeros((len(idx), int(lengths[idx].max()), frames[0].shape[1]), np.float32)
        mask = np.zeros(x.shape[:2], bool)
        for j, i in enumerate(idx):
            x[j, : lengths[i]], mask[j, : lengths[i]] = frames[i], True
        return torch.tensor(x), torch.tensor(mask)

    @torch.no_grad()
    def log_probs(net: TemporalHead, idx: np.ndarray) -> torch.Tensor:
        net.eval()
        order = np.argsort(lengths[idx], kind="stable")
        out = torch.cat([F.log_softmax(net(*batch(idx[order[k: k + 128]])), -1) for k in range(0, len(idx), 128)])
        return out[torch.tensor(np.argsort(order))]

    val, test = [], []
    for f in json.loads(a.folds_from.read_text())["folds"]:
        start = time.time()
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        tr = np.flatnonzero(np.isin(actor, f["train_actors"]))
        va = np.flatnonzero(is_clean & np.isin(actor, f["val_actors"]))
        te = np.flatnonzero(is_clean & np.isin(actor, f["test_actors"]))
        sample = np.concatenate([frames[i] for i in tr[::7]])
        net = TemporalHead(sample.mean(0), sample.std(0) + 1e-3, a.hidden, a.dropout)
        opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.epochs * -(-len(tr) // 64))
        best = (float("inf"), 0.0, 0.0, -1)
        for epoch in range(a.epochs):
            net.train()
            perm = rng.permutation(tr)
            # batches of similar lengths: each block of 1,024 sorted, then cut in 64s
            blocks = [perm[k: k + 1024] for k in range(0, len(perm), 1024)]
            batches = [b[np.argsort(lengths[b], kind="stable")][k: k + 64]
                       for b in blocks for k in range(0, len(b), 64)]
            for i in rng.permutation(len(batches)):
                x, mask = batch(batches[i])
                if a.step_drop > 0:
                    mask = mask & ~((torch.rand(mask.shape) < a.step_drop) & (torch.arange(mask.shape[1]) > 0))
                opt.zero_grad()
                F.cross_entropy(net(x, mask), torch.tensor(label[batches[i]]), label_smoothing=0.05).backward()
                opt.step()
                sched.step()
            lv = log_probs(net, va)
            loss = float(F.nll_loss(lv, torch.tensor(label[va])))
            if loss < best[0]:
                lt = log_probs(net, te)
                best = (loss, metrics.ua(metrics.confusion(label[va], lv.argmax(1).numpy())),
                        metrics.ua(metrics.confusion(label[te], lt.argmax(1).numpy())), epoch)
        val.append(best[1])
        test.append(best[2])
        print(f"fold {f['fold']}: epoch {best[3]}  validation UA {100 * best[1]:.1f}  test UA {100 * best[2]:.1f}  "
              f"({time.time() - start:.0f} s)", flush=True)
    print(f"temporal head {a.hidden}: validation UA {100 * np.mean(val):.1f}  test UA {100 * np.mean(test):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
