"""Unit tests of the training package (run from models/train):

    python -m unittest discover -s tests -v
"""

from __future__ import annotations

import json
from dataclasses import replace
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from ser_train import DEFAULT_FEATURE_CONFIG, LABELS, data, folds, metrics, nets, train
from ser_train.export import export_onnx


class FoldTests(unittest.TestCase):
    def test_test_folds_partition_the_24_actors(self):
        actors = sorted(a for f in folds.FOLDS.values() for a in f)
        self.assertEqual(actors, list(range(1, 25)))

    def test_validation_is_inside_training_and_sex_balanced(self):
        for k in folds.FOLDS:
            tr, va, te = folds.split(k, 4, seed=0)
            self.assertEqual(len(tr), 16)
            self.assertEqual(sorted(tr + va + te), list(range(1, 25)))
            self.assertFalse(set(va) & set(te))
            self.assertEqual(sum(folds.is_male(a) for a in va), 2)
            self.assertEqual(folds.split(k, 4, seed=0), (tr, va, te), "deterministic")


class DataTests(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        data.write_synthetic(self.dir, actors=[1, 2], per_class=1)

    def test_load_roundtrip(self):
        d = data.load(self.dir)
        self.assertEqual(d.n_features, 40)
        self.assertEqual({it.label for it in d.items}, set(range(8)))
        m = d.matrix(d.items[3])
        self.assertEqual(m.shape, (d.items[3].frames, 40))

    def test_missing_file_is_named(self):
        (self.dir / "feats.npy").unlink()
        with self.assertRaisesRegex(data.DataError, "feats.npy: missing"):
            data.load(self.dir)

    def test_wrong_feature_count_is_rejected(self):
        idx = json.loads((self.dir / "index.json").read_text())
        idx["feature_config"]["n_mfcc"] = 13
        (self.dir / "index.json").write_text(json.dumps(idx))
        with self.assertRaisesRegex(data.DataError, "40 features per frame but feature_config says 13"):
            data.load(self.dir)

    def test_pitch_columns_are_counted_and_a_dump_without_them_is_refused(self):
        cfg = {**DEFAULT_FEATURE_CONFIG, "kind": "logmel", "n_mels": 64}
        self.assertEqual((data.feature_width(cfg), data.spectral_width(cfg)), (64, 64))
        pitched = {**cfg, "pitch": True}
        self.assertEqual((data.feature_width(pitched), data.spectral_width(pitched)), (66, 64))
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d, actors=[1, 2], per_class=1, n_features=66, feature_config=pitched)
        self.assertEqual(data.load(d).n_features, 66)
        idx = json.loads((d / "index.json").read_text())
        del idx["feature_config"]["pitch"]
        (d / "index.json").write_text(json.dumps(idx))
        with self.assertRaisesRegex(data.DataError, "66 features per frame but feature_config says 64"):
            data.load(d)

    def test_out_of_range_item_is_rejected(self):
        idx = json.loads((self.dir / "index.json").read_text())
        idx["items"][0]["frames"] = 10**9
        (self.dir / "index.json").write_text(json.dumps(idx))
        with self.assertRaisesRegex(data.DataError, "outside feats.npy"):
            data.load(self.dir)

    def test_label_emotion_disagreement_is_rejected(self):
        idx = json.loads((self.dir / "index.json").read_text())
        idx["items"][0]["label"] = 3
        idx["items"][0]["emotion"] = "angry"
        (self.dir / "index.json").write_text(json.dumps(idx))
        with self.assertRaisesRegex(data.DataError, "disagrees"):
            data.load(self.dir)


class MetricTests(unittest.TestCase):
    def test_ua_wa(self):
        cm = metrics.confusion([0, 0, 0, 1], [0, 0, 1, 1], n_classes=2)
        self.assertEqual(cm.tolist(), [[2, 1], [0, 1]])
        self.assertAlmostEqual(metrics.wa(cm), 0.75)
        self.assertAlmostEqual(metrics.ua(cm), (2 / 3 + 1) / 2)

    def test_scores_of_probabilities(self):
        probs = np.zeros((4, len(LABELS)))
        probs[[0, 1], 0] = 1.0  # two sure and right
        probs[2, 1] = 1.0  # sure and wrong
        probs[3, 1] = 1.0  # sure and right
        s = metrics.scores([0, 0, 0, 1], probs)
        self.assertEqual(s["confusion"][:2, :2].tolist(), [[2, 1], [0, 1]])
        self.assertAlmostEqual(s["wa"], 0.75)
        self.assertAlmostEqual(s["ua"], (2 / 3 + 1) / 2)
        self.assertAlmostEqual(s["ece"], 0.25, msg="confidence 1.0 everywhere, accuracy 0.75")


