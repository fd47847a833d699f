"""The pretrained speech embedding and the emotion head on top of it.

`SpeechEmbedding` is Google's `speech_embedding` network (Apache-2.0,
https://arxiv.org/abs/2002.01322, a keyword-spotting backbone trained on a
large speech corpus), as shipped in the `openwakeword==0.4.0` wheel on PyPI
(`openwakeword/resources/models/embedding_model.onnx`, `fetch_speech_embedding.sh`
gets it): a convolution stack that turns 76 frames (0.76 s) of 32 mel bands
into one 96-value embedding, every 8 frames. Its weights are read from that
file (checked by SHA-256), frozen, and run here by a small interpreter of the
graph's seven operator kinds, so a model exported by torch carries the same
network (`tests/test_speech_embedding.py` checks it against onnxruntime).

`EmbeddingHead` is ser's part: it takes the feature matrix of a
`ser-features --speech-embedding` dump (the 32 bands are its last columns,
computed by the Rust extractor like everything else), applies the front
end's utterance-level steps (clip at 80 dB below the loudest value, `x/10+2`,
silence after an utterance shorter than one window, up to one window),
runs the frozen network, pools the embeddings (mean and standard deviation
over the utterance) and classifies them with a small MLP.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import LABELS
from .data import SPEECH_EMBEDDING_MELS

SHA256 = "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51"
WINDOW = 76  # frames per embedding
STEP = 8  # frames between embeddings
TOP_DB = 80.0


class SpeechEmbedding(nn.Module):
    """The frozen network: [B, T, 32] scaled bands -> [B, T', 96] with
    T' = (T - 76) // 8 + 1 (one embedding per 8 frames, as openWakeWord's
    sliding windows, computed in one convolution pass)."""

    @classmethod
    def from_file(cls, onnx_path: str | Path) -> "SpeechEmbedding":
        """The network of openwakeword 0.4.0's embedding_model.onnx (checked by SHA-256)."""
        import onnx

        raw = Path(onnx_path).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != SHA256:
            raise SystemExit(f"{onnx_path}: not openwakeword 0.4.0's embedding_model.onnx "
                             f"(SHA-256 {digest}, expected {SHA256})")
        return cls(onnx.load_from_string(raw), str(onnx_path))

    def __init__(self, model, onnx_path: str = "the graph"):
        """`model`: an onnx ModelProto of that network's form (the tests build small ones)."""
        super().__init__()
        import onnx
        from onnx import numpy_helper

        graph = model.graph
        consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.ops: list[tuple] = []
        for n in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            k = len(self.ops)
            if n.op_type == "Pad":
                # NHWC [B, T, 32, 1]: one band of zeros on each side (32 -> 34)
                if consts[n.input[1]].tolist() != [0, 0, 1, 0, 0, 0, 1, 0]:
                    raise SystemExit(f"{onnx_path}: unexpected padding {consts[n.input[1]].tolist()}")
                self.ops.append(("pad",))
            elif n.op_type == "Reshape":
                # the first one turns NHWC into NCHW (1 channel), the last one ends it
                first = not any(op[0] == "nhwc-to-nchw" for op in self.ops)
                self.ops.append(("nhwc-to-nchw",) if first else ("nchw-to-ntc",))
            elif n.op_type == "Conv":
                w = torch.tensor(consts[n.input[1]])
                b = torch.tensor(consts[n.input[2]]) if len(n.input) > 2 else torch.zeros(w.shape[0])
                self.register_buffer(f"w{k}", w)
                self.register_buffer(f"b{k}", b)
                top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
                if (top, left) != (bottom, right) or attrs.get("strides", [1, 1]) != [1, 1]:
                    raise SystemExit(f"{onnx_path}: unexpected convolution {attrs}")
                self.ops.append(("conv", k, (top, left)))
            elif n.op_type == "BatchNormalization":
                scale, bias, mean, var = (torch.tensor(consts[i]) for i in n.input[1:])
                inv = scale / torch.sqrt(var + attrs.get("epsilon", 1e-5))
                self.register_buffer(f"s{k}", inv.view(1, -1, 1, 1))
                self.register_buffer(f"o{k}", (bias - mean * inv).view(1, -1, 1, 1))
                self.ops.append(("affine", k))
            elif n.op_type == "Relu":
                self.ops.append(("relu",))
            elif n.op_type == "LeakyRelu":
                self.ops.append(("leaky", float(attrs["alpha"])))
            elif n.op_type == "Max":
                self.ops.append(("floor", float(consts[n.input[1]].ravel()[0])))
            elif n.op_type == "MaxPool":
                if attrs.get("pads", [0, 0, 0, 0]) != [0, 0, 0, 0]:
                    raise SystemExit(f"{onnx_path}: unexpected pooling {attrs}")
                self.ops.append(("maxpool", tuple(attrs["kernel_shape"]), tuple(attrs["strides"])))
            else:
                raise SystemExit(f"{onnx_path}: operator {n.op_type} is not supported")
        convs = [op for op in self.ops if op[0] == "conv"]
        if not convs:
            raise SystemExit(f"{onnx_path}: no convolution")
        self.dim = int(getattr(self, f"w{convs[-1][1]}").shape[0])  # 96 for the real network
        self.requires_grad_(False)

    def tap_names(self) -> list[str]:
        """The places a head can read the network: `block1`… after each of
        its max-pools (the end of a block of convolutions), and `embedding`,
        the output."""
        return [f"block{i + 1}" for i in range(sum(op[0] == "maxpool" for op in self.ops))] + ["embedding"]

    def _tap_index(self, name: str) -> int:
        """The index in `ops` after which tap `name` is read."""
        if name == "embedding":
            return len(self.ops) - 1
        pools = [i for i, op in enumerate(self.ops) if op[0] == "maxpool"]
        if not name.startswith("block") or not name[5:].isdigit() or not 1 <= int(name[5:]) <= len(pools):
            raise ValueError(f"no tap {name!r} in the speech embedding (taps: {', '.join(self.tap_names())})")
        return pools[int(name[5:]) - 1]

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        """The embeddings [B, T', 96] of scaled bands [B, T, 32]."""
        return self.taps(bands, ("embedding",))[0][:, :, :, 0].transpose(1, 2)  # (squeeze would export an If)

    def taps(self, bands: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        """The activations [B, C, T_tap, F_tap] at taps `names` (`tap_names`)
        of scaled bands [B, T, 32]; the network runs only as far as the last
        one asks (the rest is not in an exported graph)."""
        wanted = {self._tap_index(n): n for n in names}
        out: dict[str, torch.Tensor] = {}
        x = bands
        for i, op in enumerate(self.ops[: max(wanted) + 1]):
            x = self.step(op, x)
            if i in wanted:
                out[wanted[i]] = x
        return [out[n] for n in names]

    def step(self, op: tuple, x: torch.Tensor, conv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One operation of `ops` on x; `conv` (weight, bias) replaces a
        convolution's own (a fine-tuned copy: `tuning.TrainableBlocks`)."""
        kind = op[0]
        if kind == "pad":
            return F.pad(x, (1, 1)).unsqueeze(1)  # [B, 1, T, 34]
        if kind == "conv":
            w, b = conv if conv is not None else (getattr(self, f"w{op[1]}"), getattr(self, f"b{op[1]}"))
            return F.conv2d(x, w, b, padding=op[2])
        if kind == "affine":
            return x * getattr(self, f"s{op[1]}") + getattr(self, f"o{op[1]}")
        if kind == "relu":
            return torch.relu(x)
        if kind == "leaky":
            return F.leaky_relu(x, op[1])
        if kind == "floor":
            return torch.clamp(x, min=op[1])
        if kind == "maxpool":
            return F.max_pool2d(x, op[1], op[2])
        # "nhwc-to-nchw": done with the padding (the channel axis is 1 wide);
        # "nchw-to-ntc": the caller's (`forward`)
        return x

    def ops_between(self, after: str, upto: str) -> list[tuple]:
        """The operations that lead from tap `after` to tap `upto`."""
        return self.ops[self._tap_index(after) + 1: self._tap_index(upto) + 1]

    def tap_lengths(self, frames: torch.Tensor, name: str) -> torch.Tensor:
        """How many time steps of tap `name` each utterance of `frames` band
        frames fills (its convolutions do not pad time; `embedding`:
        (frames - 76) // 8 + 1)."""
        n = frames.clone()
        for op in self.ops[: self._tap_index(name) + 1]:
            if op[0] == "conv":
                n = n + 2 * op[2][0] - getattr(self, f"w{op[1]}").shape[2] + 1
            elif op[0] == "maxpool":
                n = torch.div(n - op[1][0], op[2][0], rounding_mode="floor") + 1
        return n

    def tap_widths(self, names: tuple[str, ...]) -> list[int]:
        """C * F_tap of each tap: the values one time step holds."""
        with torch.no_grad():
            return [int(t.shape[1] * t.shape[3]) for t in self.taps(torch.zeros(1, WINDOW, SPEECH_EMBEDDING_MELS),
                                                                     names)]


def scaled_bands(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """The front end's utterance-level steps on the last 32 columns of a
    batch of feature matrices: each utterance clipped at 80 dB below its
    loudest value and scaled `x/10+2`; an utterance shorter than one window
    (0.76 s) is followed by its silence level (the clip floor) up to one
    window, and frames past an utterance's length are silence too (with
    `lengths` None every frame counts, as in the exported graph, where the
    length is the input's). Returns the bands [B, max(T, 76), 32]; how many
    steps of the network each utterance fills is
    `SpeechEmbedding.tap_lengths` of its length, at least 76."""
    b, t = x.shape[0], x.shape[1]
    db = x[..., -SPEECH_EMBEDDING_MELS:]
    if lengths is None:
        floor = db.amax(dim=(1, 2), keepdim=True) - TOP_DB
        above = torch.maximum(db, floor) - floor  # 0 is the silence level
        # max(T, 76) frames: the exported graph slices by the input's length
        # (a Slice tract runs with T symbolic, unlike a Pad of computed size)
        above = torch.cat([above, above.new_zeros(b, WINDOW, SPEECH_EMBEDDING_MELS)], dim=1)
        above = above[:, : torch.maximum(torch._shape_as_tensor(x)[1], torch.tensor(WINDOW))]
    else:
        valid = (torch.arange(t)[None, :] < lengths[:, None])[..., None]
        floor = torch.where(valid, db, torch.full_like(db, -1e4)).amax(dim=(1, 2), keepdim=True) - TOP_DB
        above = torch.where(valid, torch.maximum(db, floor) - floor, torch.zeros_like(db))
        if t < WINDOW:
            above = F.pad(above, (0, 0, 0, WINDOW - t))
    return (above + floor) / 10 + 2


# how a head pools a tap's activations over time -> how many values per value of a step:
# "whole": the utterance's mean and standard deviation; "halves": those and each half's
POOLINGS = {"whole": 2, "halves": 6}


def _masked_moments(a: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and variance over the steps of a [B, T, V] where mask [B, T] holds
    (a mask holding nowhere gives 0, 0)."""
    w = mask.unsqueeze(-1).float()
    n = w.sum(1).clamp_min(1)
    mean = (a * w).sum(1) / n
    return mean, (((a - mean.unsqueeze(1)) ** 2) * w).sum(1) / n


def pool_over_time(a: torch.Tensor, steps: torch.Tensor | None, pooling: str) -> tuple[list[torch.Tensor],
                                                                                       list[torch.Tensor]]:
    """One tap's activations a [B, T', V] (channel-major values) pooled over
    time: ([mean, standard deviation] over each utterance's `steps` steps,
    and for `pooling` "halves" [the first half's mean, deviation, the rest's
    mean, deviation], else []). `steps` None: every step counts (the
    exported graph: a ReduceMean, no mask)."""
    if steps is None:
        mean = a.mean(1)
        var = ((a - mean.unsqueeze(1)) ** 2).mean(1)
        steps, within = torch._shape_as_tensor(a)[1:2], None
    else:
        within = torch.arange(a.shape[1])[None, :] < steps[:, None]
        mean, var = _masked_moments(a, within)
    whole, halves = [mean, torch.sqrt(var + 1e-12)], []
    if pooling == "halves":
        half = torch.clamp(torch.div(steps, 2, rounding_mode="floor"), min=1)
        first = torch.arange(a.shape[1])[None, :] < half[:, None]
        for part in ((first, ~first) if within is None else (first & within, ~first & within)):
            mean, var = _masked_moments(a, part)
            halves += [mean, torch.sqrt(var + 1e-12)]
    return whole, halves


class EmbeddingHead(nn.Module):
    """On features [B, T, F] (the last 32 columns: speech-embedding bands):
    `pooled`, the mean and standard deviation over the utterance of the
    frozen network's activations at `taps` (each channel and frequency bin
    of a block on its own; `("embedding",)`: the embeddings, as
    `crnn-se-9` to `crnn-se-11` read them); `classify`, those standardised
    (training statistics) through an MLP to logits [B, 8].
    With `pooling` "halves" the mean and deviation of each half of the
    utterance follow, for each tap (three times the values).
    (`fusion.HeadEnsemble` chains them for several MLPs.)"""

    def __init__(self, encoder: SpeechEmbedding, hidden: int = 256, dropout: float = 0.3,
                 taps: tuple[str, ...] = ("embedding",), pooling: str = "whole"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"no pooling {pooling!r} (poolings: {', '.join(POOLINGS)})")
        self.encoder = encoder
        self.taps = tuple(taps)
        self.pooling = pooling
        n = POOLINGS[pooling] * sum(encoder.tap_widths(self.taps))
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        layers: list[nn.Module] = ([nn.Linear(n, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, len(LABELS))]
                                   if hidden else [nn.Linear(n, len(LABELS))])
        self.mlp = nn.Sequential(*layers)

    def pooled(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """[B, POOLINGS[pooling] * sum of the taps' widths]: for each tap, the
        mean over the utterance of each of its values, then their standard
        deviations; "halves" adds, tap by tap, the first half's means and
        deviations, then the second half's (the first half: the first
        steps // 2 steps, at least one)."""
        bands = scaled_bands(x, lengths)
        parts, halves = [], []
        for name, a in zip(self.taps, self.encoder.taps(bands, self.taps)):
            steps = None if lengths is None else self.encoder.tap_lengths(lengths.clamp_min(WINDOW), name)
            whole, split = pool_over_time(a.transpose(1, 2).flatten(2), steps, self.pooling)
            parts += whole
            halves += split
        # the order of crnn-se-11's one tap: every mean, then every deviation
        return torch.cat(parts[0::2] + parts[1::2] + halves, dim=-1)

    def columns(self, wanted: tuple[str, ...]) -> np.ndarray:
        """Where in `pooled`'s output the values of the taps `wanted` (some
        of this head's) lie: `pooled` of a head reading only `wanted` (with
        this head's pooling) is `pooled(...)[:, columns(wanted)]`."""
        widths = dict(zip(self.taps, self.encoder.tap_widths(self.taps)))
        starts = dict(zip(self.taps, np.cumsum([0, *widths.values()])[:-1]))
        total = sum(widths.values())
        means = [np.arange(starts[t], starts[t] + widths[t]) for t in wanted]
        halves = [np.arange(2 * total + 4 * starts[t], 2 * total + 4 * (starts[t] + widths[t]))
                  for t in wanted if self.pooling == "halves"]
        return np.concatenate(means + [m + total for m in means] + halves)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits [B, 8] of pooled embeddings (standardised, then the MLP)."""
        return self.mlp((pooled - self.mean) / self.std)

    def set_standardisation(self, pooled: np.ndarray) -> None:
        self.mean.copy_(torch.tensor(pooled.mean(0), dtype=torch.float32))
        self.std.copy_(torch.tensor(pooled.std(0) + 1e-6, dtype=torch.float32))
