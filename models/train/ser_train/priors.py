"""Class-prior correction ("logit adjustment", Menon et al. 2021).

A net trained with cross-entropy learns the class frequencies of its training
files as priors. RAVDESS has half as many neutral files as files of any other
emotion (no strong-intensity neutral), so the nets call neutral too rarely:
recall of neutral is the lowest but sad's, and calm takes the rest. Both the
measure (UA, mean per-class recall) and the daemon (which should not lean away
from the commonest state of real speech) want no class favoured a priori, so
the correction removes the training prior from the output:

    probs = softmax(log p / T + b),   b = -log(prior) - mean(-log(prior))

where prior is the per-file class frequency of the training data (for
RAVDESS: 1/15 neutral, 2/15 each other class, so b gives neutral log 2 more
than the others). Nothing is fitted: the bias follows from the training
files' labels alone, so the validation actors stay untouched by it and the
choosing score stays a fair comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import LABELS
from .data import Item


def training_prior(items: list[Item]) -> np.ndarray:
    """Per-file class frequency of `items` (a file counts once, whatever its
    number of segments)."""
    labels = {it.path: it.label for it in items}
    if not labels:
        raise ValueError("no training files to take a class prior from")
    counts = np.bincount(np.fromiter(labels.values(), dtype=np.int64), minlength=len(LABELS)).astype(np.float64)
    return counts / counts.sum()


def correction(prior: np.ndarray) -> np.ndarray:
    """The bias b = -log(prior), centred (a uniform prior gives zeros). A class
    with no training file gets the mean bias (0): the net never learnt it,
    and an infinite bias would force it."""
    prior = np.asarray(prior, dtype=np.float64)
    present = prior > 0
    b = np.zeros(len(prior))
    b[present] = -np.log(prior[present])
    b[present] -= b[present].mean()
    return b


def bias_of(items: list[Item]) -> np.ndarray:
    """The correction for a net trained on `items`: `correction(training_prior(items))`."""
    return correction(training_prior(items))


def describe(bias: np.ndarray) -> str:
    """The bias in words, for reports and the model's description."""
    b = np.asarray(bias)
    if not np.any(b):
        return "none"
    return ", ".join(f"{lab} {v:+.3f}" for lab, v in zip(LABELS, b))


def insert_into_onnx(src: Path, dst: Path, bias: np.ndarray, version: str, description: str) -> Path:
    """Add `bias` to the tempered log-probabilities of an already exported
    ser graph (the input of its final Softmax), for a model whose member nets
    are no longer at hand; sets ser.version and ser.description. The output
    is then softmax(log p / T + b), the same graph `export_onnx` writes with
    a class bias. Checked with onnxruntime when installed: the new output
    must equal the old one reweighted by exp(b) and renormalised."""
    import onnx
    from onnx import helper, numpy_helper

    if Path(dst).resolve() == Path(src).resolve():
        raise SystemExit(f"{dst}: write the corrected model to another file than {src} (it is checked against it)")
    model = onnx.load(str(src))
    graph = model.graph
    finals = [n for n in graph.node if n.op_type == "Softmax" and list(n.output) == ["probs"]]
    if len(finals) != 1:
        raise SystemExit(f"{src}: no single final Softmax producing 'probs'; not a ser model graph")
    softmax = finals[0]
    name = "class_bias"
    if any(i.name == name for i in graph.initializer):
        raise SystemExit(f"{src}: already has a class bias")
    graph.initializer.append(numpy_helper.from_array(np.asarray(bias, dtype=np.float32).reshape(1, -1), name))
    biased = softmax.input[0] + "_biased"
    add = helper.make_node("Add", [softmax.input[0], name], [biased], name="/ClassBias")
    softmax.input[0] = biased
    nodes = list(graph.node)
    del graph.node[:]
    for n in nodes:
        if n is softmax:
            graph.node.append(add)
        graph.node.append(n)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["ser.version"], meta["ser.description"] = version, description
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    _check_reweighting(src, dst, bias)
    return dst


def reweight(probs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """softmax(z + b) from softmax(z): p * exp(b), renormalised (row-wise)."""
    w = np.asarray(probs, dtype=np.float64) * np.exp(np.asarray(bias, dtype=np.float64))
    return w / w.sum(-1, keepdims=True)


def _check_reweighting(src: Path, dst: Path, bias: np.ndarray) -> None:
    try:
        import onnxruntime as ort
    except ImportError:
        return
    old = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    new = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    n_features = old.get_inputs()[0].shape[2]
    rng = np.random.default_rng(0)
    for t in (23, 311):
        x = rng.normal(size=(1, t, n_features)).astype(np.float32) * 4.0 - 5.0
        want = reweight(old.run(["probs"], {"features": x})[0], bias)
        got = new.run(["probs"], {"features": x})[0]
        if float(np.abs(got - want).max()) > 1e-5:
            raise RuntimeError(f"{dst}: the biased graph does not reweight {src}'s output (T={t})")