class NetTests(unittest.TestCase):
    def test_padded_batch_matches_single_utterances(self):
        torch.manual_seed(0)
        for arch, f in (("seed", 40), ("crnn", 64)):
            net = nets.build(arch, f).eval()
            lengths = torch.tensor([37, 50, 23])
            x = torch.zeros(3, 50, f)
            for i, n in enumerate(lengths):
                x[i, :n] = torch.randn(int(n), f)
            with torch.no_grad():
                batched = net(x, lengths)
                for i, n in enumerate(lengths):
                    single = net(x[i : i + 1, :n])
                    torch.testing.assert_close(batched[i], single[0], atol=1e-5, rtol=1e-4, msg=arch)


class AugmentTests(unittest.TestCase):
    def test_gain_noise_and_band_masks_leave_the_pitch_columns_alone(self):
        # 64 log-mel columns, then F0 semitones and voicing: only time masks
        # (which blank whole frames) may touch the last two.
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(4, 80, 66) * 10 - 50
        x[:, :, 64] = torch.linspace(0, 12, 80)
        x[:, :, 65] = 0.9
        lengths = torch.tensor([80, 80, 60, 40])
        out = train._augment(x, lengths, "logmel", gen, spectral=64)
        self.assertFalse(torch.equal(out[:, :40, :64], x[:, :40, :64]))
        for i, n in enumerate(lengths.tolist()):
            # frames not blanked by a time mask carry the pitch columns unchanged
            unmasked = (out[i, :n, 64] == x[i, :n, 64]) & (out[i, :n, 65] == x[i, :n, 65])
            self.assertGreater(int(unmasked.sum()), n // 2, f"utterance {i}")
            changed = ~unmasked
            # a frame that differs is a time-masked one: both pitch columns hold the utterance mean
            mean = x[i].mean(dim=0)
            torch.testing.assert_close(out[i, :n][changed][:, 64:], mean[64:].expand(int(changed.sum()), 2))
        # without the spectral width every column is spectral, as before pitch existed
        gen = torch.Generator().manual_seed(0)
        plain = train._augment(x, lengths, "logmel", gen)
        self.assertFalse(torch.equal(plain[:, :, 65], out[:, :, 65]))


class ExportTests(unittest.TestCase):
    def test_onnx_matches_torch_for_two_lengths_and_has_metadata(self):
        import onnx
        import onnxruntime as ort

        torch.manual_seed(1)
        net = nets.build("seed", 40).eval()
        nets.set_normalisation(net, np.full(40, 3.0), np.full(40, 2.0))
        path = Path(tempfile.mkdtemp()) / "m.onnx"
        export_onnx(net, path, DEFAULT_FEATURE_CONFIG, "test-1", "unit test", temperature=2.0)
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        self.assertEqual(json.loads(meta["ser.labels"]), LABELS)
        self.assertEqual(json.loads(meta["ser.features"]), DEFAULT_FEATURE_CONFIG)
        self.assertEqual(meta["ser.version"], "test-1")
        sess = ort.InferenceSession(str(path))
        for t in (17, 333):
            x = torch.randn(1, t, 40) * 5
            got = sess.run(["probs"], {"features": x.numpy()})[0]
            with torch.no_grad():
                want = torch.softmax(net(x) / 2.0, -1).numpy()
            self.assertEqual(got.shape, (1, 8))
            np.testing.assert_allclose(got, want, atol=1e-5)


class TrainTests(unittest.TestCase):
    def test_cv_learns_a_learnable_synthetic_task(self):
        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d / "feats", per_class=2)
        feats = data.load(d / "feats")
        recipe = train.Recipe(max_epochs=6, patience=3)
        rep = train.run_cv(feats, recipe, d / "cv", fold_ids=[3])
        self.assertGreater(rep["ua_mean"], 0.8)
        self.assertTrue((d / "cv" / "report.md").read_text().startswith("# Cross-validation report"))
        fold = rep["folds"][0]
        self.assertEqual(sum(map(sum, fold["confusion"])), 4 * 8 * 2, "one prediction per test file")


    def test_cv_with_augmented_copies_and_degraded_test_sets(self):
        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d / "feats", per_class=2, seed=0)
        data.write_synthetic(d / "copy", per_class=2, seed=1)
        data.write_synthetic(d / "noisy", per_class=2, seed=2)
        feats = data.load(d / "feats")
        recipe = train.Recipe(max_epochs=4, patience=3)
        rep = train.run_cv(feats, recipe, d / "cv", fold_ids=[2], extra_train=[data.load(d / "copy")],
                           eval_sets={"noisy": data.load(d / "noisy")})
        self.assertIn("noisy", rep["robustness"])
        self.assertGreater(rep["robustness"]["noisy"]["ua_mean"], 0.5)
        self.assertTrue(0.0 <= rep["ece_mean"] <= 1.0)
        self.assertEqual(len(rep["extra_train"]), 1)
        self.assertTrue((d / "cv" / "fold-2.pt").is_file())
        self.assertIn("| noisy |", (d / "cv" / "report.md").read_text())
        # a later condition scored from the saved fold model, without retraining
        new = train.rescore(feats, d / "cv", {"later": data.load(d / "noisy")})
        self.assertEqual(new["robustness"]["later"]["ua_mean"], rep["robustness"]["noisy"]["ua_mean"],
                         "the same degraded set scores the same through the saved model")
        self.assertEqual(new["ua_mean"], rep["ua_mean"])

    def test_weight_averaging_is_what_is_validated_and_kept(self):
        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d / "feats", per_class=2)
        feats = data.load(d / "feats")
        tr, te = feats.select(list(range(1, 21))), feats.select([21, 22, 23, 24])
        # an average that barely moves keeps (about) the initial weights: chance level
        frozen, _ = train.train_model(feats, tr, [], train.Recipe(ema=1 - 1e-9), epochs=6)
        self.assertLess(train.evaluate(frozen, feats, te)["ua"], 0.4)
        # a short average follows the training: it learns the task
        learned, _ = train.train_model(feats, tr, [], train.Recipe(ema=0.9), epochs=6)
        self.assertGreater(train.evaluate(learned, feats, te)["ua"], 0.8)
        # with validation actors the epochs are chosen on the averaged net
        rep = train.run_cv(feats, train.Recipe(max_epochs=6, patience=3, ema=0.9), d / "cv", fold_ids=[3])
        self.assertGreater(rep["ua_mean"], 0.8)
        self.assertEqual(rep["recipe"]["ema"], 0.9, "the report records the averaging")

    def test_speaker_adversary_hides_the_speaker_and_keeps_the_task(self):
        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d / "feats", per_class=2)
        # every actor also gets a voice: a constant offset over all coefficients
        f = np.load(d / "feats" / "feats.npy")
        rng = np.random.default_rng(1)
        voice = {a: rng.normal(0, 1.5, f.shape[1]).astype(np.float32) for a in range(1, 25)}
        for it in data.load(d / "feats").items:
            f[it.offset : it.offset + it.frames] += voice[it.actor]
        np.save(d / "feats" / "feats.npy", f)
        feats = data.load(d / "feats")
        tr, te = feats.select(list(range(1, 21))), feats.select([21, 22, 23, 24])

        def speaker_probe(net) -> float:
            """A fresh linear probe's accuracy at naming the speaker of take 2
            after learning the speakers from take 1."""
            net.eval()
            with torch.no_grad():
                x, lengths, _ = train._collate(feats, tr, None, None)
                e = net.embed(x, lengths)
            y = torch.tensor([it.actor - 1 for it in tr])
            first = torch.tensor([f"-01-{it.actor:02d}.wav" in it.path for it in tr])
            torch.manual_seed(0)
            probe = torch.nn.Linear(e.shape[1], 24)
            opt = torch.optim.Adam(probe.parameters(), 1e-2)
            for _ in range(300):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(probe(e[first]), y[first]).backward()
                opt.step()
            return float((probe(e[~first]).argmax(1) == y[~first]).float().mean())

        crnn = train.Recipe(arch="crnn", lr=2e-3, dropout=0.3)
        plain, _ = train.train_model(feats, tr, [], crnn, epochs=30)
        adv, info = train.train_model(feats, tr, [], replace(crnn, speaker_adversary=1.0), epochs=30)
        for net in (plain, adv):
            self.assertGreater(train.evaluate(net, feats, te)["ua"], 0.7, "the emotion task is still learnt")
        self.assertLess(speaker_probe(adv), speaker_probe(plain) - 0.04, "the speaker is harder to tell")
        self.assertIn("speaker_loss", info["history"][-1], "the head's loss is logged")
        self.assertEqual(plain.state_dict().keys(), adv.state_dict().keys(), "nothing of the head is kept")

    def test_copies_swap_whole_files_and_never_add_other_actors(self):
        a = data.Item("A/x.wav", 1, 0, 0, 0, 5)
        b = data.Item("A/x.wav", 1, 0, 1, 5, 5)
        c1 = data.Item("A/x.wav", 1, 0, 0, 0, 9)
        other = data.Item("B/y.wav", 2, 1, 0, 9, 5)
        v = train._versions([a, b], [[c1, other]])
        self.assertEqual(v, [[[a, b], [c1]]])

    def test_foreign_refuses_other_features(self):
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d / "a", per_class=1)
        data.write_synthetic(d / "b", per_class=1, n_features=64,
                             feature_config={**DEFAULT_FEATURE_CONFIG, "kind": "logmel", "n_mels": 64})
        with self.assertRaises(data.DataError):
            data.load(d / "a").foreign(data.load(d / "b"))


