"""report.json + report.md of a cross-validation run."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import LABELS, metrics, nets, priors, tuning


def build(results: list[dict], recipe, data, net) -> dict:
    return _summary(results, asdict(recipe), data.feature_config, str(data.directory), nets.n_parameters(net))


def merge(paths: list[Path]) -> dict:
    reps = [json.loads(Path(p).read_text()) for p in paths]
    first = reps[0]
    for p, r in zip(paths, reps):
        if r["recipe"] != first["recipe"] or r["feature_config"] != first["feature_config"]:
            raise SystemExit(f"{p}: recipe or features differ from {paths[0]}; refusing to merge")
    results = sorted((f for r in reps for f in r["folds"]), key=lambda f: f["fold"])
    seen = [f["fold"] for f in results]
    if len(seen) != len(set(seen)):
        raise SystemExit(f"folds overlap between the reports: {seen}")
    for key in ("extra_train", "eval_sets"):
        vals = [r.get(key) for r in reps]
        if any(v != vals[0] for v in vals):
            raise SystemExit(f"the reports differ in {key}; refusing to merge")
    rep = _summary(results, first["recipe"], first["feature_config"], first["features_dir"], first["n_parameters"])
    for key in ("extra_train", "eval_sets"):
        if key in first:
            rep[key] = first[key]
    rep["merged_from"] = [str(p) for p in paths]
    return rep


def _summary(results: list[dict], recipe: dict, feature_config: dict, features_dir: str, n_params: int) -> dict:
    cm = np.sum([np.array(r["confusion"]) for r in results], axis=0)
    recall = metrics.per_class_recall(cm)
    worst = min((r, i) for i, r in enumerate(recall) if r is not None)
    uas = [r["ua"] for r in results]
    was = [r["wa"] for r in results]
    extra = {}
    if all("ece" in r for r in results):
        extra["ece_mean"] = statistics.mean(r["ece"] for r in results)
        extra["ece_uncalibrated_mean"] = statistics.mean(r["ece_uncalibrated"] for r in results)
    conditions = sorted(set.intersection(*(set(r.get("robustness", {})) for r in results))) if results else []
    if conditions:
        extra["robustness"] = {
            c: {"ua_mean": statistics.mean(r["robustness"][c]["ua"] for r in results),
                "wa_mean": statistics.mean(r["robustness"][c]["wa"] for r in results),
                "ece_mean": statistics.mean(r["robustness"][c]["ece"] for r in results),
                "ua_drop": statistics.mean(uas) - statistics.mean(r["robustness"][c]["ua"] for r in results)}
            for c in conditions}
    vconds = sorted(set.intersection(*(set(r.get("val_robustness", {})) for r in results))) if results else []
    if vconds:
        # the recipe-choosing score: validation-actor UA averaged over clean and every degraded condition
        per_fold = [statistics.mean([_val_ua(r)] + [r["val_robustness"][c]["ua"] for c in vconds]) for r in results]
        extra["val_ua_robust_mean"] = statistics.mean(per_fold)
        extra["val_robustness"] = {c: statistics.mean(r["val_robustness"][c]["ua"] for r in results) for c in vconds}
    return {
        "protocol": "EmoBox RAVDESS speaker-independent folds; validation actors from the training actors; "
                    "per-file prediction (frame-weighted mean over VAD segments)",
        "recipe": recipe,
        "feature_config": feature_config,
        "features_dir": features_dir,
        "folds_done": [r["fold"] for r in results],
        "val_ua_mean": statistics.mean(_val_ua(r) for r in results),
        "ua_mean": statistics.mean(uas),
        "wa_mean": statistics.mean(was),
        "ua_std": statistics.pstdev(uas),
        "wa_std": statistics.pstdev(was),
        "per_class_recall_pooled": dict(zip(LABELS, recall)),
        "worst_class": {"label": LABELS[worst[1]], "recall": worst[0]},
        "confusion_pooled": cm.tolist(),
        "n_parameters": n_params,
        "model_size_bytes_fp32": n_params * 4,
        "train_time_s_total": round(sum(r["train_time_s"] for r in results), 1),
        **extra,
        "folds": results,
    }


def _val_ua(fold: dict) -> float:
    """Validation-actor UA at the selected epoch: the only score that may be
    used to choose between recipes (the test folds never choose). An
    ensemble's fold carries it directly (its members' epochs differ)."""
    if "val_ua" in fold:
        return fold["val_ua"]
    return next(h["val_ua"] for h in fold["history"] if h["epoch"] == fold["best_epoch"])


def _member_copies(ens: dict) -> list[list[str]]:
    """Each member's augmented copies (`perturbation:seed`; none recorded: [])."""
    return ens.get("copies") or [[] for _ in ens.get("recipes", [])]


