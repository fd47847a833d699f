"""Network architectures.

Every net takes a padded batch `x` float32 [B, T, F] (zero padding at the end)
and optionally `lengths` int64 [B] (valid frames per item) and returns logits
[B, 8]. Without `lengths` all frames are valid: that is the ONNX export path
(one unpadded utterance [1, T, F]); `export.InferenceWrapper` appends the
temperature-scaled softmax.

Each net starts with a fixed per-coefficient standardisation (mean/std of the
training frames, set by `set_normalisation` and stored as buffers), so the
exported graph consumes the raw features of the feature config.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Standardise(nn.Module):
    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("inv_std", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std


def _valid_mask(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    if lengths is None:
        return None
    t = torch.arange(x.shape[1], device=x.device)
    return t[None, :] < lengths[:, None]


class SeedLSTM(nn.Module):
    """The seed system: LSTM(128), final hidden state -> Dense 64 ReLU +
    Dropout -> Dense 32 ReLU + Dropout -> Dense 8 (softmax outside)."""

    def __init__(self, n_features: int = 40, n_classes: int = 8, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.norm = Standardise(n_features)
        self.lstm = nn.LSTM(n_features, hidden, num_layers=1, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden, 64),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(32, n_classes),
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(x)
        if lengths is None:
            _, (h, _) = self.lstm(x)
            last = h[-1]
        else:
            # Padding is at the end, so the output at the last valid step is
            # exactly the final hidden state of the unpadded sequence.
            out, _ = self.lstm(x)
            last = out[torch.arange(x.shape[0]), lengths - 1]
        return self.head(last)


class CRNN(nn.Module):
    """Conv front end (2 x conv-BN-ReLU over time, stride 2 in time each) ->
    BiGRU -> attention pooling over valid frames -> linear."""

    def __init__(self, n_features: int = 64, n_classes: int = 8, channels: int = 96, hidden: int = 96, dropout: float = 0.3):
        super().__init__()
        self.norm = Standardise(n_features)
        self.conv1 = nn.Sequential(nn.Conv1d(n_features, channels, 5, stride=2, padding=2), nn.BatchNorm1d(channels), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.BatchNorm1d(channels), nn.ReLU())
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(channels, hidden, batch_first=True, bidirectional=True)
        self.att = nn.Linear(2 * hidden, 1)
        self.out = nn.Linear(2 * hidden, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.drop(self.embed(x, lengths)))

    @property
    def embedding_size(self) -> int:
        return self.out.in_features

    def embed(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The attention-pooled utterance embedding the classifier reads ([B, 2 x hidden])."""
        x = self.norm(x)
        if lengths is not None:
            # zero the padding after every layer so a padded item sees exactly
            # the zero padding a lone utterance sees (each stride-2 conv maps
            # T valid frames to ceil(T / 2))
            x = x * _valid_mask(x, lengths)[..., None]
        h = self.conv1(x.transpose(1, 2))
        if lengths is not None:
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
            h = h * _valid_mask(h.transpose(1, 2), lengths)[:, None, :]
        h = self.conv2(h).transpose(1, 2)  # [B, ceil(T / 4), C]
        h = self.drop(h)
        if lengths is None:
            h, _ = self.gru(h)
            scores = self.att(h).squeeze(-1)  # [B, T']
        else:
            # pack so the backward GRU
            # starts at the last valid frame, not in the padding
            sub = torch.div(lengths + 1, 2, rounding_mode="floor").clamp(min=1, max=h.shape[1])
            packed = pack_padded_sequence(h, sub.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=h.shape[1])
            mask = torch.arange(h.shape[1])[None, :] < sub[:, None]
            scores = self.att(h).squeeze(-1).masked_fill(~mask, -1e4)
        w = torch.softmax(scores, dim=1)
        return (h * w[..., None]).sum(dim=1)


class CRNNWide(CRNN):
    """The CRNN with 128 conv channels and 2x128 GRU units (about 1.7x the compute)."""

    def __init__(self, n_features: int = 64, n_classes: int = 8, dropout: float = 0.3):
        super().__init__(n_features, n_classes, channels=128, hidden=128, dropout=dropout)


ARCHS = {
    "seed": SeedLSTM,
    "crnn": CRNN,
    "crnn-wide": CRNNWide,
}


def build(arch: str, n_features: int, **kwargs) -> nn.Module:
    try:
        cls = ARCHS[arch]
    except KeyError:
        raise SystemExit(f"unknown --arch {arch!r}; known: {', '.join(sorted(ARCHS))}") from None
    return cls(n_features=n_features, **kwargs)


def set_normalisation(net: nn.Module, mean, std) -> None:
    std = torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-3)
    net.norm.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
    net.norm.inv_std.copy_(1.0 / std)


def n_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
