"""Speaker-level mean normalisation of a `ser-features` dump (an experiment;
not adopted, see the model card's "Speaker-level mean normalisation").

Every actor's log-mel frames get that actor's mean over the same dump taken
off, so an augmented or degraded copy is normalised by its own statistics,
as a daemon adapting to its user and microphone would be. The output is a
dump in the same layout, for `python -m ser_train cv/rescore`.

  python experiments/speaker_mean.py SRC DST                      # the actor's own mean (all clips)
  python experiments/speaker_mean.py SRC DST --from-emotions neutral,calm
        # the mean of the actor's neutral and calm clips only: a user whose
        # everyday speech is calm (labels choose the adaptation set, nothing else)
  python experiments/speaker_mean.py SRC DST --mean-of CLEAN      # no adaptation: one mean, CLEAN's

Each output's feature_config gains "speaker_norm": "mean" (so these dumps
cannot be mixed with plain ones); the policy is recorded at the top of
index.json ("speaker_norm_policy"), so the variants can score one CV run.
"""

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="a ser-features dump (feats.npy + index.json)")
    ap.add_argument("dst", type=Path, help="where to write the normalised dump")
    ap.add_argument("--from-emotions", default="", metavar="E1,E2",
                    help="the actor's mean over clips of these emotions only")
    ap.add_argument("--mean-of", type=Path, metavar="DUMP",
                    help="one mean for every actor: the mean of all of DUMP's frames (no adaptation)")
    a = ap.parse_args()

    index = json.loads((a.src / "index.json").read_text())
    feats = np.load(a.src / "feats.npy")
    out = np.empty_like(feats)
    emotions = set(a.from_emotions.split(",")) if a.from_emotions else None
    fixed = np.load(a.mean_of / "feats.npy").astype(np.float64).mean(0) if a.mean_of else None
    by_actor: dict[int, list[dict]] = {}
    for it in index["items"]:
        by_actor.setdefault(it["actor"], []).append(it)
    for actor, items in by_actor.items():
        if fixed is not None:
            mean = fixed
        else:
            chosen = [it for it in items if emotions is None or it["emotion"] in emotions]
            if not chosen:
                raise SystemExit(f"{a.src}: actor {actor} has no clips of {sorted(emotions)}")
            mean = np.concatenate([feats[it["offset"] : it["offset"] + it["frames"]] for it in chosen]).astype(np.float64).mean(0)
        for it in items:
            rows = slice(it["offset"], it["offset"] + it["frames"])
            out[rows] = (feats[rows] - mean).astype(np.float32)
    a.dst.mkdir(parents=True, exist_ok=True)
    np.save(a.dst / "feats.npy", out)
    index["feature_config"] = dict(index["feature_config"], speaker_norm="mean")
    index["speaker_norm_policy"] = (f"one mean, of {a.mean_of}" if a.mean_of else
                                    f"each actor's own mean over {a.from_emotions or 'all'} clips")
    (a.dst / "index.json").write_text(json.dumps(index))
    print(f"{a.dst}: {len(by_actor)} actors, {feats.shape[0]} frames, {index['speaker_norm_policy']}")


if __name__ == "__main__":
    main()
