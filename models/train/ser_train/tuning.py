"""Fine-tuning the last blocks the head reads (`fuse-cv --tune-epochs`).

The head reads the pretrained network at the ends of its third and fourth
blocks (`fusion.HEAD_TAPS`). The blocks before `first` stay frozen; copies
of the convolutions from `first` to block 4 (block 4's four by default,
`fuse-cv --tune-from block3` adds block 3's) learn on the fold's training
actors (clean and augmented segments), through the head: each epoch trains
the blocks with the head held (Adam, minibatches of similar lengths), then
refits the head on the new pooled values. Two optional holds on the blocks:
an L2-SP penalty (Li et al. 2018), `l2sp / 2` times the squared distance of
their weights and biases from the pretrained ones, added to the loss; and
mixup of the head's input (each item's pooled values blended with another
item's of the batch, the loss blended the same way, the weight ~
Beta(mixup, mixup)). With validation actors the epoch with the lowest
validation log-loss is kept (epoch 0: the frozen blocks); `fuse-final`
runs the folds' median number of epochs on every actor. The tuned blocks
go into the exported graph in place of the frozen ones (`tuned_encoder`):
the same operations, other weights, so the same size and speed.

The frozen blocks' activations do not change, so they are computed once
per segment (`Sequences`) and only the blocks that learn run while tuning.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .speech_embedding import WINDOW, SpeechEmbedding, pool_over_time, scaled_bands

TAPS = ("block3", "block4")  # the head's taps a tuning needs (the last one the last block that learns)
# at most this many epochs (`fuse-cv --tune-epochs`), the number chosen per
# fold on validation log-loss: the shipped crnn-se-14's (0 keeps the network
# frozen, as every shipped model before it)
TUNE_EPOCHS = 6
TUNE_LR = 1e-3
TUNE_BATCH = 32
# the first block that learns (`fuse-cv --tune-from`): the shipped recipe's,
# block 4 alone; from block 3, blocks 3 and 4 (the head reads both)
FIRST = "block4"
FIRSTS = ("block2", "block3", "block4")
# while the block trains, the held heads divide by at least this share of
# their median standard deviation: a value that hardly varied over the
# training rows (a unit the frozen block leaves at its floor) would turn the
# block's first small step into a huge standardised one
STD_FLOOR = 0.01


def tuned_said(first: str) -> str:
    """The blocks that learn, in words: "block 4", "blocks 3-4"."""
    return "block 4" if first == "block4" else f"blocks {first[5:]}-4"


def input_tap(first: str) -> str:
    """Where the frozen part ends when blocks `first` (`FIRSTS`) to 4 learn:
    the end of the block before it."""
    if first not in FIRSTS:
        raise ValueError(f"no tuning from {first!r} (from: {', '.join(FIRSTS)})")
    return f"block{int(first[5:]) - 1}"


class Frozen(nn.Module):
    """features [1, T, F] -> the frozen network's activations [1, C, T', F']
    at the end of block `tap` (every frame counts, as in the exported graph)."""

    def __init__(self, encoder: SpeechEmbedding, tap: str):
        super().__init__()
        self.encoder, self.tap = encoder, tap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.taps(scaled_bands(x, None), (self.tap,))[0]


class TrainableBlocks(nn.Module):
    """The network's operations from the end of the block before `first` to
    block 4's, with trainable copies of their convolutions' weights and
    biases."""

    def __init__(self, encoder: SpeechEmbedding, first: str = FIRST):
        super().__init__()
        self.encoder, self.first = encoder, first
        # (tap, the operations that lead to it) for each block that learns
        taps = [f"block{n}" for n in range(int(first[5:]), int(TAPS[-1][5:]) + 1)]
        self.stages = [(tap, encoder.ops_between(before, tap)) for before, tap in zip([input_tap(first)] + taps, taps)]
        self.convs = [op[1] for _, ops in self.stages for op in ops if op[0] == "conv"]
        self.weights = nn.ParameterList(nn.Parameter(getattr(encoder, f"w{k}").clone()) for k in self.convs)
        self.biases = nn.ParameterList(nn.Parameter(getattr(encoder, f"b{k}").clone()) for k in self.convs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations [B, C, T', F'] at the end of the block before
        `first` -> those at the head's taps (`TAPS`)."""
        index = {k: i for i, k in enumerate(self.convs)}
        out = {input_tap(self.first): x}
        for tap, ops in self.stages:
            for op in ops:
                i = index.get(op[1]) if op[0] == "conv" else None
                x = self.encoder.step(op, x, None if i is None else (self.weights[i], self.biases[i]))
            out[tap] = x
        return [out[t] for t in TAPS]


