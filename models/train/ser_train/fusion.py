"""ser's own nets fused with the pretrained speech embedding.

    log p_own = log softmax(log mean_i p_i / T1 + b)    (the CV runs' nets, as `ensemble --prior-correction`)
    log p_emb = log mean_j softmax(head_j(x))           (`speech_embedding.EmbeddingHead`, seeds j)
    probs     = softmax((w log p_own + (1 - w) log p_emb) / T2)

Under the model card's protocol, fold by fold (`evaluate_cv`): the own nets
are the fold models of `cv` runs made with one `--val-seed`; the head's
settings (weight decay, hidden width), the weight w and the temperatures are
all chosen on the fold's validation actors (lowest log-loss); the test
actors only score.
The own nets take the columns before the speech-embedding bands, so one
`ser-features --pitch --speech-embedding` dump feeds both (the segments are
the same as in the dumps the own nets were trained on).

`export` builds the shipped graph from an exported model of the own nets
(whose output already is p_own) and a head trained on every actor: one
ONNX graph, features [1, T, F + 32] -> probs [1, 8].
"""

from __future__ import annotations

import json
import statistics
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import LABELS, metrics, priors, report, tuning
from .data import SPEECH_EMBEDDING_MELS, Features, Item, copies_of, feature_width, without_speech_embedding
from .ensemble import (_calibrated, _labels, _pooled, _scores, common_folds, cross_fitted_calibration,
                       cross_fitted_class_bias,
                       fold_entries, fold_groups, members_mean_probs, pooled_calibration, validation_class_bias)
from .folds import fold_seed
from .speech_embedding import EmbeddingHead, SpeechEmbedding
from .train import fit_temperature, per_file

HEAD_WIDTHS = (0, 256)  # the head's hidden widths the grid can try (0: a linear head); `fuse-cv --head-widths`
# the widths `fuse-cv` lets the grid choose unless told: the shipped recipe's,
# linear heads only (a 256-unit head on the halves' values is over the 10 MB budget)
HEAD_CHOSEN_WIDTHS = (0,)
HEAD_GRID = [(wd, hidden) for wd in (1e-3, 1e-2, 1e-1, 1.0, 3.0, 10.0, 30.0, 100.0) for hidden in HEAD_WIDTHS]
HEAD_SEEDS = 5
HEAD_EPOCHS = 300
# mixup of the head's training rows (`fuse-cv --head-mixup`: each row blended
# with a random other one, its weight ~ Beta(a, a) drawn per row and step,
# the targets blended alike); 0 trains on the rows as they are, as every
# shipped model did. Alpha 0.4 won the head-alone probe on validation actors
# but tied under the protocol (model card, "Mixing the head's rows")
HEAD_MIXUP = 0.0
# where the head reads the frozen network (`SpeechEmbedding.tap_names`): the
# ends of its third and fourth blocks, each channel and frequency bin pooled
# on its own. Its keyword-spotting output (`embedding`) has discarded much
# of how a thing was said; chosen on validation actors (model card)
HEAD_TAPS = ("block3", "block4")
# how the head pools each tap over time (`speech_embedding.POOLINGS`; `fuse-cv --head-pooling`):
# the shipped recipe's, the whole utterance and each half (crnn-se-12 and before: "whole")
HEAD_POOLING = "halves"
WEIGHTS = [round(float(w), 2) for w in np.linspace(0.0, 1.0, 21)]


class Columns(nn.Module):
    """A net fed the first `n` columns of the features."""

    def __init__(self, net: nn.Module, n: int):
        super().__init__()
        self.net, self.n = net, n

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x[..., : self.n], lengths)


