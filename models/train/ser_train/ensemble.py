"""Ensembles: several nets of one recipe (different seeds) whose class
probabilities are averaged, with one temperature on top.

    p = mean_i softmax(logits_i)          (each member at temperature 1)
    probs = softmax(log(p) / T)           (T fitted on the validation actors)

`evaluate_cv` scores an ensemble under the same protocol as a single net: the
members are the fold models of several `cv` runs made with the same
`--val-seed` (so every member of a fold has the same validation and test
actors); nothing is chosen on a test fold. `EnsembleNet` is the exported form
(`export-ensemble`): one ONNX graph with the same contract as a single net.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import LABELS, metrics, nets, priors, report
from .data import Features, Item, feature_width
from .train import Recipe, fit_temperature, load_fold_model, per_file, predict_logits


class EnsembleNet(nn.Module):
    """Members' mean probability, returned as log-probabilities ("logits" for
    the temperature-scaled softmax of `export.InferenceWrapper`)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    @property
    def norm(self):
        # every member is standardised with the statistics of the same
        # training frames; export's check feeds inputs scaled by the first one's
        return self.members[0].norm

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        p = torch.stack([torch.softmax(m(x, lengths), dim=-1) for m in self.members]).mean(0)
        return torch.log(p.clamp_min(1e-12))


def _labels(items: list[Item]) -> torch.Tensor:
    return torch.tensor([it.label for it in items])