def tuned_encoder(encoder: SpeechEmbedding, block: TrainableBlocks) -> SpeechEmbedding:
    """A copy of the network with `block`'s weights in place of the
    pretrained ones (what the head and the exported graph then run)."""
    tuned = copy.deepcopy(encoder)
    with torch.no_grad():
        for k, w, b in zip(block.convs, block.weights, block.biases):
            getattr(tuned, f"w{k}").copy_(w)
            getattr(tuned, f"b{k}").copy_(b)
    return tuned


class Sequences:
    """The frozen network's activations of a list of items where the blocks
    that learn start (`inputs[i]`: [C, T', F'] at `input_tap(first)`), and
    how many steps of that tap and of blocks 3 and 4 each fills."""

    def __init__(self, encoder: SpeechEmbedding, inputs: list[np.ndarray], frames: list[int], pooling: str,
                 first: str = FIRST):
        self.inputs = [torch.as_tensor(b) for b in inputs]
        self.first = first
        n = torch.tensor([max(f, WINDOW) for f in frames])
        self.steps_in = encoder.tap_lengths(n, input_tap(first))
        self.steps3, self.steps4 = (encoder.tap_lengths(n, t) for t in TAPS)
        self.pooling = pooling
        bad = [i for i, (b, s) in enumerate(zip(self.inputs, self.steps_in)) if b.shape[1] != int(s)]
        if bad:
            raise ValueError(f"item {bad[0]}: {self.inputs[bad[0]].shape[1]} steps of {input_tap(first)}, "
                             f"expected {int(self.steps_in[bad[0]])}")

    def __len__(self) -> int:
        return len(self.inputs)

    def pooled(self, block: TrainableBlocks, idx: np.ndarray) -> torch.Tensor:
        """The head's input for items `idx`, in `EmbeddingHead.pooled`'s order
        (every mean, every deviation, then each tap's halves)."""
        one = self.inputs[idx[0]]
        x = one.new_zeros(len(idx), one.shape[0], int(self.steps_in[idx].max()), one.shape[2])
        for j, i in enumerate(idx):
            x[j, :, : self.steps_in[i]] = self.inputs[i]
        # past an utterance's end: zeros in, never read out (no block pads time)
        (w3, h3), (w4, h4) = (pool_over_time(a.transpose(1, 2).flatten(2), s, self.pooling)
                              for a, s in zip(block(x), (self.steps3[idx], self.steps4[idx])))
        return torch.cat([w3[0], w4[0], w3[1], w4[1]] + h3 + h4, dim=-1)

    @torch.no_grad()
    def all_pooled(self, block: TrainableBlocks, batch: int = 128, rows: np.ndarray | None = None) -> np.ndarray:
        """The head's input for every item, or for `rows` (in their order),
        in batches of similar lengths."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        order = np.argsort(self.steps_in[rows].numpy(), kind="stable")
        parts = [(order[k: k + batch], self.pooled(block, rows[order[k: k + batch]]).numpy())
                 for k in range(0, len(order), batch)]
        out = np.zeros((len(rows), parts[0][1].shape[1]), np.float32)
        for at, values in parts:
            out[at] = values
        return out


def held(heads: nn.Module) -> nn.Module:
    """A copy of refitted heads (`fusion.HeadEnsemble`) to train the block
    through: their standard deviations floored (`STD_FLOOR`), their own
    weights out of the gradient."""
    heads = copy.deepcopy(heads).requires_grad_(False)
    std = heads.first.std
    std.clamp_(min=STD_FLOOR * float(std.median()))
    return heads


def squared_distance(block: TrainableBlocks, anchor: list[torch.Tensor]) -> torch.Tensor:
    """The squared distance of the block's weights and biases from `anchor`."""
    return sum((p - a).pow(2).sum() for p, a in zip(block.parameters(), anchor))


def drift(block: TrainableBlocks, anchor: list[torch.Tensor]) -> float:
    """How far the block's weights and biases moved from `anchor`: the norm
    of the difference over the norm of `anchor` (0: untouched)."""
    with torch.no_grad():
        return (float(squared_distance(block, anchor)) / sum(float(a.pow(2).sum()) for a in anchor)) ** 0.5