def _n_recipes(ens: dict) -> int:
    """How many different recipes (seed aside; the augmented copies count as
    part of a recipe) an ensemble's members ran (reports from before
    members' recipes were recorded: 1)."""
    recipes = {json.dumps({**r, "seed": None, "copies": c}, sort_keys=True)
               for r, c in zip(ens.get("recipes", []), _member_copies(ens))}
    return max(len(recipes), 1)


def _ensemble_members(ens: dict) -> str:
    n, k = len(ens["members"]), _n_recipes(ens)
    return f"{n} seeds" if k == 1 else f"{n} runs of {k} recipes"


def _prior_suffix(ens: dict | None) -> str:
    return ", class-prior corrected" if ens and ens.get("prior_correction") else ""


def _ensemble_title(ens: dict | None) -> str:
    if not ens:
        return ""
    if len(ens["members"]) == 1:
        return ", one run rescored (calibration pooled over folds)" + _prior_suffix(ens)
    return f", ensemble of {_ensemble_members(ens)}" + _prior_suffix(ens)


def _ensemble_recipe(ens: dict | None) -> str:
    """The table's recipe suffix; the twin of `_ensemble_title`."""
    if not ens:
        return ""
    if len(ens["members"]) == 1:
        return ", one run rescored" + _prior_suffix(ens)
    return f", {_ensemble_members(ens)} averaged" + _prior_suffix(ens)


def _member_recipes(ens: dict) -> str:
    """The members' recipes where they differ (arch, epoch limit and copies of each)."""
    if _n_recipes(ens) == 1:
        return ""
    return "; recipes " + ", ".join(f"{r['arch']}/{r['max_epochs']} ep/{len(c)} copies"
                                    for r, c in zip(ens["recipes"], _member_copies(ens)))


def _archs(rep: dict) -> str:
    """The net(s) of a report: its recipe's, or every member's in order of first use."""
    archs = [r["arch"] for r in rep.get("ensemble", {}).get("recipes", [])] or [rep["recipe"]["arch"]]
    return " + ".join(f"`{a}`" for a in dict.fromkeys(archs))


def _copies_lines(rep: dict) -> list[str]:
    """The augmented training copies: one line, or one per member when the
    members of an ensemble trained on different sets of copies."""
    ens = rep.get("ensemble")
    copies = ens.get("copies") if ens else None
    if copies and len({tuple(c) for c in copies}) > 1:
        return [f"- Augmented training copies of member {i + 1} (`{Path(m).name}`): "
                + (", ".join(f"`{c}`" for c in cs) or "none")
                for i, (m, cs) in enumerate(zip(ens["members"], copies))]
    def said(xs: list[dict]) -> str:
        return ", ".join(f"`{x['perturbation']}` seed {x['seed']}" for x in xs) or "none"

    heads = rep.get("fusion", {}).get("head_extra_train")
    if heads is not None:  # a fusion: the own nets' copies (their CV's) and the heads' (fuse-cv --extra-train)
        return [f"- Augmented training copies of the own nets: {said(rep.get('extra_train', []))}",
                f"- Augmented training copies of the speech-embedding heads: {said(heads)}"]
    if rep.get("extra_train"):
        return [f"- Augmented training copies: {said(rep['extra_train'])}"]
    return []


def _tune_lines(rep: dict) -> list[str]:
    """A fusion whose heads read fine-tuned blocks (`fuse-cv --tune-epochs`): the epochs each fold kept."""
    most = rep.get("fusion", {}).get("tune_epochs")
    if not most:
        return []
    kept = " / ".join(str(f.get("tune", {}).get("epochs", 0)) for f in rep["folds"])
    lr = rep["fusion"].get("tune_lr")  # none recorded: the runs before --tune-lr, at its default
    step = f" at learning rate {lr:g}" if lr else ""
    holds = [f"{name} {rep['fusion'][key]:g}" for key, name in (("tune_l2sp", "L2-SP penalty"),
                                                                 ("tune_mixup", "mixup alpha"))
             if rep["fusion"].get(key)]
    step += f", {' and '.join(holds)}" if holds else ""
    seed = rep["fusion"].get("tune_seed")  # none recorded, or 0: each fold's batches drawn with its number
    step += f", batches drawn with seed {seed}" if seed else ""
    blocks = tuning.tuned_said(rep["fusion"].get("tune_from") or "block4")  # none: the runs before --tune-from
    lines = [f"- {blocks.capitalize()} of the speech network fine-tuned on each fold's training actors, up to "
             f"{most} epochs{step}, the epoch chosen on validation log-loss: kept {kept} (folds in order; 0: frozen)"]
    if all("drift" in f.get("tune", {}) for f in rep["folds"]):
        moved = " / ".join(f"{f['tune']['drift'][f['tune']['epochs']] * 100:.0f}%" for f in rep["folds"])
        lines.append(f"- Distance of the kept {blocks} from the pretrained weights (norm of the change over the "
                     f"weights' norm): {moved}")
    return lines


