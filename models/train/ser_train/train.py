"""Training loop, evaluation, temperature scaling, cross-validation and the
final (all actors) model."""

from __future__ import annotations

import json
import logging
import math
import random
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import LABELS, folds, metrics, nets
from .data import Features, Item, copies_of, spectral_width

log = logging.getLogger("ser_train")


@dataclass
class Recipe:
    arch: str = "seed"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 30
    patience: int = 8
    dropout: float = 0.2
    max_frames: int = 400  # random crop of long training segments (eval uses all frames)
    augment: bool = False  # SpecAugment-style masks + gain/noise on the features
    mixup: float = 0.0  # mixup alpha (0 = off)
    label_smoothing: float = 0.0
    # decay per optimiser step of an exponential moving average of the
    # weights (0 = off); with it, validation, epoch choice and export use
    # the averaged net
    ema: float = 0.0
    # weight of a speaker adversary (0 = off): a small head learns to name
    # the training actor from the utterance embedding, and the encoder is
    # pushed to leave it guessing (see SpeakerAdversary); the weight ramps up
    # from 0 (2 / (1 + exp(-10 p)) - 1 of it at progress p). The head is used
    # in training only: the exported graph is unchanged
    speaker_adversary: float = 0.0
    n_val: int = 4  # validation actors taken from the training actors
    seed: int = 0
    # seed of the validation-actor draw (None: `seed`); members of a seed
    # ensemble share it, so the ensemble can be scored on common validation actors
    val_seed: int | None = None

    @property
    def split_seed(self) -> int:
        return self.seed if self.val_seed is None else self.val_seed


RECIPES = {
    "seed": Recipe(),
    "crnn": Recipe(arch="crnn", lr=2e-3, weight_decay=1e-4, dropout=0.3, max_epochs=30, patience=10,
                   augment=True, mixup=0.2, label_smoothing=0.05),
}
# the same net and recipe with a longer one-cycle schedule (the 30-epoch runs
# kept improving on the validation actors until the end)
RECIPES["crnn-long"] = replace(RECIPES["crnn"], max_epochs=50, patience=15)
# with waveform-augmented copies the 50-epoch runs still peaked late (epochs 34-44)
RECIPES["crnn-long80"] = replace(RECIPES["crnn"], max_epochs=80, patience=20)
RECIPES["crnn-wide-long"] = replace(RECIPES["crnn-long"], arch="crnn-wide")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- batching

def _batches(items: list[Item], batch_size: int, rng: random.Random | None) -> list[list[Item]]:
    """Length-bucketed batches (little padding); shuffled when rng is given."""
    items = list(items)
    if rng is None:
        items.sort(key=lambda it: it.frames)
        return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    rng.shuffle(items)
    out = []
    pool = batch_size * 16
    for g in range(0, len(items), pool):
        group = sorted(items[g : g + pool], key=lambda it: it.frames)
        out += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    rng.shuffle(out)
    return out


def _collate(data: Features, batch: list[Item], max_frames: int | None, rng: random.Random | None):
    mats = []
    for it in batch:
        m = data.matrix(it)
        if max_frames and len(m) > max_frames:
            start = rng.randrange(len(m) - max_frames + 1) if rng else (len(m) - max_frames) // 2
            m = m[start : start + max_frames]
        mats.append(m)
    lengths = torch.tensor([len(m) for m in mats], dtype=torch.long)
    x = torch.zeros(len(mats), int(lengths.max()), mats[0].shape[1])
    for i, m in enumerate(mats):
        x[i, : len(m)] = torch.from_numpy(m)
    y = torch.tensor([it.label for it in batch], dtype=torch.long)
    return x, lengths, y


