"""Network architectures.

Every net takes a padded batch `x` float32 [B, T, F] plus `lengths` int64 [B]
(valid frames per item) and returns logits [B, 8]. For ONNX export each net is
wrapped by `export.InferenceWrapper`, which runs it on a single unpadded
utterance [1, T, F] and appends the (temperature-scaled) softmax.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class SeedLSTM(nn.Module):
    """The seed system: LSTM(128) final hidden state -> Dense 64 ReLU + Dropout
    -> Dense 32 ReLU + Dropout -> Dense 8 (softmax applied outside)."""

    def __init__(self, n_features: int = 40, n_classes: int = 8, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
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
        if lengths is None:
            # Single unpadded utterance(s): the ONNX export path.
            _, (h, _) = self.lstm(x)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
        return self.head(h[-1])


ARCHS = {
    "seed": SeedLSTM,
}


def build(arch: str, n_features: int, **kwargs) -> nn.Module:
    try:
        cls = ARCHS[arch]
    except KeyError:
        raise SystemExit(f"unknown --arch {arch!r}; known: {', '.join(sorted(ARCHS))}") from None
    return cls(n_features=n_features, **kwargs)