def _calibrated(seg_probs: torch.Tensor, temperature: float, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(log p / T + b): the temperature and the class-prior correction
    (`priors`; none when `bias` is None) on the members' mean probability."""
    z = torch.log(seg_probs.clamp_min(1e-12)) / temperature
    return torch.softmax(z if bias is None else z + bias, dim=-1)


def _scores(items: list[Item], seg_probs: torch.Tensor, temperature: float, bias: torch.Tensor | None = None) -> dict:
    """Per-file UA/WA/ECE/confusion of segment probabilities, calibrated
    (ece_uncalibrated: without the temperature, with the bias if any)."""
    cal = _calibrated(seg_probs, temperature, bias)
    _, y, p = per_file(items, cal)
    _, _, p_raw = per_file(items, _calibrated(seg_probs, 1.0, bias))
    return {**metrics.scores(y, p), "ece_uncalibrated": metrics.ece(p_raw, y)}


def _condition_scores(items: list[Item], seg_probs: torch.Tensor, temperature: float,
                      bias: torch.Tensor | None = None) -> dict:
    """UA/WA/ECE of one degraded condition (the robustness columns)."""
    s = _scores(items, seg_probs, temperature, bias)
    return {key: s[key] for key in ("ua", "wa", "ece")}


def common_folds(reps: list[dict]) -> list[int]:
    """The folds every CV report has done."""
    fold_ids = sorted(set.intersection(*(set(r["folds_done"]) for r in reps)))
    if not fold_ids:
        raise SystemExit("the runs have no fold in common")
    return fold_ids


def fold_entries(cv_dirs: list[Path], reps: list[dict], k: int) -> list[dict]:
    """Each report's entry for fold k; the members must share its validation
    and test actors (the same --val-seed)."""
    folds_k = [next(f for f in r["folds"] if f["fold"] == k) for r in reps]
    for d, f in zip(cv_dirs, folds_k):
        if (f["val_actors"], f["test_actors"]) != (folds_k[0]["val_actors"], folds_k[0]["test_actors"]):
            raise SystemExit(f"fold {k}: {d} has validation actors {f['val_actors']}, {cv_dirs[0]} has "
                             f"{folds_k[0]['val_actors']}; run the members with the same --val-seed")
    return folds_k


def fold_groups(data: Features, sets: dict[str, list[Item]], val_a: list[int],
                test_a: list[int]) -> dict[str, list[Item]]:
    """The items a fold scores: "test" and "val" of the clean data, and
    "NAME/test", "NAME/val" of each degraded set."""
    groups = {"test": data.select(test_a), "val": data.select(val_a)}
    for name, items in sets.items():
        groups[f"{name}/test"] = [it for it in items if it.actor in set(test_a)]
        groups[f"{name}/val"] = [it for it in items if it.actor in set(val_a)]
    return groups


def members_mean_probs(cv_dirs: list[Path], k: int, data: Features, groups: dict[str, list[Item]],
                       wrap=lambda net: net) -> dict[str, torch.Tensor]:
    """The mean softmax probability of the runs' fold-k models on every
    group's segments (`wrap` adapts a loaded net, e.g. to a column subset)."""
    probs = {g: torch.zeros(len(items), len(LABELS)) for g, items in groups.items()}
    for d in cv_dirs:
        net = wrap(load_fold_model(Path(d), k)[0])
        for g, items in groups.items():
            if items:
                probs[g] += torch.softmax(predict_logits(net, data, items), dim=-1) / len(cv_dirs)
    return probs


def evaluate_cv(data: Features, cv_dirs: list[Path], out: Path, eval_sets: dict[str, Features],
                prior_correction: bool = False) -> dict:
    """The ensemble of the fold models of `cv_dirs`, fold by fold, with the
    temperature fitted on the folds' (shared) validation actors; writes
    OUT/report.json + report.md in the format of a `cv` run. With
    `prior_correction`, each fold's output also removes the class prior of
    its training files (`priors`; the temperature is fitted with it)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reps = [json.loads((Path(d) / "report.json").read_text()) for d in cv_dirs]
    first = reps[0]
    for d, r in zip(cv_dirs, reps):
        if r["feature_config"] != first["feature_config"]:
            raise SystemExit(f"{d}: its features differ from {cv_dirs[0]}'s; cannot ensemble them")
        if r["feature_config"] != data.feature_config:
            raise SystemExit(f"{d}: was trained on other features than {data.directory}")
    fold_ids = common_folds(reps)
    sets = {name: data.foreign(x) for name, x in eval_sets.items()}
    results = []
    held_out = {}  # fold -> (test items, their ensemble probabilities): for cross-fitted calibration
    for k in fold_ids:
        folds_k = fold_entries(cv_dirs, reps, k)
        val_a, test_a = folds_k[0]["val_actors"], folds_k[0]["test_actors"]
        groups = fold_groups(data, sets, val_a, test_a)
        probs = members_mean_probs(cv_dirs, k, data, groups)
        bias = None
        if prior_correction:
            train_items = data.select(folds_k[0]["train_actors"])
            bias = torch.tensor(priors.bias_of(train_items), dtype=torch.float32)
        temperature = fit_temperature(torch.log(probs["val"].clamp_min(1e-12)), _labels(groups["val"]), bias)
        held_out[k] = (groups["test"], probs["test"], temperature, bias)
        test = _scores(groups["test"], probs["test"], temperature, bias)
        val = _scores(groups["val"], probs["val"], temperature, bias)
        robustness, val_robustness = ({n: _condition_scores(groups[f"{n}/{part}"], probs[f"{n}/{part}"],
                                                            temperature, bias)
                                       for n in sets} for part in ("test", "val"))
        results.append({
            "fold": k, "train_actors": folds_k[0]["train_actors"], "val_actors": val_a, "test_actors": test_a,
            "ua": test["ua"], "wa": test["wa"], "ece": test["ece"], "ece_uncalibrated": test["ece_uncalibrated"],
            "val_ua": val["ua"], "robustness": robustness, "val_robustness": val_robustness,
            "confusion": test["confusion"].tolist(), "n_test_files": int(test["confusion"].sum()),
            "best_epoch": int(round(statistics.median(f["best_epoch"] for f in folds_k))),
            "member_best_epochs": [f["best_epoch"] for f in folds_k],
            "member_ua": [f["ua"] for f in folds_k],
            "temperature": temperature,
            "class_bias": None if bias is None else [float(v) for v in bias],
            "train_time_s": sum(f["train_time_s"] for f in folds_k),
        })
    cross_fitted_calibration(results, held_out)
    rep = report._summary(results, first["recipe"], first["feature_config"], first["features_dir"],
                          sum(r["n_parameters"] for r in reps))
    if len(held_out) > 1:
        rep["ece_crossfit_mean"] = statistics.mean(f["ece_crossfit"] for f in results)
        items, probs, bias = _pooled(held_out, fold_ids)
        rep["temperature_held_out"] = fit_temperature(torch.log(probs.clamp_min(1e-12)), _labels(items), bias)
        rep["calibration_pooled"] = pooled_calibration(results, held_out)
    rep["ensemble"] = {"members": [str(d) for d in cv_dirs], "seeds": [r["recipe"]["seed"] for r in reps],
                       "recipes": [r["recipe"] for r in reps],
                       "copies": [[f"{x['perturbation']}:{x['seed']}" for x in r.get("extra_train", [])]
                                  for r in reps],
                       "member_ua_mean": [r["ua_mean"] for r in reps],
                       "prior_correction": prior_correction}
    for key in ("extra_train",):
        if key in first:
            rep[key] = first[key]
    rep["eval_sets"] = {n: {"dir": str(x.directory), "perturbation": x.perturbation} for n, x in eval_sets.items()}
    report.write(rep, out)
    return rep


def _pooled(held_out: dict, folds: list[int]) -> tuple[list[Item], torch.Tensor, torch.Tensor | None]:
    """The held-out items and probabilities of `folds`, one after another,
    with each row's class bias (its own fold's; None without the correction)."""
    items = [it for k in folds for it in held_out[k][0]]
    probs = torch.cat([held_out[k][1] for k in folds])
    if held_out[folds[0]][3] is None:
        return items, probs, None
    bias = torch.cat([held_out[k][3].expand(len(held_out[k][1]), -1) for k in folds])
    return items, probs, bias


def cross_fitted_calibration(results: list[dict], held_out: dict) -> None:
    """Temperature scaling without the validation actors' selection bias:
    fold k's temperature is fitted on the held-out (test) predictions of the
    *other* folds' models, so fold k's own test actors never touch it; adds
    `temperature_crossfit` and `ece_crossfit` to each fold. (The validation
    actors chose each member's epoch, so they look easier than new speakers
    and a temperature fitted on them stays near or below 1.)"""
    if len(held_out) < 2:
        return
    for f in results:
        items, probs, bias = _pooled(held_out, [k for k in held_out if k != f["fold"]])
        t = fit_temperature(torch.log(probs.clamp_min(1e-12)), _labels(items), bias)
        f["temperature_crossfit"] = t
        items_k, probs_k, _, bias_k = held_out[f["fold"]]
        f["ece_crossfit"] = _scores(items_k, probs_k, t, bias_k)["ece"]


def fit_class_bias(z: torch.Tensor, y: torch.Tensor, l2: float = 1e-2) -> torch.Tensor:
    """The class bias b (centred) minimising the class-balanced cross-entropy
    of softmax(z + b), plus `l2`·|b|²: every class weighs the same whatever
    its number of items, as in UA. (A class absent from `y` is only pushed
    down, held back by the l2 term.)"""
    n = z.shape[1]
    counts = torch.bincount(y, minlength=n).float()
    weight = torch.where(counts > 0, counts.sum() / (counts.clamp_min(1) * int((counts > 0).sum())), 0.0)
    b = torch.zeros(n, requires_grad=True)
    opt = torch.optim.LBFGS([b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z + b, y, weight=weight) + l2 * (b ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    b = b.detach()
    return b - b.mean()


def _held_out_logits(held_out: dict, folds: list[int]) -> tuple[list[Item], torch.Tensor]:
    """The held-out items of `folds` and their logits log p / T + b, each
    fold's own temperature T and class bias b (if any)."""
    items, zs = [], []
    for k in folds:
        its, probs, t, bias = held_out[k]
        z = torch.log(probs.clamp_min(1e-12)) / t
        items += its
        zs.append(z if bias is None else z + bias)
    return items, torch.cat(zs)


