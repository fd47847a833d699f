"""EmoBox RAVDESS speaker-independent folds and validation-actor selection.

The test actors of each fold are those of EmoBox (Ma et al. 2024); each fold
trains on the other 20 actors. Validation actors (for early stopping and
temperature scaling) are always taken from the 20 training actors, balanced by
sex (RAVDESS: odd actor ids are male, even are female), never from the test
fold.
"""

from __future__ import annotations

import random

ALL_ACTORS = list(range(1, 25))

FOLDS: dict[int, list[int]] = {
    1: [1, 11, 20, 21],
    2: [4, 10, 12, 14],
    3: [8, 9, 19, 23],
    4: [3, 5, 7, 24],
    5: [2, 15, 16, 18],
    6: [6, 13, 17, 22],
}


def is_male(actor: int) -> bool:
    return actor % 2 == 1


def pick_validation(train_actors: list[int], n_val: int, seed: int) -> list[int]:
    """`n_val` actors of `train_actors`, half male half female (male gets the
    extra one when odd), chosen by a seeded RNG so the choice is reproducible."""
    if n_val <= 0:
        return []
    rng = random.Random(seed)
    males = sorted(a for a in train_actors if is_male(a))
    females = sorted(a for a in train_actors if not is_male(a))
    n_m = (n_val + 1) // 2
    n_f = n_val - n_m
    if n_m > len(males) or n_f > len(females):
        raise ValueError(f"cannot pick {n_val} sex-balanced validation actors from {train_actors}")
    return sorted(rng.sample(males, n_m) + rng.sample(females, n_f))


def fold_seed(seed: int, fold: int) -> int:
    """What fold `fold` draws with under a run's `seed`: its validation
    actors (`cv --val-seed`) and its tuning's batches (`fuse-cv
    --tune-seed`); seed 0 gives the fold's number."""
    return seed * 100 + fold


def split(fold: int, n_val: int = 4, seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) actor lists for an EmoBox fold."""
    if fold not in FOLDS:
        raise ValueError(f"unknown fold {fold}; folds are 1..6")
    test = FOLDS[fold]
    rest = [a for a in ALL_ACTORS if a not in test]
    val = pick_validation(rest, n_val, fold_seed(seed, fold))
    train = [a for a in rest if a not in val]
    return train, val, test