class HeadEnsemble(nn.Module):
    """Several MLPs on one pooled embedding: log of their mean probability."""

    def __init__(self, heads: list[EmbeddingHead]):
        super().__init__()
        self.first = heads[0]
        self.mlps = nn.ModuleList(h.mlp for h in heads)

    def from_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Log mean probability of the MLPs on pooled activations [B, n]
        (every head shares the first one's standardisation: one training set)."""
        z = (pooled - self.first.mean) / self.first.std
        p = torch.stack([torch.softmax(m(z), -1) for m in self.mlps]).mean(0)
        return torch.log(p.clamp_min(1e-12))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.from_pooled(self.first.pooled(x, lengths))


def _quiet_export(module: nn.Module, example: torch.Tensor, path: Path, output: str) -> None:
    """torch.onnx.export of features [1, T, F] -> `output`, opset 17, without
    the exporter's deprecation and constant-folding chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["features"], output_names=[output],
                          dynamic_axes={"features": {1: "T"}}, opset_version=17, dynamo=False,
                          do_constant_folding=True)


class _Pooled(nn.Module):
    def __init__(self, encoder: SpeechEmbedding, taps: tuple[str, ...], pooling: str):
        super().__init__()
        self.probe = EmbeddingHead(encoder, taps=taps, pooling=pooling)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.probe.pooled(features)


def run_per_item(module: nn.Module, data: Features, items: list[Item], output: str) -> list[np.ndarray]:
    """`module` (features [1, T, F] -> `output`) on each item, one at a time,
    through its ONNX export run by onnxruntime (about three times faster than
    torch on CPU here, and unpadded): the graph the export carries."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{output}.onnx"
        _quiet_export(module.eval(), torch.randn(1, 120, data.n_features) * 10 + 50, path, output)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return [sess.run([output], {"features": np.ascontiguousarray(data.matrix(it)[None], dtype=np.float32)})[0]
            for it in items]


def pooled_embeddings(encoder: SpeechEmbedding, data: Features, items: list[Item],
                      taps: tuple[str, ...], pooling: str = "whole") -> np.ndarray:
    """[len(items), POOLINGS[pooling] * the taps' widths]: each item's pooled
    activations (means, standard deviations; `EmbeddingHead.pooled`), through
    the graph the export carries (`run_per_item`)."""
    module = _Pooled(encoder, taps, pooling)
    out = np.zeros((len(items), module.probe.mean.numel()), np.float32)
    for i, pooled in enumerate(run_per_item(module, data, items, "pooled")):
        out[i] = pooled[0]
    return out


def frozen_sequences(encoder: SpeechEmbedding, data: Features, items: list[Item], pooling: str,
                     first: str = tuning.FIRST) -> tuning.Sequences:
    """Each item's frozen activations where the blocks from `first` on
    start (`tuning.input_tap`), through the graph the export carries
    (`run_per_item`), for tuning those blocks."""
    tap = tuning.input_tap(first)
    return tuning.Sequences(encoder, [r[0] for r in run_per_item(tuning.Frozen(encoder, tap), data, items, tap)],
                            [it.frames for it in items], pooling, first)


def frozen_values(encoder: SpeechEmbedding, data: Features, items: list[Item], taps: tuple[str, ...],
                  pooling: str, seqs: tuning.Sequences | None = None) -> np.ndarray:
    """The frozen network's pooled values of `items` (`pooled_embeddings`);
    with their frozen activations at hand (`seqs`, made for tuning), the
    frozen blocks after them run on those instead of the whole network again
    (the same values to float rounding)."""
    if seqs is None:
        return pooled_embeddings(encoder, data, items, taps, pooling)
    if tuple(taps) != tuning.TAPS or seqs.pooling != pooling or len(seqs) != len(items):
        raise ValueError(f"sequences of {len(seqs)} items pooled {seqs.pooling} cannot give the values "
                         f"of {len(items)} items at {','.join(taps)} pooled {pooling}")
    return seqs.all_pooled(tuning.TrainableBlocks(encoder, seqs.first))


def head_fitter(encoder: SpeechEmbedding, setting: tuple[float, int], taps: tuple[str, ...], mixup: float,
                pooling: str) -> Callable[[np.ndarray, np.ndarray], "HeadEnsemble"]:
    """One head with `setting` (weight decay, hidden width) fitted on pooled
    rows and their labels: what the grid compares and `tuning.tune` refits
    after each epoch."""
    return lambda x, y: train_heads(encoder, x, y, *setting, seeds=1, taps=taps, mixup=mixup, pooling=pooling)


def train_heads(encoder: SpeechEmbedding, x: np.ndarray, y: np.ndarray, weight_decay: float, hidden: int,
                seeds: int, taps: tuple[str, ...] = ("embedding",), mixup: float = 0.0,
                pooling: str = "whole") -> HeadEnsemble:
    """`seeds` heads on activations `x` pooled at `taps` with `pooling`,
    labels `y` (full batch, AdamW), with `mixup` alpha (`HEAD_MIXUP`; 0: none)."""
    heads = []
    xt, yt = torch.tensor(x), torch.tensor(y)
    target = F.one_hot(yt, len(LABELS)).float()  # mixup's blended targets start from these
    for seed in range(seeds):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        head = EmbeddingHead(encoder, hidden, taps=taps, pooling=pooling)
        head.set_standardisation(x)
        opt = torch.optim.AdamW(head.mlp.parameters(), lr=3e-3, weight_decay=weight_decay)
        head.train()
        for _ in range(HEAD_EPOCHS):
            opt.zero_grad()
            if mixup > 0:
                lam = torch.tensor(rng.beta(mixup, mixup, size=(len(xt), 1)), dtype=torch.float32)
                other = torch.randperm(len(xt))
                logits = head.classify(lam * xt + (1 - lam) * xt[other])
                loss = -(torch.log_softmax(logits, -1) * (lam * target + (1 - lam) * target[other])).sum(1).mean()
            else:
                loss = F.cross_entropy(head.classify(xt), yt)
            loss.backward()
            opt.step()
        heads.append(head.eval())
    return HeadEnsemble(heads).eval()


@torch.no_grad()
def head_log_probs(heads: HeadEnsemble, pooled: np.ndarray) -> torch.Tensor:
    return heads.from_pooled(torch.tensor(pooled))


def _file_ua(items: list[Item], log_probs: torch.Tensor) -> float:
    _, y, p = per_file(items, torch.softmax(log_probs, -1))
    return metrics.ua(metrics.confusion(y, p.argmax(1)))


def fused(own: torch.Tensor, emb: torch.Tensor, w: float) -> torch.Tensor:
    """w log p_own + (1 - w) log p_emb (log-probabilities in, fused logits out)."""
    return w * own + (1.0 - w) * emb


def evaluate_cv(data: Features, cv_dirs: list[Path], encoder: SpeechEmbedding, out: Path,
                extra_train: list[Features], eval_sets: dict[str, Features],
                taps: tuple[str, ...] = HEAD_TAPS, mixup: float = HEAD_MIXUP, pooling: str = HEAD_POOLING,
                widths: tuple[int, ...] = HEAD_CHOSEN_WIDTHS, tune_epochs: int = tuning.TUNE_EPOCHS,
                tune_lr: float = tuning.TUNE_LR, tune_l2sp: float = 0.0, tune_mixup: float = 0.0,
                tune_from: str = tuning.FIRST, tune_seed: int = 0) -> dict:
    """The fusion under the protocol, the head reading the network at
    `taps`, pooled with `pooling`, trained with `mixup` alpha, its hidden
    width one of `widths`; with `tune_epochs`, the blocks from `tune_from`
    to block 4 fine-tuned on each fold's training actors for up to that many
    epochs at learning rate `tune_lr`, with the L2-SP penalty `tune_l2sp`
    and mixup alpha `tune_mixup` (`tuning`; the head's setting chosen again
    on the tuned values), fold k's batches drawn with seed
    `folds.fold_seed(tune_seed, k)`; writes OUT/report.json + report.md in
    the format of a `cv` run (plus each fold's choices and the parts' UA)."""
    if not data.feature_config.get("speech_embedding"):
        raise SystemExit(f"{data.directory}: no speech-embedding bands (make it with ser-features --speech-embedding)")
    if tune_epochs and tuple(taps) != tuning.TAPS:
        raise SystemExit(f"tuning the network needs the head on {','.join(tuning.TAPS)}, not {','.join(taps)} "
                         "(--tune-epochs 0 keeps the network frozen)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reps = [json.loads((Path(d) / "report.json").read_text()) for d in cv_dirs]
    own_config = without_speech_embedding(data.feature_config)
    for d, r in zip(cv_dirs, reps):
        if r["feature_config"] != own_config:
            raise SystemExit(f"{d}: was trained on {r['feature_config']}, not on the columns of {data.directory} "
                             f"before the speech-embedding bands ({own_config})")
    n_own = data.n_features - SPEECH_EMBEDDING_MELS
    copies = [data.foreign(x) for x in extra_train]
    sets = {name: data.foreign(x) for name, x in eval_sets.items()}
    # the frozen network is the same for every fold: every item of every dump embedded once
    # (keyed by the Item objects, which live as long as these lists)
    everything = [it for items in [data.items, *copies, *sets.values()] for it in items]
    seqs = frozen_sequences(encoder, data, everything, pooling, tune_from) if tune_epochs else None
    # every fold starts from these; a fold's tuned values replace them in that fold only
    # (a tuned block trained on actors that are other folds' test actors)
    values = frozen_values(encoder, data, everything, taps, pooling, seqs)
    row = {id(it): i for i, it in enumerate(everything)}
    grid = [(wd, hidden) for wd, hidden in HEAD_GRID if hidden in widths]
    if not grid:
        raise SystemExit(f"no head width of {list(widths)} is in the grid ({list(HEAD_WIDTHS)})")

    def rows_of(items: list[Item]) -> np.ndarray:
        return np.array([row[id(it)] for it in items])

    fold_ids = common_folds(reps)
    results = []
    held_out = {}  # fold -> (test items, fused probabilities, temperature, no bias): pooled calibration
    val_held = {}  # fold -> {validation group: (items, fused probabilities, temperature)}: the bias's choosing score
    for k in fold_ids:
        folds_k = fold_entries(cv_dirs, reps, k)
        train_a, val_a, test_a = folds_k[0]["train_actors"], folds_k[0]["val_actors"], folds_k[0]["test_actors"]
        groups = fold_groups(data, sets, val_a, test_a)
        # ser's own nets: the members' mean, its temperature and the class-prior correction
        own_p = members_mean_probs(cv_dirs, k, data, groups, lambda net: Columns(net, n_own).eval())
        train_items = data.select(train_a)
        bias = torch.tensor(priors.bias_of(train_items), dtype=torch.float32)
        t_own = fit_temperature(torch.log(own_p["val"].clamp_min(1e-12)), _labels(groups["val"]), bias)
        own = {g: torch.log(_calibrated(p, t_own, bias).clamp_min(1e-12)) for g, p in own_p.items()}
        # the head: trained on the training actors' clean and augmented segments
        tr_items = train_items + [it for c in copies for it in c if it.actor in set(train_a)]
        rows_tr, rows_val = rows_of(tr_items), rows_of(groups["val"])
        y_tr = np.array([it.label for it in tr_items])

        def choose(fold_values: np.ndarray) -> tuple[tuple[float, int], list]:
            """The setting of the lowest validation log-loss, and every setting's."""
            losses = [[*s, float(F.nll_loss(
                head_log_probs(head_fitter(encoder, s, taps, mixup, pooling)(fold_values[rows_tr], y_tr),
                               fold_values[rows_val]), _labels(groups["val"])))] for s in grid]
            wd, hidden, _ = min(losses, key=lambda entry: entry[2])
            return (wd, hidden), losses

        fold_values = values
        setting, grid_losses = choose(fold_values)
        fold_encoder, tuned = encoder, None
        if tune_epochs:
            block, epoch, losses, drifts = tuning.tune(
                encoder, seqs, rows_tr, y_tr, head_fitter(encoder, setting, taps, mixup, pooling), tune_epochs,
                seed=fold_seed(tune_seed, k), val_rows=rows_val, y_val=_labels(groups["val"]).numpy(),
                lr=tune_lr, l2sp=tune_l2sp, mixup=tune_mixup)
            fold_encoder = tuning.tuned_encoder(encoder, block)
            fold_values = seqs.all_pooled(block)
            tuned = {"epochs": epoch, "val_log_loss": losses, "drift": drifts, "setting_frozen": list(setting),
                     "grid_frozen": grid_losses}
            setting, grid_losses = choose(fold_values)
        heads = train_heads(fold_encoder, fold_values[rows_tr], y_tr, *setting, seeds=HEAD_SEEDS, taps=taps,
                            mixup=mixup, pooling=pooling)
        emb = {g: head_log_probs(heads, fold_values[rows_of(items)]) for g, items in groups.items()}
        # the weight and the temperature of the fused logits: the pair with the
        # lowest validation log-loss (smoother than validation UA over 4 actors,
        # which picked erratic weights)
        y_val = _labels(groups["val"])
        w, t = min(((w, fit_temperature(fused(own["val"], emb["val"], w), y_val)) for w in WEIGHTS),
                   key=lambda wt: float(F.cross_entropy(fused(own["val"], emb["val"], wt[0]) / wt[1], y_val)))
        z = {g: fused(own[g], emb[g], w) for g in groups}
        probs = {g: torch.softmax(v, -1) for g, v in z.items()}  # _scores applies t
        held_out[k] = (groups["test"], probs["test"], t, None)
        val_held[k] = {g: (items, probs[g], t) for g, items in groups.items() if g == "val" or g.endswith("/val")}
        test, val = _scores(groups["test"], probs["test"], t), _scores(groups["val"], probs["val"], t)
        robustness, val_robustness = ({n: {key: s[key] for key in ("ua", "wa", "ece")}
                                       for n in sets
                                       for s in [_scores(groups[f"{n}/{part}"], probs[f"{n}/{part}"], t)]}
                                      for part in ("test", "val"))
        part_ua = {"own": _file_ua(groups["test"], own["test"]), "embedding": _file_ua(groups["test"], emb["test"])}
        results.append({
            "fold": k, "train_actors": train_a, "val_actors": val_a, "test_actors": test_a,
            "ua": test["ua"], "wa": test["wa"], "ece": test["ece"], "ece_uncalibrated": test["ece_uncalibrated"],
            "val_ua": val["ua"], "robustness": robustness, "val_robustness": val_robustness,
            "confusion": test["confusion"].tolist(), "n_test_files": int(test["confusion"].sum()),
            "best_epoch": int(round(statistics.median(f["best_epoch"] for f in folds_k))),
            "member_ua": [f["ua"] for f in folds_k],
            "temperature": t, "own_temperature": t_own, "class_bias": [float(v) for v in bias],
            "fusion_weight": w,
            "head": {"weight_decay": setting[0], "hidden": setting[1], "taps": list(taps), "mixup": mixup,
                     "pooling": pooling, "grid": grid_losses},
            **({"tune": tuned} if tuned else {}),
            "part_ua": part_ua,
            "train_time_s": sum(f["train_time_s"] for f in folds_k),
        })
        tune_said = f", {tuning.tuned_said(tune_from)} tuned {tuned['epochs']} epochs" if tuned else ""
        print(f"fold {k}: head {setting}{tune_said}, w {w}, T {t:.2f}: own {part_ua['own']:.3f}, "
              f"embedding {part_ua['embedding']:.3f}, fused {test['ua']:.3f}", flush=True)
    cross_fitted_calibration(results, held_out)
    n_params = sum(r["n_parameters"] for r in reps) + sum(p.numel() for p in encoder.buffers())
    rep = report._summary(results, reps[0]["recipe"], data.feature_config, str(data.directory), n_params)
    if len(held_out) > 1:
        rep["ece_crossfit_mean"] = statistics.mean(f["ece_crossfit"] for f in results)
        items, probs, _ = _pooled(held_out, fold_ids)
        rep["temperature_held_out"] = fit_temperature(torch.log(probs.clamp_min(1e-12)), _labels(items))
        rep["calibration_pooled"] = pooled_calibration(results, held_out)
        rep["class_bias_crossfit"] = cross_fitted_class_bias(results, held_out)
        rep["class_bias_crossfit"]["validation"] = validation_class_bias(results, val_held)
    rep["fusion"] = {"members": [str(d) for d in cv_dirs], "seeds": [r["recipe"]["seed"] for r in reps],
                     "member_ua_mean": [r["ua_mean"] for r in reps], "head_seeds": HEAD_SEEDS,
                     "head_taps": list(taps), "head_mixup": mixup, "head_pooling": pooling,
                     "head_widths": sorted({hidden for _, hidden in grid}),
                     "head_extra_train": copies_of(extra_train), "tune_epochs": tune_epochs,
                     "tune_lr": tune_lr if tune_epochs else None,
                     "tune_l2sp": tune_l2sp if tune_epochs else None,
                     "tune_mixup": tune_mixup if tune_epochs else None,
                     "tune_from": tune_from if tune_epochs else None,
                     "tune_seed": tune_seed if tune_epochs else None,
                     "own_ua_mean": statistics.mean(f["part_ua"]["own"] for f in results),
                     "embedding_ua_mean": statistics.mean(f["part_ua"]["embedding"] for f in results)}
    if "extra_train" in reps[0]:
        rep["extra_train"] = reps[0]["extra_train"]
    rep["eval_sets"] = {n: {"dir": str(x.directory), "perturbation": x.perturbation} for n, x in eval_sets.items()}
    report.write(rep, out)
    return rep


def check_head_copies(from_cv: Path, extra_train: list[Features]) -> None:
    """Refuse a `fuse-final` whose augmented copies are not the ones the
    CV's heads trained on (the same perturbations and seeds, in order): they
    are part of the recipe. A report from before it recorded them
    (`fusion.head_extra_train`) is not checked."""
    want = json.loads(Path(from_cv).read_text()).get("fusion", {}).get("head_extra_train")
    if want is None:
        return
    have = copies_of(extra_train)
    if [(c["perturbation"], c["seed"]) for c in want] != [(c["perturbation"], c["seed"]) for c in have]:
        def said(cs: list[dict]) -> str:
            return ", ".join(f"{c['perturbation']} seed {c['seed']}" for c in cs) or "none"
        raise SystemExit(f"{from_cv}: its heads trained on the augmented copies {said(want)}; this run's "
                         f"--extra-train dumps are {said(have)}: the recipe includes them")


class FusionRecipe(NamedTuple):
    """What `fuse-final` takes from a `fuse-cv` report (`recipe_from_cv`)."""

    setting: tuple[float, int]  # the head's weight decay and hidden width
    weight: float  # of the own nets' log-probabilities
    temperature: float
    taps: tuple[str, ...]
    mixup: float
    pooling: str
    tune_epochs: int  # the blocks from tune_from on fine-tuned for this many epochs (0: frozen)
    tune_lr: float  # at this learning rate
    tune_l2sp: float  # with this L2-SP penalty (0: none)
    tune_mixup: float  # and this mixup alpha (0: none)
    tune_from: str  # the first block that learnt


def recipe_from_cv(report_path: Path) -> FusionRecipe:
    """The head setting chosen most often over the folds (ties: the first
    fold's), the median fusion weight, the temperature fitted on every
    fold's held-out predictions (`temperature_held_out`; the folds' median
    for a report without it). The validation actors also chose the fusion
    weight and look easier than new speakers, so their temperatures run
    low and the confidence high; the held-out one is fitted where a model
    trained on every actor will be used, on speakers it never heard, and
    cross-fitting it (`ece_crossfit`) gives the lower ECE; the taps the
    head read (`embedding` for a report from before they were chosen), its
    mixup alpha (0 for a report from before it had one) and its pooling
    ("whole" for a report from before there was another); the median over
    the folds of the epochs the network was tuned for (0: frozen, as in a
    report from before the tuning), its learning rate (`tuning.TUNE_LR`
    for a report from before it was recorded: every such run used it), its
    L2-SP penalty and mixup alpha (0 for a report from before they were
    options) and the first block that learnt (block 4 for a report from
    before there was a choice)."""
    rep = json.loads(Path(report_path).read_text())
    folds = rep["folds"]
    settings = Counter((f["head"]["weight_decay"], f["head"]["hidden"]) for f in folds)
    top = max(settings.values())
    setting = next((f["head"]["weight_decay"], f["head"]["hidden"]) for f in folds
                   if settings[(f["head"]["weight_decay"], f["head"]["hidden"])] == top)
    temperature = rep.get("temperature_held_out", statistics.median(f["temperature"] for f in folds))
    taps = tuple(rep.get("fusion", {}).get("head_taps", ["embedding"]))
    tune_epochs = int(round(statistics.median(f.get("tune", {}).get("epochs", 0) for f in folds)))
    return FusionRecipe(setting, round(statistics.median(f["fusion_weight"] for f in folds), 4), temperature, taps,
                        float(rep.get("fusion", {}).get("head_mixup", 0.0)),
                        rep.get("fusion", {}).get("head_pooling", "whole"), tune_epochs,
                        float(rep.get("fusion", {}).get("tune_lr") or tuning.TUNE_LR),
                        float(rep.get("fusion", {}).get("tune_l2sp") or 0.0),
                        float(rep.get("fusion", {}).get("tune_mixup") or 0.0),
                        rep.get("fusion", {}).get("tune_from") or "block4")


def export(own_model: Path, heads: HeadEnsemble, weight: float, temperature: float, feature_config: dict,
           version: str, description: str, out: Path) -> Path:
    """One graph: the exported own model on the first columns, the head on
    the speech-embedding bands, fused and tempered; ser.* metadata as
    `export.export_onnx`. Checked with onnxruntime against its parts."""
    import onnx
    from onnx import compose, helper, numpy_helper

    own = onnx.load(str(own_model))
    own_meta = {p.key: p.value for p in own.metadata_props}
    want = without_speech_embedding(feature_config)
    if json.loads(own_meta.get("ser.features", "{}")) != want:
        raise SystemExit(f"{own_model}: takes features {own_meta.get('ser.features')}, not {json.dumps(want)}")
    n_own, n_all = feature_width(want), feature_width(feature_config)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    head_path = out.with_suffix(".head.onnx")
    _quiet_export(heads.eval(), torch.randn(1, 120, n_all) * 10 - 20, head_path, "log_probs")
    head = onnx.load(str(head_path))
    head_path.unlink()
    opset = max(o.version for o in own.opset_import if o.domain in ("", "ai.onnx"))
    if opset != 17:
        raise SystemExit(f"{own_model}: opset {opset}; the head is exported with 17")
    own = compose.add_prefix(own, "own/")
    head = compose.add_prefix(head, "emb/")
    consts = [numpy_helper.from_array(np.array(v, dtype=dt), name) for name, v, dt in (
        ("fusion/starts", [0], np.int64), ("fusion/ends", [n_own], np.int64), ("fusion/axes", [2], np.int64),
        ("fusion/w_own", weight, np.float32), ("fusion/w_emb", 1.0 - weight, np.float32),
        ("fusion/inv_temperature", 1.0 / temperature, np.float32))]
    nodes = [
        helper.make_node("Slice", ["features", "fusion/starts", "fusion/ends", "fusion/axes"], ["own/features"],
                         name="fusion/own_columns"),
        helper.make_node("Identity", ["features"], ["emb/features"], name="fusion/emb_columns"),
        *own.graph.node, *head.graph.node,
        helper.make_node("Log", ["own/probs"], ["fusion/own_log_probs"], name="fusion/log"),
        helper.make_node("Mul", ["fusion/own_log_probs", "fusion/w_own"], ["fusion/own_part"], name="fusion/mul_own"),
        helper.make_node("Mul", ["emb/log_probs", "fusion/w_emb"], ["fusion/emb_part"], name="fusion/mul_emb"),
        helper.make_node("Add", ["fusion/own_part", "fusion/emb_part"], ["fusion/logits"], name="fusion/add"),
        helper.make_node("Mul", ["fusion/logits", "fusion/inv_temperature"], ["fusion/tempered"],
                         name="fusion/temperature"),
        helper.make_node("Softmax", ["fusion/tempered"], ["probs"], axis=-1, name="fusion/softmax"),
    ]
    graph = helper.make_graph(
        nodes, "ser-fused",
        [helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, [1, "T", n_all])],
        [helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, [1, len(LABELS)])],
        [*own.graph.initializer, *head.graph.initializer, *consts],
        value_info=[*own.graph.value_info, *head.graph.value_info])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ser_train")
    model.ir_version = own.ir_version
    for k, v in {"ser.labels": json.dumps(LABELS, separators=(",", ":")),
                 "ser.features": json.dumps(feature_config, separators=(",", ":")),
                 "ser.version": version, "ser.description": description}.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(out))
    _check_fused(out, own_model, heads, weight, temperature, n_own, n_all)
    return out