class EnsembleTests(unittest.TestCase):
    def test_seed_ensemble_cv_and_export(self):
        """Two seeds of one recipe with shared validation actors: the ensemble
        is scored fold by fold (clean + degraded), and two `final` runs export
        to one ONNX graph whose output is the temperature-scaled mean of the
        members' probabilities."""
        import onnxruntime as ort

        from ser_train import ensemble

        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        data.write_synthetic(d / "feats", per_class=1, seed=0)
        data.write_synthetic(d / "noisy", per_class=1, seed=2)
        feats = data.load(d / "feats")
        noisy = {"noisy": data.load(d / "noisy")}
        runs = []
        for seed in (3, 4):
            recipe = train.Recipe(max_epochs=4, patience=4, seed=seed, val_seed=0)
            train.run_cv(feats, recipe, d / f"cv{seed}", fold_ids=[5, 6])
            runs.append(d / f"cv{seed}")
        rep = ensemble.evaluate_cv(feats, runs, d / "ens", noisy)
        fold = rep["folds"][0]
        self.assertEqual(fold["val_actors"], folds.split(5, 4, 0)[1], "the shared validation actors")
        self.assertEqual(sum(map(sum, fold["confusion"])), 4 * 8, "one prediction per test file")
        self.assertGreater(rep["ua_mean"], 0.5)
        self.assertIn("noisy", rep["robustness"])
        self.assertEqual(rep["ensemble"]["seeds"], [3, 4])
        self.assertIn("ensemble of 2 seeds", (d / "ens" / "report.md").read_text())
        self.assertIn("2 seeds averaged", report_table([d / "ens"]))
        # calibration: per fold from the other fold's held-out predictions, and pooled
        self.assertEqual(len(rep["folds"]), 2)
        for f in rep["folds"]:
            self.assertTrue(0.25 <= f["temperature_crossfit"] <= 8.0)
        pooled = rep["calibration_pooled"]
        self.assertEqual(set(pooled), {"validation", "crossfit", "none"})
        accs = {round(v["accuracy"], 6) for v in pooled.values()}
        self.assertEqual(len(accs), 1, "one segment per file here: a temperature cannot change the winning class")
        self.assertTrue(all(0.0 <= v["ece"] <= 1.0 for v in pooled.values()))

        # one run through the command line: that run rescored, with pooled calibration
        from ser_train.__main__ import main

        self.assertEqual(main(["ensemble", "--features", str(d / "feats"), "--threads", "1",
                               "--out", str(d / "one"), str(runs[0])]), 0)
        one = json.loads((d / "one" / "report.json").read_text())
        self.assertEqual(one["ensemble"]["seeds"], [3])
        self.assertAlmostEqual(one["ua_mean"], json.loads((runs[0] / "report.json").read_text())["ua_mean"],
                               msg="one member: the run's own per-file predictions")
        self.assertIn("calibration_pooled", one)
        self.assertIn("one run rescored", (d / "one" / "report.md").read_text())
        self.assertIn("one run rescored", report_table([d / "one"]))

        # members of two recipes (here: another epoch limit) are scored together and named so
        train.run_cv(feats, train.Recipe(max_epochs=3, patience=3, seed=5, val_seed=0), d / "cv5", fold_ids=[5, 6])
        mixed = ensemble.evaluate_cv(feats, [runs[0], d / "cv5"], d / "mixed", {})
        self.assertEqual([r["max_epochs"] for r in mixed["ensemble"]["recipes"]], [4, 3])
        md = (d / "mixed" / "report.md").read_text()
        self.assertIn("ensemble of 2 runs of 2 recipes", md)
        self.assertIn("Recipe of the first member", md)
        self.assertIn("2 runs of 2 recipes averaged", report_table([d / "mixed"]))
        # members that differ only in their augmented copies ran two recipes too
        from ser_train import report as report_mod

        same = {"arch": "crnn", "max_epochs": 120, "seed": 0}
        ens = {"members": ["a", "b"], "recipes": [same, same], "copies": [["random:1"], ["random:1", "random-pitch:7"]]}
        self.assertEqual(report_mod._n_recipes(ens), 2)
        self.assertIn("crnn/120 ep/2 copies", report_mod._member_recipes(ens))
        self.assertEqual(report_mod._copies_column({"ensemble": ens, "extra_train": [{}]}), "1 / 2")
        lines = report_mod._copies_lines({"ensemble": ens, "extra_train": [{"perturbation": "random", "seed": 1}]})
        self.assertEqual(lines, ["- Augmented training copies of member 1 (`a`): `random:1`",
                                 "- Augmented training copies of member 2 (`b`): `random:1`, `random-pitch:7`"])
        self.assertEqual(report_mod._copies_lines({"ensemble": {**ens, "copies": [["random:1"], ["random:1"]]},
                                                   "extra_train": [{"perturbation": "random", "seed": 1}]}),
                         ["- Augmented training copies: `random` seed 1"])
        self.assertEqual(report_mod._n_recipes({**ens, "copies": [["random:1"], ["random:1"]]}), 1)

        # members with other validation actors are refused
        import shutil

        shutil.copytree(runs[1], d / "cv7")
        other = json.loads((d / "cv7" / "report.json").read_text())
        other["folds"][0]["val_actors"] = folds.split(5, 4, 7)[1]
        (d / "cv7" / "report.json").write_text(json.dumps(other))
        with self.assertRaisesRegex(SystemExit, "same --val-seed"):
            ensemble.evaluate_cv(feats, [runs[0], d / "cv7"], d / "bad", {})

        members = []
        for seed in (3, 4):
            train.run_final(feats, train.Recipe(seed=seed), d / f"final{seed}", epochs=2, temperature=1.0,
                            version="t", description="t")
            members.append(ensemble.load_final(d / f"final{seed}"))
        info = ensemble.final_runs_agree([d / "final3", d / "final4"])
        self.assertEqual(info["seeds"], [3, 4])
        with self.assertRaisesRegex(SystemExit, "share a seed"):
            ensemble.final_runs_agree([d / "final3", d / "final3"])
        path = ensemble.export([d / "final3", d / "final4"], d / "ens", "ens-1", 1.5, None)
        net, info = ensemble.load(d / "ens")
        self.assertEqual((info["version"], info["seeds"], info["temperature"]), ("ens-1", [3, 4], 1.5))
        sess = ort.InferenceSession(str(path))
        x = torch.from_numpy(feats.matrix(feats.items[0]))[None]
        with torch.no_grad():
            mean = torch.stack([torch.softmax(m(x), -1) for m in members]).mean(0)
            self.assertTrue(torch.allclose(net(x), torch.log(mean), atol=1e-6))
        want = torch.softmax(torch.log(mean) / 1.5, -1).numpy()
        np.testing.assert_allclose(sess.run(["probs"], {"features": x.numpy()})[0], want, atol=1e-5)