def l2sp_penalty(block: TrainableBlocks, anchor: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """`alpha / 2` times the squared distance of the block's parameters from `anchor`."""
    return alpha / 2 * squared_distance(block, anchor)


def mixed_loss(log_probs_of: Callable[[torch.Tensor], torch.Tensor], pooled: torch.Tensor, y: torch.Tensor,
               alpha: float, rng: np.random.Generator) -> torch.Tensor:
    """The head's log-loss on `pooled` rows; with `alpha`, on each row
    blended with another row of the batch (weight ~ Beta(alpha, alpha)),
    against the two labels blended the same way."""
    if not alpha or len(y) < 2:
        return F.nll_loss(log_probs_of(pooled), y)
    lam = torch.tensor(rng.beta(alpha, alpha, len(y)), dtype=pooled.dtype)
    other = torch.as_tensor(rng.permutation(len(y)))
    log_p = log_probs_of(lam[:, None] * pooled + (1 - lam[:, None]) * pooled[other])
    picked = log_p.gather(1, y[:, None])[:, 0], log_p.gather(1, y[other][:, None])[:, 0]
    return -(lam * picked[0] + (1 - lam) * picked[1]).mean()


def tune(encoder: SpeechEmbedding, seqs: Sequences, train_rows: np.ndarray, y_train: np.ndarray,
         fit_head: Callable[[np.ndarray, np.ndarray], nn.Module], epochs: int, seed: int,
         val_rows: np.ndarray | None = None, y_val: np.ndarray | None = None,
         lr: float = TUNE_LR, l2sp: float = 0.0, mixup: float = 0.0) -> tuple[TrainableBlocks, int, list, list]:
    """The blocks from `seqs.first` to block 4 trained for `epochs` epochs
    (Adam at learning rate `lr`, the L2-SP penalty `l2sp`, mixup alpha
    `mixup`; 0: none) on `train_rows` of `seqs` through heads
    `fit_head(pooled rows, labels)` refitted after each epoch (their
    `from_pooled` gives log-probabilities). With validation rows: the blocks
    of the epoch with the lowest validation log-loss (0: untouched), that
    epoch and every epoch's loss; without: the last ones, `epochs`, [].
    Last, every epoch's `drift` from the pretrained blocks (epoch 0's is 0)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    block = TrainableBlocks(encoder, seqs.first)
    anchor = [p.detach().clone() for p in block.parameters()]
    opt = torch.optim.Adam(block.parameters(), lr=lr)
    yt = torch.tensor(y_train)

    def refit() -> tuple[nn.Module, float | None]:
        # only the rows it reads: the other items (other actors' segments,
        # degraded copies) wait for the kept epoch
        x = seqs.all_pooled(block, rows=train_rows if val_rows is None else np.concatenate([train_rows, val_rows]))
        heads = fit_head(x[: len(train_rows)], y_train)
        if val_rows is None:
            return heads, None
        with torch.no_grad():
            return heads, float(F.nll_loss(heads.from_pooled(torch.tensor(x[len(train_rows):])), torch.tensor(y_val)))

    heads, loss = refit()
    losses, drifts, best = [loss], [0.0], (loss, 0, copy.deepcopy(block.state_dict()))
    steps3 = seqs.steps3[train_rows].numpy()
    for epoch in range(1, epochs + 1):
        # batches of similar lengths (sorted with a little noise), in random order
        order = np.argsort(steps3 + rng.uniform(0, 3, len(steps3)))
        batches = [order[k: k + TUNE_BATCH] for k in range(0, len(order), TUNE_BATCH)]
        block.train()
        through = held(heads)
        for i in rng.permutation(len(batches)):
            b = batches[i]
            opt.zero_grad()
            objective = mixed_loss(through.from_pooled, seqs.pooled(block, train_rows[b]), yt[b], mixup, rng)
            if l2sp:
                objective = objective + l2sp_penalty(block, anchor, l2sp)
            objective.backward()
            opt.step()
        heads, loss = refit()
        losses.append(loss)
        drifts.append(drift(block, anchor))
        if loss is not None and loss < best[0]:
            best = (loss, epoch, copy.deepcopy(block.state_dict()))
    if val_rows is None:
        return block, epochs, [], drifts
    block.load_state_dict(best[2])
    return block, best[1], losses, drifts