def _check_fused(path: Path, own_model: Path, heads: HeadEnsemble, weight: float, temperature: float,
                 n_own: int, n_all: int) -> None:
    """onnxruntime on the fused graph = the formula on its parts (own graph
    in onnxruntime, head in torch), on two lengths."""
    import onnxruntime as ort

    fused_s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    own_s = ort.InferenceSession(str(own_model), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for t in (23, 311):
        x = torch.randn(1, t, n_all, generator=gen) * 8 - 40
        x[..., n_own:] += 100  # the bands are dB of int16-scaled power: about 90 dB above the log-mel
        own_lp = np.log(np.clip(own_s.run(["probs"], {"features": x[..., :n_own].numpy()})[0], 1e-12, None))
        with torch.no_grad():
            emb_lp = heads(x).numpy()
        want = torch.softmax(torch.tensor(weight * own_lp + (1 - weight) * emb_lp) / temperature, -1).numpy()
        got = fused_s.run(["probs"], {"features": x.numpy()})[0]
        if got.shape != (1, len(LABELS)) or float(np.abs(got - want).max()) > 1e-4:
            raise RuntimeError(f"{path}: the fused graph disagrees with its parts for T={t}")


def load_heads(run: Path, encoder: SpeechEmbedding) -> HeadEnsemble:
    """The heads `final` saved in RUN (heads.pt), on `encoder`."""
    info = json.loads((Path(run) / "train.json").read_text())["head"]
    taps = tuple(info.get("taps", ["embedding"]))
    heads = HeadEnsemble([EmbeddingHead(encoder, info["hidden"], taps=taps, pooling=info.get("pooling", "whole"))
                          for _ in range(info["seeds"])])
    heads.load_state_dict(torch.load(Path(run) / "heads.pt"))
    return heads.eval()


def final(data: Features, extra_train: list[Features], encoder: SpeechEmbedding, own_model: Path,
          from_cv: Path, version: str, description: str, out: Path) -> Path:
    """The head trained on every actor (clean and augmented segments) with
    the CV's setting, fused with `own_model` at the CV's median weight and
    temperature: OUT/model.onnx + OUT/train.json."""
    import hashlib

    recipe = recipe_from_cv(from_cv)
    setting, weight, temperature, taps, mixup, pooling = recipe[:6]
    check_head_copies(from_cv, extra_train)
    copies = [data.foreign(x) for x in extra_train]
    items = data.items + [it for c in copies for it in c]
    labels = np.array([it.label for it in items])
    if recipe.tune_epochs:
        # the network tuned on every actor for the folds' median number of epochs
        seqs = frozen_sequences(encoder, data, items, pooling, recipe.tune_from)
        block, _, _, _ = tuning.tune(encoder, seqs, np.arange(len(items)), labels,
                                     head_fitter(encoder, setting, taps, mixup, pooling), recipe.tune_epochs,
                                     seed=0, lr=recipe.tune_lr, l2sp=recipe.tune_l2sp, mixup=recipe.tune_mixup)
        encoder = tuning.tuned_encoder(encoder, block)
        x = seqs.all_pooled(block)
    else:
        x = pooled_embeddings(encoder, data, items, taps, pooling)
    heads = train_heads(encoder, x, labels, *setting, seeds=HEAD_SEEDS, taps=taps, mixup=mixup, pooling=pooling)
    out = Path(out)
    path = export(own_model, heads, weight, temperature, data.feature_config, version, description,
                  out / "model.onnx")
    torch.save(heads.state_dict(), out / "heads.pt")
    bands = np.concatenate([data.matrix(it)[:, -SPEECH_EMBEDDING_MELS:] for it in data.items])
    (out / "train.json").write_text(json.dumps({
        "version": version, "description": description, "from_cv": str(from_cv),
        "head": {"weight_decay": setting[0], "hidden": setting[1], "seeds": HEAD_SEEDS, "epochs": HEAD_EPOCHS,
                 "taps": list(taps), "mixup": mixup, "pooling": pooling, "tune_epochs": recipe.tune_epochs,
                 **{key: getattr(recipe, key) if recipe.tune_epochs else None
                    for key in ("tune_lr", "tune_l2sp", "tune_mixup", "tune_from")}},
        "fusion_weight": weight, "temperature": temperature,
        "own_model": {"path": str(own_model), "sha256": hashlib.sha256(Path(own_model).read_bytes()).hexdigest()},
        "actors": sorted({it.actor for it in data.items}), "n_segments": len(items),
        "feature_config": data.feature_config, "model_bytes": path.stat().st_size,
        "band_mean": [float(v) for v in bands.mean(0)], "band_std": [float(v) for v in bands.std(0)],
        "extra_train": copies_of(extra_train),
    }, indent=1))
    return path
