"""Command line: `python -m ser_train {cv,final,synth} ...` (run from models/train).

  cv     6-fold speaker-independent cross-validation (EmoBox RAVDESS folds)
         -> OUT/report.json, OUT/report.md, OUT/train.log
  final  train on every actor in the features dir with a fixed recipe and export
         OUT/model.onnx (+ model.pt, train.json); the epoch count and
         temperature come from a CV report (--from-cv) or --epochs/--temperature
  merge  merge CV reports of disjoint fold subsets run in parallel
  ensemble         score the average of several CV runs (seeds) fold by fold
  export-ensemble  one ONNX graph averaging several `final` runs
  prior-correct    add the class-prior correction to an exported model
  fuse-cv          score CV runs' nets fused with the pretrained speech embedding
  fuse-final       one ONNX graph: an exported model fused with the speech embedding
  synth  write a tiny synthetic features dir (for tests of this package)

Features always come from the Rust binary:
  cargo run --release -p ser-models --bin ser-features -- --data /work/shared/data/ravdess --out DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

import torch

from . import data as data_mod
from . import train
from .malloc import keep_freed_memory
from .speech_embedding import POOLINGS
from .tuning import FIRST, FIRSTS, TUNE_EPOCHS, TUNE_LR


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", required=True, type=Path, help="output dir of `ser-features` (feats.npy + index.json)")
    p.add_argument("--out", required=True, type=Path, help="output directory (created)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the recipe's, 0)")
    p.add_argument("--extra-train", type=Path, action="append", default=[], metavar="DIR",
                   help="an augmented copy of the data (`ser-features --perturb random --seed N`); repeatable. "
                        "Each epoch draws every training file from the clean set or one of the copies")


def _logging(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    root = logging.getLogger("ser_train")
    root.setLevel(logging.INFO)
    for h in (logging.StreamHandler(sys.stderr), logging.FileHandler(out / "train.log")):
        h.setFormatter(fmt)
        root.addHandler(h)


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # training spent over half its CPU time refaulting freed memory (`malloc`)
    ap = argparse.ArgumentParser(prog="python -m ser_train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    cv = sub.add_parser("cv", help="speaker-independent 6-fold cross-validation")
    _common(cv)
    cv.add_argument("--arch", default="seed", choices=sorted(train.RECIPES), help="recipe (net + training settings)")
    cv.add_argument("--folds", default="1,2,3,4,5,6", help="comma-separated subset of folds (default all 6)")
    cv.add_argument("--max-epochs", type=int, default=None, help="override the recipe's max epochs")
    cv.add_argument("--patience", type=int, default=None, help="override the recipe's early-stopping patience")
    cv.add_argument("--ema", type=float, default=None, metavar="DECAY",
                    help="keep an exponential moving average of the weights (decay per step, e.g. 0.997) and "
                         "validate, choose and export it instead of the raw weights")
    cv.add_argument("--speaker-adversary", type=float, default=None, metavar="WEIGHT",
                    help="train against a speaker classifier (a confusion loss at this weight, "
                         "e.g. 0.3), so the utterance embedding carries less of who is speaking; the exported "
                         "graph is unchanged")
    cv.add_argument("--val-seed", type=int, default=None,
                    help="seed of the validation-actor draw (default: --seed); give the same one to every "
                         "member of a seed ensemble (see `ensemble`)")
    cv.add_argument("--eval", action="append", default=[], metavar="NAME=DIR",
                    help="also score each fold's model on the test actors of a degraded copy "
                         "(`ser-features --perturb white:20`); repeatable; the robustness columns")

    fin = sub.add_parser("final", help="train on all actors and export ONNX")
    _common(fin)
    fin.add_argument("--arch", default="seed", choices=sorted(train.RECIPES), help="recipe (net + training settings)")
    fin.add_argument("--from-cv", type=Path, help="report.json of a CV run: recipe, epochs (median best epoch) and temperature")
    fin.add_argument("--epochs", type=int, help="epochs (overrides --from-cv)")
    fin.add_argument("--temperature", type=float, help="softmax temperature baked into the graph (overrides --from-cv; default 1)")
    fin.add_argument("--version", required=True, help="ser.version metadata, e.g. seed-lstm-1")
    fin.add_argument("--description", default=None, help="ser.description metadata")
    fin.add_argument("--prior-correction", action="store_true",
                     help="take the training files' class prior off the output (see ser_train/priors.py)")

    rs = sub.add_parser("rescore", help="score a CV run's saved fold models on degraded copies (no retraining)")
    rs.add_argument("--features", required=True, type=Path, help="the clean features dir the CV was run on")
    rs.add_argument("--cv", required=True, type=Path, help="output dir of a `cv` run (report.json + fold-K.pt)")
    rs.add_argument("--eval", action="append", default=[], metavar="NAME=DIR", required=True,
                    help="a degraded copy (`ser-features --perturb ...`); repeatable")
    rs.add_argument("--threads", type=int, default=2)

    ens = sub.add_parser("ensemble", help="score the mean of several CV runs' fold models (a seed ensemble) "
                                          "under the same protocol; with one run, that run rescored with its "
                                          "calibration pooled over all folds")
    ens.add_argument("--features", required=True, type=Path, help="the clean features dir the runs used")
    ens.add_argument("--out", required=True, type=Path, help="output directory (report.json + report.md)")
    ens.add_argument("--eval", action="append", default=[], metavar="NAME=DIR",
                     help="a degraded copy for the robustness columns; repeatable")
    ens.add_argument("--threads", type=int, default=2)
    ens.add_argument("--prior-correction", action="store_true",
                     help="take each fold's training class prior off the output (see ser_train/priors.py)")
    ens.add_argument("runs", nargs="+", type=Path,
                     help="`cv` output dirs of the members (same recipe and features, same --val-seed); one or more")

    exe = sub.add_parser("export-ensemble", help="one ONNX graph averaging several `final` runs (seeds)")
    exe.add_argument("--out", required=True, type=Path,
                     help="output dir: model.onnx + train.json (the members, version, temperature)")
    exe.add_argument("--version", required=True, help="ser.version metadata, e.g. crnn-logmel-3")
    exe.add_argument("--from-cv", type=Path, help="report.json of the `ensemble` CV: temperature = median of its folds'")
    exe.add_argument("--temperature", type=float, help="overrides --from-cv (default 1)")
    exe.add_argument("--description", default=None, help="ser.description metadata")
    exe.add_argument("--prior-from", type=Path, metavar="FEATURES",
                     help="add the class-prior correction of the members' training files (this features dir)")
    exe.add_argument("runs", nargs="+", type=Path, help="`final` output dirs (model.pt + train.json), one per seed")

    pc = sub.add_parser("prior-correct", help="add the class-prior correction to an exported model "
                        "(for a shipped graph whose member nets are gone; new models: export-ensemble --prior-from)")
    pc.add_argument("--features", required=True, type=Path, help="the features dir the model was trained on")
    pc.add_argument("--onnx", required=True, type=Path, help="the exported model (left as it is)")
    pc.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    pc.add_argument("--version", required=True, help="ser.version of the corrected model")
    fcv = sub.add_parser("fuse-cv", help="score the fold models of CV runs fused with a head on the pretrained "
                         "speech embedding (ser_train/fusion.py), everything chosen on validation actors")
    _common(fcv)
    fcv.add_argument("--speech-embedding", required=True, type=Path, metavar="ONNX",
                     help="embedding_model.onnx of the openwakeword 0.4.0 wheel (fetch_speech_embedding.sh)")
    fcv.add_argument("--eval", action="append", default=[], metavar="NAME=DIR",
                     help="a degraded copy (with --speech-embedding bands) for the robustness columns; repeatable")
    fcv.add_argument("--taps", default=None, metavar="TAP,…",
                     help="where the head reads the frozen network: block1…block5 (the end of each block of "
                          "convolutions) and embedding (its output), comma-separated (default: "
                          "the shipped recipe's, block3,block4; crnn-se-9 to -11 read embedding)")
    fcv.add_argument("--head-mixup", type=float, default=None, metavar="ALPHA",
                     help="mixup alpha of the head's training rows (each blended with another row, its "
                          "weight ~ Beta(ALPHA, ALPHA)); fuse-final trains with the report's alpha "
                          "(default: the shipped recipe's, 0: off; 0.4 tied it)")
    fcv.add_argument("--head-pooling", choices=tuple(POOLINGS), default=None,
                     help="how the head pools each tap over time: whole (each value's mean and standard "
                          "deviation over the utterance) or halves (those, then each half's: three times "
                          "the values); fuse-final pools as the report did (default: the shipped recipe's, halves; "
                          "crnn-se-12 and earlier: whole)")
    fcv.add_argument("--head-widths", default=None, metavar="N,…",
                     help="the hidden widths the head's grid may choose, comma-separated, 0 for a linear "
                          "head; the grid has 0 and 256 (default: the shipped recipe's, 0 alone, which keeps a "
                          "halves head inside the 10 MB budget; crnn-se-12 and earlier: 0,256)")
    fcv.add_argument("--tune-epochs", type=int, default=TUNE_EPOCHS, metavar="N",
                     help="fine-tune the network's block 4 (its last block the head reads; with --tune-from, "
                          "the blocks before it too; the rest stay frozen) on each fold's training actors for up "
                          "to N epochs, the number chosen on validation log-loss; fuse-final tunes on every actor for the folds' median "
                          f"(default {TUNE_EPOCHS}, the shipped crnn-se-14's; 0 keeps the network frozen, "
                          "as crnn-se-13 and before; tuning needs --taps block3,block4)")
    fcv.add_argument("--tune-lr", type=float, default=TUNE_LR, metavar="LR",
                     help="Adam's learning rate while the network is tuned; fuse-final tunes at the report's "
                          f"(default {TUNE_LR:g}, the shipped recipe's)")
    fcv.add_argument("--tune-from", choices=FIRSTS, default=FIRST,
                     help="the first block that learns while the network is tuned; the blocks after it up to "
                          "block 4 learn too, those before it stay frozen (default: the shipped recipe's, "
                          f"{FIRST}; block3: blocks 3 and 4, about four times the compute per batch and 2.7 "
                          "times the memory for the frozen activations); fuse-final tunes the report's")
    fcv.add_argument("--tune-l2sp", type=float, default=0.0, metavar="ALPHA",
                     help="while the network is tuned, add ALPHA/2 times the squared distance of its weights from "
                          "the pretrained ones to the loss (L2-SP), holding it near what it learnt; fuse-final "
                          "tunes with the report's (default 0: no penalty, the shipped recipe's)")
    fcv.add_argument("--tune-mixup", type=float, default=0.0, metavar="ALPHA",
                     help="while the network is tuned, blend each segment's pooled values with another's of its "
                          "batch, and their labels alike (weight ~ Beta(ALPHA, ALPHA)); fuse-final tunes with "
                          "the report's (default 0: off, the shipped recipe's)")
    fcv.add_argument("--tune-seed", type=int, default=0, metavar="S",
                     help="seed of the tuning's batches: fold k draws with 100*S + k (default 0: k, as the "
                          "shipped recipe's run). Not part of the recipe (fuse-final draws with 0): another S "
                          "reruns a recipe to see how far its scores move by chance alone")
    fcv.add_argument("runs", nargs="+", type=Path,
                     help="`cv` output dirs of ser's own nets (same --val-seed), trained on the columns of "
                          "--features before the speech-embedding bands")

    ffi = sub.add_parser("fuse-final", help="train the head on all actors and fuse it with an exported model")
    _common(ffi)
    ffi.add_argument("--speech-embedding", required=True, type=Path, metavar="ONNX",
                     help="embedding_model.onnx of the openwakeword 0.4.0 wheel (fetch_speech_embedding.sh)")
    ffi.add_argument("--own-model", required=True, type=Path,
                     help="the exported model of ser's own nets (e.g. export-ensemble's model.onnx)")
    ffi.add_argument("--from-cv", required=True, type=Path, help="report.json of `fuse-cv`: the head's taps and "
                     "setting (the folds' modal one), the fusion weight (their median) and the "
                     "temperature fitted on every fold's held-out predictions; --extra-train must give "
                     "the augmented copies its heads trained on (same perturbations and seeds, checked)")
    ffi.add_argument("--version", required=True, help="ser.version metadata")
    ffi.add_argument("--description", required=True, help="ser.description metadata")

    mrg = sub.add_parser("merge", help="merge the report.json of CV runs over disjoint folds (e.g. run in parallel)")
    mrg.add_argument("--out", required=True, type=Path)
    mrg.add_argument("reports", nargs="+", type=Path, help="report.json files of `cv` runs with the same recipe")

    tab = sub.add_parser("table", help="print the model card's results rows for CV reports")
    tab.add_argument("reports", nargs="+", type=Path, help="CV output dirs or their report.json")

    exp = sub.add_parser("export", help="export one saved fold model of a CV run to ONNX (e.g. to time it)")
    exp.add_argument("--cv", required=True, type=Path, help="a `cv` output dir with fold-K.pt")
    exp.add_argument("--fold", required=True, type=int)
    exp.add_argument("--out", required=True, type=Path, help="the .onnx file to write")

    syn = sub.add_parser("synth", help="write a tiny synthetic features dir")
    syn.add_argument("--out", required=True, type=Path)
    syn.add_argument("--per-class", type=int, default=2)

    a = ap.parse_args(argv)
    if a.cmd == "synth":
        data_mod.write_synthetic(a.out, per_class=a.per_class)
        print(a.out)
        return 0

    if a.cmd == "table":
        from . import report

        print(report.table(a.reports))
        return 0

    if a.cmd == "export":
        import json

        from .export import export_onnx

        rep = json.loads((a.cv / "report.json").read_text())
        net, temperature = train.load_fold_model(a.cv, a.fold)
        export_onnx(net, a.out, rep["feature_config"], f"{rep['recipe']['arch']}-cv-fold{a.fold}",
                    f"fold {a.fold} model of the CV run {a.cv} (not for use: trained without its test actors)",
                    temperature)
        print(a.out)
        return 0

    if a.cmd == "export-ensemble":
        from . import ensemble

        temperature = a.temperature or (train.recipe_from_cv(a.from_cv)[2] if a.from_cv else 1.0)
        bias = None
        if a.prior_from:
            from . import priors

            bias = priors.bias_of(data_mod.load(a.prior_from).items)
        path = ensemble.export(a.runs, a.out, a.version, temperature, a.description, bias)
        print(path)
        return 0

    if a.cmd == "prior-correct":
        import onnx

        from . import priors

        bias = priors.bias_of(data_mod.load(a.features).items)
        desc = {p.key: p.value for p in onnx.load(str(a.onnx)).metadata_props}.get("ser.description", "")
        note = f"class-prior correction {priors.describe(bias)}"
        # the note goes before the licence sentence, or at the end
        head, licence, tail = desc.partition(". Derivative of RAVDESS")
        desc = f"{head}; {note}{licence}{tail}" if licence else f"{desc.rstrip('.')}; {note}."
        print(priors.insert_into_onnx(a.onnx, a.out, bias, a.version, desc))
        return 0

    if a.cmd == "merge":
        from . import report

        rep = report.merge(a.reports)
        a.out.mkdir(parents=True, exist_ok=True)
        report.write(rep, a.out)
        print(f"UA {rep['ua_mean'] * 100:.1f}%  WA {rep['wa_mean'] * 100:.1f}%  -> {a.out / 'report.md'}")
        return 0

    torch.set_num_threads(a.threads)
    _logging(a.cv if a.cmd == "rescore" else a.out)
    try:
        feats = data_mod.load(a.features)
        extra = [data_mod.load(d) for d in getattr(a, "extra_train", [])]
        for x in extra:
            feats.foreign(x)  # same feature configuration, or a clear error now
        eval_sets = {}
        for spec in getattr(a, "eval", []):
            name, sep, d = spec.partition("=")
            if not sep or not name or not d:
                print(f"error: --eval {spec!r}: expected NAME=DIR", file=sys.stderr)
                return 2
            eval_sets[name] = data_mod.load(d)
            feats.foreign(eval_sets[name])
    except data_mod.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if a.cmd == "rescore":
        rep = train.rescore(feats, a.cv, eval_sets)
        print(f"rescored {a.cv / 'report.md'}")
        return 0

    if a.cmd == "ensemble":
        from . import ensemble

        rep = ensemble.evaluate_cv(feats, a.runs, a.out, eval_sets, prior_correction=a.prior_correction)
        print(f"UA {rep['ua_mean'] * 100:.1f}%  WA {rep['wa_mean'] * 100:.1f}%  -> {a.out / 'report.md'}")
        return 0

    if a.cmd in ("fuse-cv", "fuse-final"):
        from . import fusion
        from .speech_embedding import SpeechEmbedding

        encoder = SpeechEmbedding.from_file(a.speech_embedding).eval()
        if a.cmd == "fuse-cv":
            taps = tuple(a.taps.split(",")) if a.taps else fusion.HEAD_TAPS
            try:
                encoder.tap_widths(taps)  # checks the names, before the long embedding pass
            except ValueError as e:
                raise SystemExit(f"--taps: {e}") from None
            if a.head_mixup is not None and a.head_mixup < 0:
                raise SystemExit(f"--head-mixup: {a.head_mixup} is negative (0 turns mixup off)")
            mixup = fusion.HEAD_MIXUP if a.head_mixup is None else a.head_mixup
            try:
                widths = (tuple(int(w) for w in a.head_widths.split(",")) if a.head_widths
                          else fusion.HEAD_CHOSEN_WIDTHS)
            except ValueError:
                raise SystemExit(f"--head-widths: {a.head_widths!r} is not a comma-separated list of "
                                 f"widths ({','.join(map(str, fusion.HEAD_WIDTHS))})") from None
            if not set(widths) <= set(fusion.HEAD_WIDTHS):
                raise SystemExit(f"--head-widths: the grid has widths {','.join(map(str, fusion.HEAD_WIDTHS))} "
                                 f"only, not {a.head_widths}")
            if a.tune_epochs < 0:
                raise SystemExit(f"--tune-epochs: {a.tune_epochs} is negative (0 keeps the network frozen)")
            if not a.tune_lr > 0:
                raise SystemExit(f"--tune-lr: {a.tune_lr} is not a positive learning rate")
            for option, value in (("--tune-l2sp", a.tune_l2sp), ("--tune-mixup", a.tune_mixup)):
                if value < 0:
                    raise SystemExit(f"{option}: {value} is negative (0 turns it off)")
            if a.tune_seed < 0:
                raise SystemExit(f"--tune-seed: {a.tune_seed} is negative (seeds are 0, 1, 2, …)")
            rep = fusion.evaluate_cv(feats, a.runs, encoder, a.out, extra, eval_sets, taps, mixup,
                                     a.head_pooling or fusion.HEAD_POOLING, widths, a.tune_epochs, a.tune_lr,
                                     a.tune_l2sp, a.tune_mixup, a.tune_from, a.tune_seed)
            print(f"UA {rep['ua_mean'] * 100:.1f}%  WA {rep['wa_mean'] * 100:.1f}%  -> {a.out / 'report.md'}")
        else:
            print(fusion.final(feats, extra, encoder, a.own_model, a.from_cv, a.version, a.description, a.out))
        return 0

    if a.cmd == "cv":
        recipe = train.RECIPES[a.arch]
        if a.seed is not None:
            recipe = replace(recipe, seed=a.seed)
        if a.val_seed is not None:
            recipe = replace(recipe, val_seed=a.val_seed)
        if a.max_epochs:
            recipe = replace(recipe, max_epochs=a.max_epochs)
        if a.patience:
            recipe = replace(recipe, patience=a.patience)
        if a.ema is not None:
            recipe = replace(recipe, ema=a.ema)
        if a.speaker_adversary is not None:
            recipe = replace(recipe, speaker_adversary=a.speaker_adversary)
        fold_ids = [int(x) for x in a.folds.split(",") if x.strip()]
        rep = train.run_cv(feats, recipe, a.out, fold_ids, extra_train=extra, eval_sets=eval_sets)
        print(f"UA {rep['ua_mean'] * 100:.1f}%  WA {rep['wa_mean'] * 100:.1f}%  -> {a.out / 'report.md'}")
        return 0

    # final
    if a.from_cv:
        recipe, epochs, temperature = train.recipe_from_cv(a.from_cv)
        import json

        cv_extra = json.loads(a.from_cv.read_text()).get("extra_train", [])
        if len(cv_extra) != len(extra):
            print(f"error: {a.from_cv} was run with {len(cv_extra)} augmented copies (--extra-train) "
                  f"and this run has {len(extra)}: the recipe includes them", file=sys.stderr)
            return 2
        if recipe.arch != train.RECIPES[a.arch].arch:
            print(f"error: {a.from_cv} is a CV of net {recipe.arch!r}, not {train.RECIPES[a.arch].arch!r}", file=sys.stderr)
            return 2
    else:
        recipe, epochs, temperature = train.RECIPES[a.arch], None, 1.0
    if a.epochs:
        epochs = a.epochs
    if a.temperature:
        temperature = a.temperature
    if not epochs:
        print("error: give --epochs or --from-cv", file=sys.stderr)
        return 2
    if a.seed is not None:
        recipe = replace(recipe, seed=a.seed)
    desc = a.description or (
        f"ser speech-emotion model, arch {recipe.arch}, trained on RAVDESS actors "
        f"{sorted({it.actor for it in feats.items})} for {epochs} epochs (seed {recipe.seed}), "
        f"temperature {temperature:.3f}"
        + (", class-prior correction" if a.prior_correction else "")
        + ". Derivative of RAVDESS (Livingstone & Russo 2018), CC BY-NC-SA 4.0.")
    path = train.run_final(feats, recipe, a.out, epochs, temperature, a.version, desc, extra_train=extra,
                           prior_correction=a.prior_correction)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
