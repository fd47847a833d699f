"""Accuracy measures: UA (unweighted accuracy = mean per-class recall), WA
(plain accuracy) and the confusion matrix (rows = true, columns = predicted)."""

from __future__ import annotations

import numpy as np

from . import LABELS


def confusion(y_true, y_pred, n_classes: int = len(LABELS)) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def ua(cm: np.ndarray) -> float:
    support = cm.sum(axis=1)
    present = support > 0
    recall = np.diag(cm)[present] / support[present]
    return float(recall.mean()) if present.any() else float("nan")


def wa(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def per_class_recall(cm: np.ndarray) -> list[float | None]:
    support = cm.sum(axis=1)
    return [float(cm[i, i] / support[i]) if support[i] else None for i in range(cm.shape[0])]


def ece(probs: np.ndarray, y_true, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence: the
    support-weighted mean |accuracy - confidence| over equal-width bins."""
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if len(probs) == 0:
        return float("nan")
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for i in range(n_bins):
        lo, hi = edges[i], edges[i + 1]
        in_bin = (conf > lo) & (conf <= hi) if i else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.sum() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(total / len(probs))


def scores(y_true, probs: np.ndarray) -> dict:
    """UA, WA, ECE and the confusion matrix of per-file probabilities
    (`probs[i]` over the classes; the prediction is the arg max)."""
    cm = confusion(y_true, np.asarray(probs).argmax(1))
    return {"ua": ua(cm), "wa": wa(cm), "ece": ece(probs, y_true), "confusion": cm}
