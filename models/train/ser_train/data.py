"""Loading the output of the Rust `ser-features` binary.

Layout of OUTDIR:
  feats.npy   float32 [total_frames, F]: all segments' frames, concatenated
  index.json  {"feature_config": {...}, "items": [{"path", "actor", "emotion",
               "label", "segment", "start_s", "end_s", "offset", "frames"}]}
Item i's matrix is feats[offset : offset + frames].
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import LABELS


class DataError(Exception):
    pass


@dataclass
class Item:
    path: str
    actor: int
    label: int
    segment: int
    offset: int
    frames: int
    # the feats.npy this item's rows live in, when it is not the Features'
    # own (augmented copies from another `ser-features --perturb` dir)
    store: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass
class Features:
    feats: np.ndarray  # [total_frames, F] float32 (memory-mapped)
    items: list[Item]
    feature_config: dict
    directory: Path
    index_meta: dict = field(default_factory=dict)  # index.json minus items (perturbation, seed, stats)

    @property
    def n_features(self) -> int:
        return int(self.feats.shape[1])

    @property
    def perturbation(self) -> str:
        """How `ser-features` degraded the audio (`clean` unless --perturb)."""
        return str(self.index_meta.get("perturbation", "clean"))

    def matrix(self, item: Item) -> np.ndarray:
        src = self.feats if item.store is None else item.store
        return np.array(src[item.offset : item.offset + item.frames], dtype=np.float32)  # a writable copy

    def foreign(self, other: "Features") -> list[Item]:
        """`other`'s items, readable through this Features' `matrix` (for
        augmented copies and degraded test sets); the feature configurations
        must be identical."""
        if other.feature_config != self.feature_config:
            raise DataError(f"{other.directory}: feature configuration {other.feature_config} differs from "
                            f"{self.directory}'s {self.feature_config}")
        return [Item(it.path, it.actor, it.label, it.segment, it.offset, it.frames, store=other.feats)
                for it in other.items]

    def select(self, actors: list[int]) -> list[Item]:
        wanted = set(actors)
        return [it for it in self.items if it.actor in wanted]


def copies_of(dumps: list[Features]) -> list[dict]:
    """Augmented copies (`ser-features --perturb` dumps) as reports and
    `train.json` record what a net or head trained on."""
    return [{"dir": str(x.directory), "perturbation": x.perturbation, "seed": x.index_meta.get("seed")}
            for x in dumps]


def spectral_width(feature_config: dict) -> int | None:
    """Spectral values per frame (the first ones): n_mfcc or n_mels (None if it does not say)."""
    key = "n_mfcc" if feature_config["kind"] == "mfcc" else "n_mels"
    return feature_config.get(key)


SPEECH_EMBEDDING_MELS = 32  # ser_models::features::SPEECH_EMBEDDING_MELS


def feature_width(feature_config: dict) -> int | None:
    """Values per frame of a feature configuration (None if it does not say): the
    spectral ones, plus F0 semitones and voicing with `pitch` (ser_models::pitch),
    plus the speech-embedding bands with `speech_embedding` (always last)."""
    spectral = spectral_width(feature_config)
    if spectral is None:
        return None
    return (spectral + (2 if feature_config.get("pitch") else 0)
            + (SPEECH_EMBEDDING_MELS if feature_config.get("speech_embedding") else 0))


def without_speech_embedding(feature_config: dict) -> dict:
    """The configuration of the columns before the speech-embedding bands."""
    return {k: v for k, v in feature_config.items() if k != "speech_embedding"}


def _label_of(raw: dict, where: str) -> int:
    emotion = raw.get("emotion")
    label = raw.get("label")
    if isinstance(label, int) and 0 <= label < len(LABELS):
        idx = label
    elif isinstance(label, str) and label in LABELS:
        idx = LABELS.index(label)
    elif isinstance(emotion, str) and emotion in LABELS:
        idx = LABELS.index(emotion)
    else:
        raise DataError(f"{where}: cannot read the class from label={label!r} emotion={emotion!r}")
    if isinstance(emotion, str) and emotion in LABELS and LABELS.index(emotion) != idx:
        raise DataError(f"{where}: label {label!r} disagrees with emotion {emotion!r}")
    return idx


def load(directory: str | Path) -> Features:
    d = Path(directory)
    feats_path, index_path = d / "feats.npy", d / "index.json"
    for p in (feats_path, index_path):
        if not p.is_file():
            raise DataError(f"{p}: missing (produce it with the Rust `ser-features` binary)")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{index_path}: invalid JSON: {e}") from e
    try:
        feats = np.load(feats_path, mmap_mode="r")
    except Exception as e:  # numpy raises several types for a bad header
        raise DataError(f"{feats_path}: not a readable .npy file: {e}") from e
    if feats.dtype != np.float32 or feats.ndim != 2:
        raise DataError(f"{feats_path}: expected float32 [frames, F], got {feats.dtype} {feats.shape}")
    cfg = index.get("feature_config")
    if not isinstance(cfg, dict) or "kind" not in cfg:
        raise DataError(f"{index_path}: no feature_config object")
    want_f = feature_width(cfg)
    if want_f != feats.shape[1]:
        raise DataError(f"{feats_path}: {feats.shape[1]} features per frame but feature_config says {want_f}")
    raw_items = index.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise DataError(f"{index_path}: no items")
    items = []
    for i, raw in enumerate(raw_items):
        where = f"{index_path}: item {i} ({raw.get('path', '?')})"
        try:
            it = Item(
                path=str(raw["path"]),
                actor=int(raw["actor"]),
                label=_label_of(raw, where),
                segment=int(raw.get("segment", 0)),
                offset=int(raw["offset"]),
                frames=int(raw["frames"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: bad or missing field: {e}") from e
        if it.frames <= 0 or it.offset < 0 or it.offset + it.frames > feats.shape[0]:
            raise DataError(f"{where}: frames [{it.offset}, {it.offset + it.frames}) outside feats.npy ({feats.shape[0]} frames)")
        if not 1 <= it.actor <= 24:
            raise DataError(f"{where}: actor {it.actor} outside 1..24")
        items.append(it)
    meta = {k: v for k, v in index.items() if k != "items"}
    return Features(feats=feats, items=items, feature_config=cfg, directory=d, index_meta=meta)


def write_synthetic(directory: str | Path, actors=range(1, 25), per_class: int = 2, n_features: int = 40, seed: int = 0,
                    feature_config: dict | None = None) -> Path:
    """A tiny learnable fake dataset in the `ser-features` layout, for tests:
    each class shifts a different coefficient band, so a net can learn it."""
    from . import DEFAULT_FEATURE_CONFIG

    rng = np.random.default_rng(seed)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    chunks, items, offset = [], [], 0
    for actor in actors:
        for label, emotion in enumerate(LABELS):
            for rep in range(per_class):
                for seg in range(1 + (rep % 2)):
                    t = int(rng.integers(20, 60))
                    m = rng.normal(0, 1, (t, n_features)).astype(np.float32)
                    m[:, (label * 5) % n_features : (label * 5) % n_features + 5] += 2.0
                    chunks.append(m)
                    items.append({
                        "path": f"Actor_{actor:02d}/03-01-{label + 1:02d}-01-01-{rep + 1:02d}-{actor:02d}.wav",
                        "actor": actor, "emotion": emotion, "label": label, "segment": seg,
                        "start_s": 0.0, "end_s": t / 100, "offset": offset, "frames": t,
                    })
                    offset += t
    np.save(d / "feats.npy", np.concatenate(chunks))
    cfg = dict(feature_config or DEFAULT_FEATURE_CONFIG)
    (d / "index.json").write_text(json.dumps({"feature_config": cfg, "items": items}))
    return d