def markdown(rep: dict) -> str:
    r = rep["recipe"]
    ens = rep.get("ensemble")
    xfit = (", ".join(f"{f['temperature_crossfit']:.2f}" for f in rep["folds"])
            if "ece_crossfit_mean" in rep else "")
    cp = rep.get("calibration_pooled")
    lines = [
        f"# Cross-validation report: arch {_archs(rep)}" + _ensemble_title(ens),
        "",
        rep["protocol"] + ".",
        "",
        *([f"- Ensemble: the mean probability of the fold models of {', '.join(f'`{m}`' for m in ens['members'])} "
           f"(seeds {ens['seeds']}{_member_recipes(ens)}; their own UA {', '.join(f'{u * 100:.1f}%' for u in ens['member_ua_mean'])}), "
           "one temperature fitted on the validation actors; best epoch = median of the members'"] if ens else []),
        *([f"- Class-prior correction (`priors`: the log of each fold's training class frequencies taken off the "
           f"output, nothing fitted): fold 1 {priors.describe(rep['folds'][0]['class_bias'])}"]
          if ens and ens.get("prior_correction") else []),
        f"- Folds done: {rep['folds_done']}",
        f"- **UA (mean over folds): {rep['ua_mean'] * 100:.1f}%** (sd {rep['ua_std'] * 100:.1f})",
        f"- **WA (mean over folds): {rep['wa_mean'] * 100:.1f}%** (sd {rep['wa_std'] * 100:.1f})",
        f"- Validation-actor UA at the selected epochs (mean over folds; for choosing recipes): {rep['val_ua_mean'] * 100:.1f}%",
        f"- Worst class (pooled recall): {rep['worst_class']['label']} {rep['worst_class']['recall'] * 100:.1f}%",
        *([f"- Validation-actor UA averaged over clean and the degraded conditions (for choosing recipes): "
           f"{rep['val_ua_robust_mean'] * 100:.1f}%"] if "val_ua_robust_mean" in rep else []),
        *([f"- Expected calibration error (per file, 15 bins, mean over folds): {rep['ece_mean'] * 100:.1f}% "
           f"with the validation temperature, {rep['ece_uncalibrated_mean'] * 100:.1f}% without"]
          if "ece_mean" in rep else []),
        *([f"- Cross-fitted calibration (each fold's temperature fitted on the other folds' held-out "
           f"predictions; fold temperatures {xfit}): ECE {rep['ece_crossfit_mean'] * 100:.1f}%; the temperature "
           f"fitted on all folds' held-out predictions (for a model trained on every actor): "
           f"{rep['temperature_held_out']:.2f}"] if xfit else []),
        *([f"- Pooled over all held-out files: accuracy {cp['none']['accuracy'] * 100:.1f}%; mean confidence / ECE "
           + ", ".join(f"{cp[k]['mean_confidence'] * 100:.1f}% / {cp[k]['ece'] * 100:.1f}% {label}"
                       for k, label in (("validation", "with the validation temperatures"),
                                        ("crossfit", "with the cross-fitted ones"), ("none", "without")))]
          if cp else []),
        *([f"- Cross-fitted class bias (report only, the model carries none: each fold's logits plus a bias "
           f"fitted on the other folds' held-out predictions, class-balanced log-loss): "
           f"UA {cb['ua_mean'] * 100:.1f}%, WA {cb['wa_mean'] * 100:.1f}%; pooled recall "
           + ", ".join(f"{lab} {v * 100:.1f}%" for lab, v in zip(LABELS, cb["recall_pooled"]) if v is not None)
           + "; fitted on all folds: " + ", ".join(f"{lab} {v:+.2f}" for lab, v in zip(LABELS, cb["bias_all_folds"]))
           + (f"; on the validation actors (for choosing: each fold's bias fitted on the other folds' validation "
              f"predictions of other actors), choosing score {cbv['val_ua_robust_mean'] * 100:.2f}% against "
              f"{cbv['without'] * 100:.2f}% without" if (cbv := cb.get("validation")) else "")]
          if (cb := rep.get("class_bias_crossfit")) else []),
        *_copies_lines(rep),
        *_tune_lines(rep),
        f"- Parameters: {rep['n_parameters']} ({rep['model_size_bytes_fp32'] / 1024:.0f} KiB fp32)",
        f"- Training time (all folds, CPU): {rep['train_time_s_total'] / 60:.1f} min",
        f"- Features: `{json.dumps(rep['feature_config'], separators=(',', ':'))}`",
        f"- Recipe{' of the first member' if ens and _n_recipes(ens) > 1 else ''}: "
        f"`{json.dumps(r, separators=(',', ':'))}`",
        "",
        "| fold | test actors | validation actors | UA | WA | best epoch | temperature | train time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in rep["folds"]:
        lines.append(f"| {f['fold']} | {' '.join(f'{a:02d}' for a in f['test_actors'])} | "
                     f"{' '.join(f'{a:02d}' for a in f['val_actors'])} | {f['ua'] * 100:.1f}% | {f['wa'] * 100:.1f}% | "
                     f"{f['best_epoch']} | {f['temperature']:.2f} | {f['train_time_s'] / 60:.1f} min |")
    if rep.get("robustness"):
        lines += ["", "Robustness: the same test files degraded (`ser-features --perturb`), same fold models:", "",
                  "| condition | UA | WA | UA change (points) | ECE |", "|---|---|---|---|---|",
                  f"| clean | {rep['ua_mean'] * 100:.1f}% | {rep['wa_mean'] * 100:.1f}% | 0 | "
                  f"{rep.get('ece_mean', float('nan')) * 100:.1f}% |"]
        for c, v in rep["robustness"].items():
            lines.append(f"| {c} | {v['ua_mean'] * 100:.1f}% | {v['wa_mean'] * 100:.1f}% | "
                         f"{-v['ua_drop'] * 100:+.1f} | {v['ece_mean'] * 100:.1f}% |")
    lines += ["", "Pooled confusion matrix over all test folds (rows = true, columns = predicted):", ""]
    lines.append(confusion_md(np.array(rep["confusion_pooled"])))
    lines += ["", "Per-class recall (pooled): " + ", ".join(
        f"{k} {v * 100:.1f}%" for k, v in rep["per_class_recall_pooled"].items() if v is not None), ""]
    return "\n".join(lines)


def confusion_md(cm: np.ndarray) -> str:
    short = [l[:4] for l in LABELS]
    rows = ["| true \\ pred | " + " | ".join(short) + " | recall |", "|---" * (len(LABELS) + 2) + "|"]
    for i, lab in enumerate(LABELS):
        sup = cm[i].sum()
        rec = f"{cm[i, i] / sup * 100:.0f}%" if sup else "-"
        rows.append(f"| {lab} | " + " | ".join(str(int(v)) for v in cm[i]) + f" | {rec} |")
    return "\n".join(rows)


def write(rep: dict, out: Path) -> None:
    out = Path(out)
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    (out / "report.md").write_text(markdown(rep))


def _copies_column(rep: dict) -> str:
    """How many augmented copies trained the run (each member's, where they differ)."""
    counts = dict.fromkeys(len(c) for c in _member_copies(rep.get("ensemble") or {}))
    if len(counts) > 1:
        return " / ".join(map(str, counts))
    return str(len(rep.get("extra_train", [])))


def table(paths: list[Path]) -> str:
    """The model card's results rows, one per CV report (report.json)."""
    conds = ["white20", "white10", "babble20", "babble10", "telephone", "gain-20", "reverb0.5"]
    head = ["run", "recipe", "aug. copies", "UA", "WA", "per fold UA", "worst class", "val. UA",
            "val. UA robust", "ECE"] + conds + ["params", "CV time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in paths:
        p = Path(p)
        rep = json.loads((p / "report.json" if p.is_dir() else p).read_text())
        rob = rep.get("robustness", {})
        pct = lambda v: f"{v * 100:.1f}" if v is not None else "-"
        row = [
            p.name if p.is_dir() else p.parent.name,
            f"`{rep['recipe']['arch']}` {rep['recipe']['max_epochs']} ep, {rep['feature_config']['kind']}"
            + (" CMVN" if rep["feature_config"].get("cmvn") else "")
            + _ensemble_recipe(rep.get("ensemble")),
            _copies_column(rep),
            f"**{pct(rep['ua_mean'])}** ± {rep['ua_std'] * 100:.1f}",
            f"{pct(rep['wa_mean'])}",
            " / ".join(f"{f['ua'] * 100:.0f}" for f in rep["folds"]),
            f"{rep['worst_class']['label']} {pct(rep['worst_class']['recall'])}",
            pct(rep["val_ua_mean"]),
            pct(rep.get("val_ua_robust_mean")),
            pct(rep.get("ece_mean")),
            *[pct(rob[c]["ua_mean"]) if c in rob else "-" for c in conds],
            f"{rep['n_parameters']:,}",
            f"{rep['train_time_s_total'] / 60:.0f} min",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
