"""ONNX export with the self-describing metadata of docs/ARCHITECTURE.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from . import LABELS
from .data import feature_width


class InferenceWrapper(nn.Module):
    """features [1, T, F] -> probs [1, 8] = softmax(logits / temperature + class_bias)
    (`class_bias`: the class-prior correction of `priors`, or none)."""

    def __init__(self, net: nn.Module, temperature: float = 1.0, class_bias=None):
        super().__init__()
        self.net = net
        self.register_buffer("inv_temperature", torch.tensor(1.0 / float(temperature)))
        self.has_bias = class_bias is not None and bool(np.any(np.asarray(class_bias)))
        if self.has_bias:
            self.register_buffer("class_bias", torch.tensor(np.asarray(class_bias), dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.net(features) * self.inv_temperature
        if self.has_bias:
            logits = logits + self.class_bias
        return torch.softmax(logits, dim=-1)


def export_onnx(
    net: nn.Module,
    path: Path,
    feature_config: dict,
    version: str,
    description: str,
    temperature: float = 1.0,
    class_bias=None,
) -> Path:
    """Export `net` (eval mode) to `path` and attach the ser.* metadata; the
    graph applies `temperature` and, if given, `class_bias` (see `priors`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_features = feature_width(feature_config)
    wrapper = InferenceWrapper(net, temperature, class_bias).eval()
    dummy = torch.randn(1, 100, n_features)
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(path),
        input_names=["features"],
        output_names=["probs"],
        dynamic_axes={"features": {1: "T"}},
        opset_version=17,
        dynamo=False,
        do_constant_folding=True,
    )
    model = onnx.load(str(path))
    meta = {
        "ser.labels": json.dumps(LABELS, separators=(",", ":")),
        "ser.features": json.dumps(feature_config, separators=(",", ":")),
        "ser.version": version,
        "ser.description": description,
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    check_against_torch(wrapper, path, n_features)
    return path


def check_against_torch(wrapper: nn.Module, path: Path, n_features: int) -> None:
    """With onnxruntime installed: the exported graph must reproduce PyTorch
    on two different lengths (the time axis is dynamic)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for t in (23, 311):
        x = torch.randn(1, t, n_features, generator=gen) / wrapper.net.norm.inv_std + wrapper.net.norm.mean
        with torch.no_grad():
            want = wrapper(x).numpy()
        got = sess.run(["probs"], {"features": x.numpy()})[0]
        diff = float(abs(got - want).max())
        if got.shape != (1, 8) or diff > 1e-4:
            raise RuntimeError(f"{path}: onnxruntime disagrees with PyTorch for T={t} (shape {got.shape}, max diff {diff})")
