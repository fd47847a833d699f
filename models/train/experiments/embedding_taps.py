"""Where should the head read the speech-embedding network? (the probe that
chose `fusion.HEAD_TAPS`; see the model card, "Reading the network inside")

For each tap set given, a linear head alone (no fusion, no own nets) on the
mean and standard deviation of the network's activations at those taps
(`EmbeddingHead.pooled`, through the graph the export carries), fold by
fold under the protocol: trained on the fold's training actors (clean and
augmented segments), its weight decay chosen by validation log-loss, scored
per segment on the validation actors (the figure that chooses) and on the
test actors (reported, never used to choose).

  python experiments/embedding_taps.py --features /tmp/se-logmel \\
      --extra-train /tmp/se-logmel-aug{1..6} --speech-embedding $SE --folds-from out/f0-s0/report.json \\
      embedding block5 block4 block3 block2 block1 block3,block4 block3,embedding block2,block3 \\
      block2,block3,block4,embedding

With `--mixup 0,0.2,0.4,1` each tap set is trained at each of those mixup
alphas (`fusion.train_heads`; the probe that chose `fusion.HEAD_MIXUP`, model
card, "Mixing the head's rows"; default 0, as the taps were chosen).

Every segment is embedded once, at every tap (about 25 ms each on one core).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ser_train import data as sdata, fusion, metrics  # noqa: E402
from ser_train.speech_embedding import EmbeddingHead, SpeechEmbedding  # noqa: E402

WEIGHT_DECAYS = (0.1, 1.0, 3.0, 10.0)


def segment_ua(y: np.ndarray, pred: np.ndarray) -> float:
    return metrics.ua(metrics.confusion(y, pred))


def add_probe_arguments(ap: argparse.ArgumentParser) -> None:
    """The data a head-alone probe reads (also `experiments/temporal_head.py`)."""
    ap.add_argument("--features", required=True, type=Path)
    ap.add_argument("--extra-train", action="append", default=[], type=Path)
    ap.add_argument("--speech-embedding", required=True, type=Path)
    ap.add_argument("--folds-from", required=True, type=Path, help="a `cv` report.json: its folds' actors")


def probe_segments(a: argparse.Namespace) -> tuple[sdata.Features, list[sdata.Item], np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """The clean dump, its segments then the augmented copies' (`everything`),
    and per segment its actor, its label and whether it is a clean one."""
    clean = sdata.load(a.features)
    copies = [clean.foreign(sdata.load(d)) for d in a.extra_train]
    everything = clean.items + [it for c in copies for it in c]
    return (clean, everything, np.array([it.actor for it in everything]), np.array([it.label for it in everything]),
            np.arange(len(everything)) < len(clean.items))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_probe_arguments(ap)
    ap.add_argument("--mixup", default="0", metavar="ALPHA,…", help="mixup alphas to try (default 0)")
    ap.add_argument("tap_sets", nargs="+", help="comma-separated taps, e.g. block3,block4")
    a = ap.parse_args()
    torch.set_num_threads(1)
    encoder = SpeechEmbedding.from_file(a.speech_embedding).eval()
    sets = [tuple(s.split(",")) for s in a.tap_sets]
    taps = tuple(t for t in encoder.tap_names() if any(t in s for s in sets))
    clean, everything, actor, label, is_clean = probe_segments(a)
    pooled = fusion.pooled_embeddings(encoder, clean, everything, taps)
    folds = json.loads(a.folds_from.read_text())["folds"]
    for wanted, alpha in [(w, float(m)) for w in sets for m in a.mixup.split(",")]:
        x = pooled[:, EmbeddingHead(encoder, 0, taps=taps).columns(wanted)]
        val, test = [], []
        for f in folds:
            tr = np.isin(actor, f["train_actors"])
            va, te = is_clean & np.isin(actor, f["val_actors"]), is_clean & np.isin(actor, f["test_actors"])

            def fit(wd: float) -> fusion.HeadEnsemble:
                return fusion.train_heads(encoder, x[tr], label[tr], wd, 0, seeds=1, taps=wanted, mixup=alpha)

            best = min(WEIGHT_DECAYS, key=lambda wd: float(F.nll_loss(fusion.head_log_probs(fit(wd), x[va]),
                                                                      torch.tensor(label[va]))))
            heads = fit(best)
            val.append(segment_ua(label[va], fusion.head_log_probs(heads, x[va]).argmax(1).numpy()))
            test.append(segment_ua(label[te], fusion.head_log_probs(heads, x[te]).argmax(1).numpy()))
        print(f"{','.join(wanted):32s} mixup {alpha:3.1f}  width {x.shape[1]:5d}  "
              f"validation UA {100 * np.mean(val):5.1f}  test UA {100 * np.mean(test):5.1f}  (folds {' / '.join(f'{100 * t:.0f}' for t in test)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