def cross_fitted_class_bias(results: list[dict], held_out: dict) -> dict:
    """A class bias fitted, for fold k, on the held-out predictions of the
    *other* folds' models (`fit_class_bias`; the same cross-fitting as
    `cross_fitted_calibration`: fold k's test actors never touch it), then
    added to fold k's logits. Adds `ua_class_bias`, `wa_class_bias` and
    `class_bias_crossfit` to each fold; returns the mean UA and WA, the
    pooled confusion and recalls, and the bias fitted on every fold's
    held-out predictions (what a final model would carry). A report-only
    analysis: the folds' own figures are unchanged."""
    if len(held_out) < 2:
        return {}
    cms = []
    for f in results:
        items, z = _held_out_logits(held_out, [k for k in held_out if k != f["fold"]])
        b = fit_class_bias(z, _labels(items))
        items_k, z_k = _held_out_logits(held_out, [f["fold"]])
        _, y, p = per_file(items_k, torch.softmax(z_k + b, -1))
        s = metrics.scores(y, p)
        f["ua_class_bias"], f["wa_class_bias"] = s["ua"], s["wa"]
        f["class_bias_crossfit"] = [float(v) for v in b]
        cms.append(s["confusion"])
    cm = sum(cms)
    items, z = _held_out_logits(held_out, list(held_out))
    return {"ua_mean": statistics.mean(f["ua_class_bias"] for f in results),
            "wa_mean": statistics.mean(f["wa_class_bias"] for f in results),
            "confusion_pooled": cm.tolist(), "recall_pooled": metrics.per_class_recall(cm),
            "bias_all_folds": [float(v) for v in fit_class_bias(z, _labels(items))]}