def _augment(x: torch.Tensor, lengths: torch.Tensor, kind: str, gen: torch.Generator,
             cmvn: bool = False, spectral: int | None = None) -> torch.Tensor:
    """On raw features (before the net's standardisation): gain (a dB offset on
    log-mel / on c0 for MFCC; none with per-utterance CMVN, which removes any
    gain), small additive noise, 2 time masks and 2 frequency masks
    (SpecAugment) filled with each utterance's mean. Gain, noise (scaled to
    the spectral values' spread) and frequency masks touch only the first
    `spectral` columns (default: all); the pitch columns after them are
    gain-free, on another scale, and not frequencies."""
    x = x.clone()
    b, t, _ = x.shape
    f = x.shape[2] if spectral is None else spectral
    gain = (torch.rand(b, 1, generator=gen) * 12 - 6)  # +-6 dB
    if cmvn:
        pass  # CMVN features are gain-free: a dB offset would be a shift of several standard deviations
    elif kind == "logmel":
        x[:, :, :f] += gain[:, :, None]
    else:
        x[:, :, 0] += gain * 2.3  # c0 moves ~ sqrt(n_mels)/... ; rough dB proxy
    std = x[:, :, :f].std(dim=(1, 2), keepdim=True)
    x[:, :, :f] += torch.randn((b, t, f), generator=gen) * 0.05 * std
    mean = x.mean(dim=1, keepdim=True)
    for i in range(b):
        L = int(lengths[i])
        for _ in range(2):
            w = int(torch.randint(0, max(2, L // 8), (1,), generator=gen))
            s = int(torch.randint(0, max(1, L - w), (1,), generator=gen))
            x[i, s : s + w] = mean[i]
            fw = int(torch.randint(0, max(2, f // 8), (1,), generator=gen))
            fs = int(torch.randint(0, max(1, f - fw), (1,), generator=gen))
            x[i, :, fs : fs + fw] = mean[i, :, fs : fs + fw]
        x[i, L:] = 0
    return x


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def predict_logits(net, data: Features, items: list[Item], batch_size: int = 64):
    """Logits per segment, in the order of `items`."""
    net.eval()
    order = sorted(range(len(items)), key=lambda i: items[i].frames)
    out = torch.zeros(len(items), len(LABELS))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        x, lengths, _ = _collate(data, [items[i] for i in idx], None, None)
        out[idx] = net(x, lengths)
    return out


def per_file(items: list[Item], probs: torch.Tensor):
    """Aggregate segment probabilities to one prediction per source file
    (frame-weighted mean): returns (paths, true labels, mean probs)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[it.path].append(i)
    paths = sorted(groups)
    y, p = [], []
    for path in paths:
        idx = groups[path]
        w = torch.tensor([items[i].frames for i in idx], dtype=torch.float32)
        p.append((probs[idx] * w[:, None]).sum(0) / w.sum())
        y.append(items[idx[0]].label)
    return paths, np.array(y), torch.stack(p).numpy()


def evaluate(net, data, items, temperature: float = 1.0) -> dict:
    logits = predict_logits(net, data, items)
    y_seg = torch.tensor([it.label for it in items])
    nll = float(F.cross_entropy(logits / temperature, y_seg))
    _, y, p = per_file(items, torch.softmax(logits / temperature, dim=-1))
    return {**metrics.scores(y, p), "nll": nll, "n_files": int(len(y))}


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, bias: torch.Tensor | None = None) -> float:
    """Temperature minimising validation NLL (grid + refine; robust, cheap),
    of softmax(logits / T + bias) when a class bias (`priors`) follows it."""
    best_t, best = 1.0, float("inf")
    for t in np.exp(np.linspace(math.log(0.25), math.log(8.0), 121)):
        z = logits / float(t)
        nll = float(F.cross_entropy(z if bias is None else z + bias, y))
        if nll < best:
            best_t, best = float(t), nll
    return best_t


# ---------------------------------------------------------------- training

class SpeakerAdversary(nn.Module):
    """A small head that learns to name the training actor from an utterance
    embedding, and the confusion loss that pushes the encoder to make it
    unable to: the cross-entropy of the head's guess against a uniform
    distribution over the actors (Tzeng et al. 2015; Alvi et al. 2018). The
    head learns on a detached embedding, and the confusion reaches the encoder
    through frozen head weights, so neither undoes the other. (Reversing the
    head's gradient instead, Ganin & Lempitsky 2015, was tried first: the
    encoder learnt to make the head confidently wrong, which takes knowing the
    speaker, and a fresh probe named the speakers better than without it.)"""

    def __init__(self, embedding_size: int, actors: list[int], hidden: int = 128):
        super().__init__()
        self.index = {a: i for i, a in enumerate(sorted(set(actors)))}
        self.head = nn.Sequential(nn.Linear(embedding_size, hidden), nn.ReLU(), nn.Linear(hidden, len(self.index)))

    def targets(self, batch: list[Item]) -> torch.Tensor:
        return F.one_hot(torch.tensor([self.index[it.actor] for it in batch]), len(self.index)).float()

    def losses(self, embedding: torch.Tensor, speakers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the head's loss at naming the speakers, which trains the head
        only; the confusion, which trains the encoder only)."""
        guess = self.head(embedding.detach())
        head_loss = torch.sum(-speakers * F.log_softmax(guess, -1), -1).mean()
        frozen = {k: v.detach() for k, v in self.head.named_parameters()}
        fooled = torch.func.functional_call(self.head, frozen, (embedding,))
        confusion = -F.log_softmax(fooled, -1).mean()
        return head_loss, confusion

    @staticmethod
    def ramp(progress: float) -> float:
        """The share of the confusion weight at training progress 0..1 (Ganin's schedule)."""
        return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def _normalisation(data: Features, items: list[Item]):
    total = sum(it.frames for it in items)
    s = np.zeros(data.n_features, np.float64)
    s2 = np.zeros(data.n_features, np.float64)
    for it in items:
        m = data.matrix(it).astype(np.float64)
        s += m.sum(0)
        s2 += (m * m).sum(0)
    mean = s / total
    std = np.sqrt(np.maximum(s2 / total - mean * mean, 1e-12))
    return mean, std


def _versions(train_items: list[Item], copies: list[list[Item]]) -> list[list[list[Item]]]:
    """Per source file, its segments in the clean set and in each augmented
    copy (a copy's VAD may cut the file differently, so whole files are
    swapped, never single segments)."""
    by_path: dict[str, list[list[Item]]] = {}
    for it in train_items:
        by_path.setdefault(it.path, [[]])[0].append(it)
    for k, copy in enumerate(copies, start=1):
        for it in copy:
            v = by_path.get(it.path)
            if v is None:
                continue  # not a training file of this fold
            while len(v) <= k:
                v.append([])
            v[k].append(it)
    return [[seg for seg in v if seg] for v in by_path.values()]


def train_model(data: Features, train_items: list[Item], val_items: list[Item], recipe: Recipe,
                epochs: int | None = None, tag: str = "", copies: list[list[Item]] | None = None):
    """Train one net. With validation items: up to recipe.max_epochs, keeping
    the epoch with the best validation UA (ties: lower validation NLL), early
    stop after `patience` epochs without improvement, then fit the temperature
    on the validation items. Without: exactly `epochs` epochs, temperature 1.

    `copies` are augmented versions of the data (other `ser-features
    --perturb` dirs, read through `data.foreign`): each epoch, every training
    file is drawn from the clean set or one of the copies at random, so an
    epoch costs the same as without them. Only files of `train_items` are
    used from the copies; validation stays clean."""
    seed_everything(recipe.seed)
    rng = random.Random(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    net = nets.build(recipe.arch, data.n_features, dropout=recipe.dropout)
    nets.set_normalisation(net, *_normalisation(data, train_items))
    adversary = None
    if recipe.speaker_adversary:
        if not hasattr(net, "embed"):
            raise ValueError(f"net {recipe.arch!r} has no utterance embedding for a speaker adversary")
        adversary = SpeakerAdversary(net.embedding_size, [it.actor for it in train_items])
    params = list(net.parameters()) + (list(adversary.parameters()) if adversary else [])
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    n_epochs = epochs if epochs is not None else recipe.max_epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe.lr, total_steps=n_epochs * math.ceil(len(train_items) / recipe.batch_size) + 1,
        pct_start=0.15) if recipe.arch != "seed" else None
    kind = data.feature_config.get("kind", "mfcc")
    history, best, best_state, best_epoch, stale = [], None, None, 0, 0
    versions = _versions(train_items, copies) if copies else None
    ema = (torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe.ema), use_buffers=True)
        if recipe.ema else None)
    t0 = time.time()
    for epoch in range(1, n_epochs + 1):
        net.train()
        tot, spk_tot, n = 0.0, 0.0, 0
        epoch_items = train_items if versions is None else [it for v in versions for it in rng.choice(v)]
        batches = _batches(epoch_items, recipe.batch_size, rng)
        for b_index, batch in enumerate(batches):
            x, lengths, y = _collate(data, batch, recipe.max_frames, rng)
            if recipe.augment:
                x = _augment(x, lengths, kind, gen, bool(data.feature_config.get("cmvn")),
                             spectral_width(data.feature_config))
            target = F.one_hot(y, len(LABELS)).float()
            if recipe.label_smoothing:
                target = target * (1 - recipe.label_smoothing) + recipe.label_smoothing / len(LABELS)
            speakers = adversary.targets(batch) if adversary else None
            if recipe.mixup > 0 and len(batch) > 1:
                lam = float(np.random.beta(recipe.mixup, recipe.mixup))
                perm = torch.randperm(len(batch), generator=gen)
                # mix within the batch; keep lengths of the longer of each pair
                x = lam * x + (1 - lam) * x[perm]
                lengths = torch.maximum(lengths, lengths[perm])
                target = lam * target + (1 - lam) * target[perm]
                if speakers is not None:
                    speakers = lam * speakers + (1 - lam) * speakers[perm]
            if adversary is None:
                logits = net(x, lengths)
            else:
                embedding = net.embed(x, lengths)
                logits = net.out(net.drop(embedding))
            loss = torch.sum(-target * F.log_softmax(logits, -1), -1).mean()
            total = loss
            if adversary is not None:
                progress = (epoch - 1 + b_index / len(batches)) / n_epochs
                head_loss, confusion = adversary.losses(embedding, speakers)
                total = total + head_loss + recipe.speaker_adversary * SpeakerAdversary.ramp(progress) * confusion
                spk_tot += float(head_loss.detach()) * len(batch)
            opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            # an epoch drawn from augmented copies can have a few more
            # segments (and batches) than the clean set the schedule was
            # sized for: hold the last learning rate rather than overrun
            if sched and sched.last_epoch + 1 < sched.total_steps:
                sched.step()
            if ema is not None:
                ema.update_parameters(net)
            tot += float(loss.detach()) * len(batch)
            n += len(batch)
        row = {"epoch": epoch, "train_loss": tot / n, "elapsed_s": round(time.time() - t0, 1)}
        if adversary is not None:
            # chance is ln(number of training actors); near it, the embedding hides the speaker
            row["speaker_loss"] = spk_tot / n
        scored = net if ema is None else ema.module
        if val_items:
            ev = evaluate(scored, data, val_items)
            row.update(val_ua=ev["ua"], val_wa=ev["wa"], val_nll=ev["nll"])
            key = (ev["ua"], -ev["nll"])
            if best is None or key > best:
                best, best_epoch, stale = key, epoch, 0
                best_state = {k: v.clone() for k, v in scored.state_dict().items()}
            else:
                stale += 1
        history.append(row)
        log.info("%s epoch %d %s", tag, epoch, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
        if val_items and stale >= recipe.patience:
            log.info("%s early stop at epoch %d (best %d)", tag, epoch, best_epoch)
            break
    temperature = 1.0
    if val_items:
        net.load_state_dict(best_state)
        logits = predict_logits(net, data, val_items)
        temperature = fit_temperature(logits, torch.tensor([it.label for it in val_items]))
    else:
        best_epoch = n_epochs
        if ema is not None:
            net.load_state_dict(ema.module.state_dict())
    net.eval()
    return net, {"history": history, "best_epoch": best_epoch, "temperature": temperature,
                 "train_time_s": round(time.time() - t0, 1)}


def run_cv(data: Features, recipe: Recipe, out: Path, fold_ids: list[int] | None = None,
           extra_train: list[Features] | None = None, eval_sets: dict[str, Features] | None = None) -> dict:
    """Cross-validation over `fold_ids`. `extra_train`: augmented copies of the
    data (see `train_model`). `eval_sets`: degraded versions of the data
    (`ser-features --perturb`), on whose test-actor files each fold's model
    is also scored (the robustness columns). Each fold's model is saved as
    OUT/fold-K.pt (state dict, temperature, arch) for later evaluation."""
    from . import report

    out.mkdir(parents=True, exist_ok=True)
    fold_ids = fold_ids or sorted(folds.FOLDS)
    copies = [data.foreign(x) for x in (extra_train or [])]
    robust_sets = {name: data.foreign(x) for name, x in (eval_sets or {}).items()}
    meta = {"extra_train": copies_of(extra_train or []),
            "eval_sets": {name: {"dir": str(x.directory), "perturbation": x.perturbation}
                          for name, x in (eval_sets or {}).items()}}
    results = []
    for k in fold_ids:
        train_a, val_a, test_a = folds.split(k, recipe.n_val, recipe.split_seed)
        tr, va, te = data.select(train_a), data.select(val_a), data.select(test_a)
        if not tr or not te:
            raise SystemExit(f"fold {k}: no training or test items in {data.directory} (actors present: "
                             f"{sorted({it.actor for it in data.items})})")
        log.info("fold %d: train actors %s, validation %s, test %s (%d/%d/%d segments)",
                 k, train_a, val_a, test_a, len(tr), len(va), len(te))
        net, info = train_model(data, tr, va, recipe, tag=f"fold {k}", copies=copies)
        torch.save({"state": net.state_dict(), "arch": recipe.arch, "n_features": data.n_features,
                    "dropout": recipe.dropout, "temperature": info["temperature"], "fold": k},
                   out / f"fold-{k}.pt")
        ev = evaluate(net, data, te, info["temperature"])
        ev_raw = evaluate(net, data, te, 1.0)
        robustness, val_robustness = score_degraded(net, data, robust_sets, test_a, val_a, info["temperature"], k)
        results.append({
            "fold": k, "train_actors": train_a, "val_actors": val_a, "test_actors": test_a,
            "ua": ev["ua"], "wa": ev["wa"], "test_nll": ev["nll"], "test_nll_uncalibrated": ev_raw["nll"],
            "ece": ev["ece"], "ece_uncalibrated": ev_raw["ece"], "robustness": robustness,
            "val_robustness": val_robustness,
            "confusion": ev["confusion"].tolist(), "n_test_files": ev["n_files"],
            "best_epoch": info["best_epoch"], "temperature": info["temperature"],
            "train_time_s": info["train_time_s"], "history": info["history"],
        })
        log.info("fold %d: test UA %.4f WA %.4f (best epoch %d, T=%.3f, %.0f s)", k, ev["ua"], ev["wa"],
                 info["best_epoch"], info["temperature"], info["train_time_s"])
        rep = report.build(results, recipe, data, net)
        rep.update(meta)
        report.write(rep, out)
    return rep


def score_degraded(net, data: Features, sets: dict[str, list[Item]], test_a, val_a, temperature: float,
                   fold: int) -> tuple[dict, dict]:
    """UA/WA/ECE of one fold's model on degraded copies of its test actors
    (the robustness columns) and of its validation actors (which, with the
    clean validation UA, may choose between recipes: the test actors never do)."""
    test, val = {}, {}
    for name, items in sets.items():
        for actors, out in ((test_a, test), (val_a, val)):
            chosen = [it for it in items if it.actor in set(actors)]
            r = evaluate(net, data, chosen, temperature)
            out[name] = {"ua": r["ua"], "wa": r["wa"], "ece": r["ece"]}
        log.info("fold %d: %s test UA %.4f WA %.4f, validation UA %.4f", fold, name, test[name]["ua"],
                 test[name]["wa"], val[name]["ua"])
    return test, val


def fold_checkpoint(cv_dir: Path, fold: int) -> Path:
    """fold-K.pt of a CV run: in the run's directory, or (for a merged run)
    in one of the runs it was merged from."""
    cv_dir = Path(cv_dir)
    candidates = [cv_dir / f"fold-{fold}.pt"]
    rep_path = cv_dir / "report.json"
    if rep_path.exists():
        for src in json.loads(rep_path.read_text()).get("merged_from", []):
            candidates.append(Path(src).parent / f"fold-{fold}.pt")
    for c in candidates:
        if c.exists():
            return c
    raise SystemExit(f"{cv_dir}: no saved model for fold {fold} (looked for {', '.join(map(str, candidates))})")


def load_fold_model(cv_dir: Path, fold: int):
    """A CV run's saved model of one fold (eval mode) and its validation temperature."""
    ck = torch.load(fold_checkpoint(cv_dir, fold))
    net = nets.build(ck["arch"], ck["n_features"], dropout=ck["dropout"])
    net.load_state_dict(ck["state"])
    net.eval()
    return net, float(ck["temperature"])


def rescore(data: Features, cv_dir: Path, eval_sets: dict[str, Features]) -> dict:
    """Score the saved fold models of a CV run (OUT/fold-K.pt) on degraded
    copies of the data, without retraining; rewrites its report."""
    from . import report

    rep = json.loads((cv_dir / "report.json").read_text())
    sets = {name: data.foreign(x) for name, x in eval_sets.items()}
    for fold in rep["folds"]:
        net, temperature = load_fold_model(cv_dir, fold["fold"])
        t, v = score_degraded(net, data, sets, fold["test_actors"], fold["val_actors"], temperature,
                              fold["fold"])
        fold.setdefault("robustness", {}).update(t)
        fold.setdefault("val_robustness", {}).update(v)
    new = report._summary(rep["folds"], rep["recipe"], rep["feature_config"], rep["features_dir"],
                          rep["n_parameters"])
    for key in ("extra_train", "merged_from"):
        if key in rep:
            new[key] = rep[key]
    new["eval_sets"] = {**rep.get("eval_sets", {}), **{n: {"dir": str(x.directory), "perturbation": x.perturbation}
                                                        for n, x in eval_sets.items()}}
    report.write(new, cv_dir)
    return new


def run_final(data: Features, recipe: Recipe, out: Path, epochs: int, temperature: float,
              version: str, description: str, extra_train: list[Features] | None = None,
              prior_correction: bool = False) -> Path:
    """Train on every item of `data` for `epochs` and export OUT/model.onnx
    (+ model.pt, train.json); with `prior_correction` the graph also takes
    the training files' class prior off its output (`priors`)."""
    from . import priors
    from .export import export_onnx

    out.mkdir(parents=True, exist_ok=True)
    copies = [data.foreign(x) for x in (extra_train or [])]
    net, info = train_model(data, data.items, [], recipe, epochs=epochs, tag="final", copies=copies)
    bias = priors.bias_of(data.items) if prior_correction else None
    path = export_onnx(net, out / "model.onnx", data.feature_config, version, description, temperature, bias)
    torch.save(net.state_dict(), out / "model.pt")
    info = {k: v for k, v in info.items() if k != "temperature"}  # no validation set here
    (out / "train.json").write_text(json.dumps({
        **info, "recipe": asdict(recipe), "epochs": epochs, "temperature": temperature, "version": version,
        "class_bias": None if bias is None else [float(v) for v in bias],
        "description": description, "actors": sorted({it.actor for it in data.items}),
        "n_segments": len(data.items), "n_parameters": nets.n_parameters(net),
        "model_bytes": path.stat().st_size, "feature_config": data.feature_config,
        "extra_train": copies_of(extra_train or []),
    }, indent=1))
    return path


def recipe_from_cv(report_path: Path) -> tuple[Recipe, int, float]:
    """The recipe of a CV run plus the final epoch count (median of the folds'
    best validation epochs) and temperature (median of the folds' validation
    temperatures)."""
    rep = json.loads(Path(report_path).read_text())
    recipe = Recipe(**rep["recipe"])
    epochs = int(round(statistics.median(f["best_epoch"] for f in rep["folds"])))
    temperature = float(statistics.median(f["temperature"] for f in rep["folds"]))
    return recipe, epochs, temperature