class PriorCorrectionTests(unittest.TestCase):
    """The class-prior correction (ser_train/priors.py): the bias follows
    from the training files' labels, the exported graph applies it, and an
    already exported graph can take it on."""

    def _ravdess_like(self, d: Path) -> Path:
        """Synthetic features with one neutral file per actor and two of
        every other emotion (RAVDESS has no strong-intensity neutral)."""
        data.write_synthetic(d, per_class=2, seed=0)
        index = json.loads((d / "index.json").read_text())
        index["items"] = [it for it in index["items"] if not (it["label"] == 0 and Path(it["path"]).stem.split("-")[5] == "02")]
        (d / "index.json").write_text(json.dumps(index))
        return d

    def test_prior_counts_files_not_segments_and_favours_the_rare_class(self):
        from ser_train import priors

        feats = data.load(self._ravdess_like(Path(tempfile.mkdtemp()) / "f"))
        prior = priors.training_prior(feats.items)
        np.testing.assert_allclose(prior, [1 / 15] + [2 / 15] * 7)  # two-segment files count once
        b = priors.correction(prior)
        self.assertAlmostEqual(float(b.mean()), 0.0, places=12)
        np.testing.assert_allclose(b[0] - b[1:], np.log(2.0))  # neutral gets log 2 more than each other class
        np.testing.assert_allclose(priors.correction(np.full(8, 1 / 8)), np.zeros(8), atol=1e-12)
        absent = priors.correction(np.array([0.0] + [1 / 7] * 7))
        self.assertEqual(absent[0], 0.0)  # never learnt: not forced either way
        self.assertTrue(np.all(np.isfinite(absent)))
        self.assertIn("neutral +", priors.describe(b))
        with self.assertRaisesRegex(ValueError, "no training files"):
            priors.training_prior([])

    def test_export_applies_the_bias_and_an_exported_graph_can_take_it_on(self):
        import onnx
        import onnxruntime as ort

        from ser_train import priors

        torch.manual_seed(2)
        net = nets.build("seed", 40).eval()
        nets.set_normalisation(net, np.zeros(40), np.ones(40))
        d = Path(tempfile.mkdtemp())
        b = priors.correction(np.array([1 / 15] + [2 / 15] * 7))
        plain = export_onnx(net, d / "plain.onnx", DEFAULT_FEATURE_CONFIG, "p-1", "plain. Derivative of RAVDESS x.", 1.5)
        biased = export_onnx(net, d / "biased.onnx", DEFAULT_FEATURE_CONFIG, "b-1", "biased", 1.5, class_bias=b)
        x = torch.randn(1, 57, 40) * 3
        with torch.no_grad():
            want = torch.softmax(net(x) / 1.5 + torch.tensor(b, dtype=torch.float32), -1).numpy()
        got = ort.InferenceSession(str(biased)).run(["probs"], {"features": x.numpy()})[0]
        np.testing.assert_allclose(got, want, atol=1e-5)
        p_plain = ort.InferenceSession(str(plain)).run(["probs"], {"features": x.numpy()})[0]
        self.assertGreater(got[0, 0], p_plain[0, 0], "neutral gains probability")
        np.testing.assert_allclose(priors.reweight(p_plain, b), got, atol=1e-5)

        # graph surgery on the plain export: the same output as the biased export
        out = priors.insert_into_onnx(plain, d / "surgery.onnx", b, "p-2", "plain, corrected")
        meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        self.assertEqual((meta["ser.version"], meta["ser.description"]), ("p-2", "plain, corrected"))
        self.assertEqual(json.loads(meta["ser.labels"]), LABELS)
        got2 = ort.InferenceSession(str(out)).run(["probs"], {"features": x.numpy()})[0]
        np.testing.assert_allclose(got2, want, atol=1e-5)
        with self.assertRaisesRegex(SystemExit, "another file"):
            priors.insert_into_onnx(plain, plain, b, "p-2", "in place")
        with self.assertRaisesRegex(SystemExit, "already has a class bias"):
            priors.insert_into_onnx(out, d / "twice.onnx", b, "p-3", "twice")

        # through the command line, with the prior of a features dir
        from ser_train.__main__ import main

        feats_dir = self._ravdess_like(d / "f")
        self.assertEqual(main(["prior-correct", "--features", str(feats_dir), "--onnx", str(plain),
                               "--out", str(d / "cli.onnx"), "--version", "p-4"]), 0)
        meta = {p.key: p.value for p in onnx.load(str(d / "cli.onnx")).metadata_props}
        self.assertEqual(meta["ser.version"], "p-4")
        self.assertIn("class-prior correction neutral +", meta["ser.description"])
        self.assertTrue(meta["ser.description"].endswith("Derivative of RAVDESS x."), meta["ser.description"])
        got3 = ort.InferenceSession(str(d / "cli.onnx")).run(["probs"], {"features": x.numpy()})[0]
        np.testing.assert_allclose(got3, want, atol=1e-5)

    def test_final_and_export_ensemble_with_the_correction_and_their_parity_fixtures(self):
        import subprocess
        import sys

        import onnxruntime as ort

        from ser_train import ensemble, priors
        from ser_train.__main__ import main

        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        fdir = self._ravdess_like(d / "f")
        feats = data.load(fdir)
        b = priors.correction(priors.training_prior(feats.items))
        for seed in (3, 4):
            train.run_final(feats, train.Recipe(seed=seed), d / f"final{seed}", epochs=1, temperature=1.2,
                            version="t", description="t", prior_correction=seed == 3)
        info = json.loads((d / "final3" / "train.json").read_text())
        np.testing.assert_allclose(info["class_bias"], b, atol=1e-6)
        self.assertIsNone(json.loads((d / "final4" / "train.json").read_text())["class_bias"])
        x = torch.from_numpy(feats.matrix(feats.items[0]))[None]
        net3 = ensemble.load_final(d / "final3")
        with torch.no_grad():
            want = torch.softmax(net3(x) / 1.2 + torch.tensor(b, dtype=torch.float32), -1).numpy()
        got = ort.InferenceSession(str(d / "final3" / "model.onnx")).run(["probs"], {"features": x.numpy()})[0]
        np.testing.assert_allclose(got, want, atol=1e-5)

        self.assertEqual(main(["export-ensemble", "--out", str(d / "ens"), "--version", "ens-2", "--temperature", "0.9",
                               "--prior-from", str(fdir), str(d / "final3"), str(d / "final4")]), 0)
        info = json.loads((d / "ens" / "train.json").read_text())
        np.testing.assert_allclose(info["class_bias"], b, atol=1e-6)
        self.assertIn("class-prior correction neutral +0.607", info["description"])
        net, _ = ensemble.load(d / "ens")
        with torch.no_grad():
            want = torch.softmax(net(x) / 0.9 + torch.tensor(b, dtype=torch.float32), -1).numpy()
        got = ort.InferenceSession(str(d / "ens" / "model.onnx")).run(["probs"], {"features": x.numpy()})[0]
        np.testing.assert_allclose(got, want, atol=1e-5)

        # the parity fixture of the biased ensemble, and the same fixture made by
        # reweighting the fixture of its unbiased twin (the `prior-correct` route)
        script = Path(__file__).resolve().parent.parent / "make_parity_fixture.py"
        self.assertEqual(main(["export-ensemble", "--out", str(d / "plain"), "--version", "ens-1", "--temperature", "0.9",
                               str(d / "final3"), str(d / "final4")]), 0)
        self.assertEqual(main(["prior-correct", "--features", str(fdir), "--onnx", str(d / "plain" / "model.onnx"),
                               "--out", str(d / "corrected.onnx"), "--version", "ens-2"]), 0)
        run = lambda *args: subprocess.run([sys.executable, str(script), *map(str, args)], check=True,  # noqa: E731
                                           capture_output=True, cwd=script.parent)
        run("--run", d / "ens", "--onnx", d / "ens" / "model.onnx", "--out", d / "fx-direct.json")
        run("--run", d / "plain", "--onnx", d / "plain" / "model.onnx", "--out", d / "fx-plain.json")
        run("--reweight-of", d / "fx-plain.json", "--prior-from", fdir, "--onnx", d / "corrected.onnx",
            "--out", d / "fx-reweighted.json")
        direct, reweighted = (json.loads((d / n).read_text()) for n in ("fx-direct.json", "fx-reweighted.json"))
        self.assertEqual(reweighted["model_version"], "ens-2")
        for a, c in zip(direct["cases"], reweighted["cases"]):
            np.testing.assert_allclose(a["probs"], c["probs"], atol=1e-5)
        with self.assertRaises(subprocess.CalledProcessError):  # a fixture already for that model
            run("--reweight-of", d / "fx-reweighted.json", "--prior-from", fdir, "--onnx", d / "corrected.onnx",
                "--out", d / "fx-twice.json")

    def test_ensemble_scoring_with_the_correction(self):
        from ser_train import ensemble, priors

        torch.set_num_threads(2)
        d = Path(tempfile.mkdtemp())
        feats = data.load(self._ravdess_like(d / "f"))
        train.run_cv(feats, train.Recipe(max_epochs=2, patience=2, seed=1, val_seed=0), d / "cv", fold_ids=[5, 6])
        plain = ensemble.evaluate_cv(feats, [d / "cv"], d / "plain", {})
        rep = ensemble.evaluate_cv(feats, [d / "cv"], d / "corrected", {}, prior_correction=True)
        self.assertIsNone(plain["folds"][0]["class_bias"])
        for f in rep["folds"]:
            want = priors.correction(priors.training_prior(feats.select(f["train_actors"])))
            np.testing.assert_allclose(f["class_bias"], want, atol=1e-6)
            self.assertAlmostEqual(f["class_bias"][0] - f["class_bias"][1], float(np.log(2.0)), places=5)
        self.assertTrue(rep["ensemble"]["prior_correction"])
        md = (d / "corrected" / "report.md").read_text()
        self.assertIn("class-prior corrected", md)
        self.assertIn("Class-prior correction", md)
        self.assertIn("class-prior corrected", report_table([d / "corrected"]))
        self.assertNotIn("class-prior", report_table([d / "plain"]))