def validation_class_bias(results: list[dict], val_held: dict) -> dict:
    """Would the class bias raise the choosing score? The validation-actor
    figure for `cross_fitted_class_bias` (report only). `val_held`: fold ->
    {group: (items, probabilities, temperature)} of its validation actors,
    clean ("val") and degraded ("COND/val"). For fold k the bias is fitted
    (`fit_class_bias`) on the other folds' validation predictions, clean and
    degraded, of the actors that are neither fold k's validation nor its
    test actors (each predicted by a model that never trained on it), and
    added to fold k's validation logits. Adds `val_ua_robust_class_bias` to
    each fold; returns the choosing score (validation UA averaged over clean
    and every degraded condition, mean over folds) with the bias and
    without it (the report's `val_ua_robust_mean`). No test actor plays any
    part."""
    if len(val_held) < 2:
        return {}

    def score(groups: dict, bias: torch.Tensor | None) -> float:
        return statistics.mean(_scores(items, probs, t, bias)["ua"] for items, probs, t in groups.values())

    with_bias, without = [], []
    for f in results:
        away = set(f["val_actors"]) | set(f["test_actors"])
        zs, ys = [], []
        for j, groups in val_held.items():
            if j == f["fold"]:
                continue
            for items, probs, t in groups.values():
                keep = [i for i, it in enumerate(items) if it.actor not in away]
                if not keep:
                    continue
                zs.append(torch.log(probs[keep].clamp_min(1e-12)) / t)
                ys.append(_labels([items[i] for i in keep]))
        if not zs:  # every other fold validated only this fold's actors: nothing to fit on
            return {}
        b = fit_class_bias(torch.cat(zs), torch.cat(ys))
        f["val_ua_robust_class_bias"] = score(val_held[f["fold"]], b)
        with_bias.append(f["val_ua_robust_class_bias"])
        without.append(score(val_held[f["fold"]], None))
    return {"val_ua_robust_mean": statistics.mean(with_bias), "without": statistics.mean(without)}


def pooled_calibration(results: list[dict], held_out: dict) -> dict:
    """Calibration over every held-out file of every fold at once (1440 for
    RAVDESS; per-fold ECE rests on about 240 files in 15 bins and also counts
    the spread of accuracy between folds): mean top-class confidence against
    accuracy, and ECE, with each fold's validation temperature, its
    cross-fitted one, and none."""
    out = {}
    for name, key in (("validation", "temperature"), ("crossfit", "temperature_crossfit"), ("none", None)):
        ps, ys = [], []
        for f in results:
            items, probs, _, bias = held_out[f["fold"]]
            t = f[key] if key else 1.0
            _, y, p = per_file(items, _calibrated(probs, t, bias))
            ps.append(p)
            ys.append(y)
        p, y = np.concatenate(ps), np.concatenate(ys)
        out[name] = {"ece": metrics.ece(p, y), "mean_confidence": float(p.max(1).mean()),
                     "accuracy": float((p.argmax(1) == y).mean())}
    return out


def load_final(run: Path) -> nn.Module:
    """The net of a `final` run directory (model.pt + train.json)."""
    run = Path(run)
    info = json.loads((run / "train.json").read_text())
    net = nets.build(info["recipe"]["arch"], feature_width(info["feature_config"]), dropout=info["recipe"]["dropout"])
    net.load_state_dict(torch.load(run / "model.pt"))
    net.eval()
    return net


def _training_recipe(recipe: dict) -> dict:
    """What a final run's training depends on, other than its seed (the
    validation-actor seed plays no part without validation actors; runs from
    before that field existed lack it)."""
    return {**asdict(Recipe()), **recipe, "seed": 0, "val_seed": None}


def final_runs_agree(runs: list[Path]) -> dict:
    """The common train.json facts of the members' `final` runs (refuses
    members trained on other features, actors or epochs)."""
    infos = [json.loads((Path(r) / "train.json").read_text()) for r in runs]
    first = infos[0]
    for r, i in zip(runs, infos):
        for key in ("feature_config", "actors", "epochs"):
            if i[key] != first[key]:
                raise SystemExit(f"{r}: {key} {i[key]} differs from {runs[0]}'s {first[key]}")
        if _training_recipe(i["recipe"]) != _training_recipe(first["recipe"]):
            raise SystemExit(f"{r}: recipe differs from {runs[0]}'s (other than the seed)")
    seeds = [i["recipe"]["seed"] for i in infos]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"members share a seed ({seeds}): they would be the same net")
    return {**first, "seeds": seeds}


def load(run: Path) -> tuple[nn.Module, dict]:
    """The net of a `final` or `export-ensemble` output dir and its train.json."""
    info = json.loads((Path(run) / "train.json").read_text())
    if "members" in info:
        return EnsembleNet([load_final(Path(m)) for m in info["members"]]).eval(), info
    return load_final(run), info


def export(runs: list[Path], out: Path, version: str, temperature: float, description: str | None,
           class_bias: np.ndarray | None = None) -> Path:
    """OUT/model.onnx: the mean of the `final` runs' nets, with `temperature`
    (and the class-prior correction `class_bias`, if given) on top;
    OUT/train.json records the members."""
    from .export import export_onnx

    info = final_runs_agree(runs)
    net = EnsembleNet([load_final(r) for r in runs]).eval()
    desc = description or (
        f"ser speech-emotion model: mean of {len(runs)} nets of arch {info['recipe']['arch']} (seeds "
        f"{info['seeds']}), each trained on RAVDESS actors {info['actors']} for {info['epochs']} epochs, "
        f"temperature {temperature:.3f}"
        + ("" if class_bias is None else f", class-prior correction {priors.describe(class_bias)}")
        + ". Derivative of RAVDESS (Livingstone & Russo 2018), CC BY-NC-SA 4.0.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = export_onnx(net, out / "model.onnx", info["feature_config"], version, desc, temperature, class_bias)
    (out / "train.json").write_text(json.dumps({
        "version": version, "description": desc, "temperature": temperature,
        "class_bias": None if class_bias is None else [float(v) for v in class_bias],
        "members": [str(r) for r in runs], "seeds": info["seeds"], "epochs": info["epochs"],
        "actors": info["actors"], "feature_config": info["feature_config"], "recipe": info["recipe"],
        "extra_train": info.get("extra_train", []), "n_parameters": nets.n_parameters(net),
        "model_bytes": path.stat().st_size,
        "train_time_s": sum(json.loads((Path(r) / "train.json").read_text())["train_time_s"] for r in runs),
    }, indent=1))
    return path