def report_table(paths):
    from ser_train import report

    return report.table(paths)


class ClassBiasTests(unittest.TestCase):
    """`ensemble.fit_class_bias`: the bias that a cross-fitted analysis adds
    to held-out logits (report only)."""

    def test_it_undoes_a_shift_against_one_class_and_ignores_class_counts(self):
        from ser_train.ensemble import fit_class_bias

        g = torch.Generator().manual_seed(0)
        y = torch.cat([torch.full((50,), 0), torch.arange(1, 8).repeat_interleave(200)])  # class 0 rare
        z = 3.0 * torch.nn.functional.one_hot(y, 8).float() + torch.randn(len(y), 8, generator=g)
        z[:, 3] -= 2.0  # the model under-calls class 3
        b = fit_class_bias(z, y)
        self.assertAlmostEqual(float(b.mean()), 0.0, places=5)
        self.assertGreater(float(b[3] - b[[1, 2, 4, 5, 6, 7]].mean()), 1.0)  # mostly given back
        self.assertLess(abs(float(b[0] - b[[1, 2, 4, 5, 6, 7]].mean())), 0.5)  # rarity is no reason
        recall = lambda logits: metrics.per_class_recall(metrics.confusion(y.numpy(), logits.argmax(1).numpy()))
        self.assertGreater(recall(z + b)[3], recall(z)[3] + 0.2)

    def test_an_absent_class_is_left_alone(self):
        from ser_train.ensemble import fit_class_bias

        y = torch.arange(1, 8).repeat(20)
        z = 2.0 * torch.nn.functional.one_hot(y, 8).float()
        b = fit_class_bias(z, y)
        self.assertTrue(torch.all(torch.isfinite(b)))
        self.assertLess(float(b[0]), float(b[1:].mean()))  # never the right answer: no pull up

    def test_the_validation_figure_fits_on_other_actors_only(self):
        from ser_train.data import Item
        from ser_train.ensemble import validation_class_bias

        g = torch.Generator().manual_seed(1)

        def group(actors, shift):  # 8 classes x 6 files per actor, one segment each; class 3 shifted
            items = [Item(f"a{a}/{c}-{i}.wav", a, c, 0, 0, 10) for a in actors for c in range(8) for i in range(6)]
            y = torch.tensor([it.label for it in items])
            z = 3.0 * torch.nn.functional.one_hot(y, 8).float() + torch.randn(len(y), 8, generator=g)
            z[:, 3] += shift
            return items, torch.softmax(z, -1), 1.0

        # fold 1's test actors (3, 4) are fold 2's validation actors, and only they over-call class 3:
        # fold 1's bias must come from actors 5-8 (who under-call it, as fold 1's own do), never from them
        folds = [(1, [1, 2], [3, 4]), (2, [3, 4], [1, 2]), (3, [5, 6], [7, 8]), (4, [7, 8], [5, 6])]
        val_held = {k: {"val": group(val, 2.5 if k == 2 else -2.5), "noise/val": group(val, 2.5 if k == 2 else -2.5)}
                    for k, val, _ in folds}
        results = [{"fold": k, "val_actors": val, "test_actors": test} for k, val, test in folds]
        out = validation_class_bias(results, val_held)
        without = []
        for f in results:
            uas = [metrics.scores(y, p)["ua"] for items, probs, t in val_held[f["fold"]].values()
                   for _, y, p in [train.per_file(items, probs)]]
            without.append(float(np.mean(uas)))
        self.assertAlmostEqual(out["without"], float(np.mean(without)), places=6)
        self.assertGreater(results[0]["val_ua_robust_class_bias"], without[0] + 0.05)
        # fold 2's own actors over-call class 3, the others it may learn from under-call it: a bias from
        # them hurts it (fitted on its own actors, it would help)
        self.assertLess(results[1]["val_ua_robust_class_bias"], without[1] - 0.05)
        self.assertAlmostEqual(out["val_ua_robust_mean"], float(np.mean([f["val_ua_robust_class_bias"] for f in results])))
        self.assertEqual(validation_class_bias(results[:1], {1: val_held[1]}), {})  # one fold: nothing to fit on


class EceTests(unittest.TestCase):
    def test_perfectly_calibrated_and_overconfident(self):
        # 10 predictions at 0.8 confidence, 8 right: ECE 0
        p = np.tile([[0.8, 0.2] + [0.0] * 6], (10, 1))
        y = np.array([0] * 8 + [1] * 2)
        self.assertAlmostEqual(metrics.ece(p, y), 0.0)
        # all wrong at 0.9: ECE 0.9
        p = np.tile([[0.9, 0.1] + [0.0] * 6], (4, 1))
        self.assertAlmostEqual(metrics.ece(p, np.ones(4, int)), 0.9)


if __name__ == "__main__":
    unittest.main()
