"""The speech-embedding interpreter and the fused export (run from models/train:
`python -m unittest discover -s tests`).

The real network is not needed: a graph of the same form (the same operator
kinds and layer plan, 4 channels, random weights) is built here and run by
onnxruntime on 76-frame windows, as openWakeWord runs the real one; the
interpreter must give the same embeddings from one pass over the sequence.
"""

from __future__ import annotations

import copy
import json
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from ser_train import DEFAULT_FEATURE_CONFIG, data, folds, fusion, priors, tuning
from ser_train.export import export_onnx
from ser_train import nets
from ser_train.speech_embedding import EmbeddingHead, SpeechEmbedding, scaled_bands

C = 4
# (kernel, pads) of each convolution, "pool HxW" between them: the real network's plan
PLAN = ["3x3", "1x3", "3x1", "pool2x2", "1x3", "3x1", "1x3", "3x1", "pool1x2", "1x3", "3x1", "1x3", "3x1",
        "pool2x2", "1x3", "3x1", "1x3", "3x1", "pool1x2", "1x3", "3x1", "1x3", "3x1", "pool2x2", "last3x1"]


def small_network(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits, nodes = [numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64), "pads"),
                    numpy_helper.from_array(np.array([-1, 1, 76, 34], np.int64), "shape_in"),
                    numpy_helper.from_array(np.array([-1, 1, 1, C], np.int64), "shape_out"),
                    numpy_helper.from_array(np.full((1, 1, 1, 1), -0.4, np.float32), "floor")], []
    nodes.append(helper.make_node("Pad", ["x", "pads"], ["padded"]))
    nodes.append(helper.make_node("Reshape", ["padded", "shape_in"], ["h0"]))
    h, cin = "h0", 1
    for i, step in enumerate(PLAN):
        out = f"h{i + 1}"
        if step.startswith("pool"):
            k = [int(v) for v in step[4:].split("x")]
            nodes.append(helper.make_node("MaxPool", [h], [out], kernel_shape=k, strides=k))
            h = out
            continue
        kh, kw = (int(v) for v in step.replace("last", "").split("x"))
        w = numpy_helper.from_array((rng.standard_normal((C, cin, kh, kw)) / np.sqrt(cin * kh * kw)).astype(
            np.float32), f"w{i}")
        inits.append(w)
        attrs = {"kernel_shape": [kh, kw]}
        if kw == 3 and kh == 1:
            attrs["pads"] = [0, 1, 0, 1]
        if i == 0 or step.startswith("last"):  # a bare convolution, then Relu and BatchNormalization (first)
            nodes.append(helper.make_node("Conv", [h, f"w{i}"], [f"c{i}"], **attrs))
            if step.startswith("last"):
                nodes.append(helper.make_node("Reshape", [f"c{i}", "shape_out"], ["y"]))
                break
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
            bn = [numpy_helper.from_array(rng.uniform(0.5, 1.5, C).astype(np.float32), f"bn{i}_{j}")
                  for j in ("scale", "bias", "mean", "var")]
            inits.extend(bn)
            nodes.append(helper.make_node("BatchNormalization", [f"r{i}"] + [b.name for b in bn], [f"b{i}"],
                                          epsilon=1e-3))
            src = f"b{i}"
        else:
            inits.append(numpy_helper.from_array(rng.standard_normal(C).astype(np.float32) * 0.1, f"bias{i}"))
            nodes.append(helper.make_node("Conv", [h, f"w{i}", f"bias{i}"], [f"c{i}"], **attrs))
            src = f"c{i}"
        nodes.append(helper.make_node("LeakyRelu", [src], [f"l{i}"], alpha=0.2))
        nodes.append(helper.make_node("Max", [f"l{i}", "floor"], [out]))
        h, cin = out, C
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 76, 32, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 1, C])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class SpeechEmbeddingTests(unittest.TestCase):
    def test_one_pass_equals_the_sliding_windows_of_onnxruntime(self):
        model = small_network()
        net = SpeechEmbedding(model).eval()
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).standard_normal((1, 300, 32)).astype(np.float32)
        windows = np.stack([x[0, i : i + 76] for i in range(0, 300 - 75, 8)])[..., None]
        want = sess.run(None, {"x": windows})[0].reshape(-1, C)
        with torch.no_grad():
            got = net(torch.tensor(x))[0].numpy()
        self.assertEqual(got.shape, want.shape)  # (300 - 76) // 8 + 1 embeddings
        np.testing.assert_allclose(got, want, atol=1e-4)

    def test_a_file_that_is_not_the_network_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "embedding_model.onnx"
            onnx.save(small_network(), str(path))
            with self.assertRaises(SystemExit) as e:
                SpeechEmbedding.from_file(path)
            self.assertIn("SHA-256", str(e.exception))

    def test_batched_bands_equal_one_utterance_at_a_time(self):
        # padding an utterance in a batch must not change its bands nor its pooled embedding
        rng = np.random.default_rng(2)
        a = torch.tensor(rng.normal(60, 10, (1, 150, 40)), dtype=torch.float32)
        b = torch.tensor(rng.normal(70, 10, (1, 90, 40)), dtype=torch.float32)
        c = torch.tensor(rng.normal(65, 10, (1, 50, 40)), dtype=torch.float32)  # shorter than a window
        batch = torch.zeros(3, 150, 40)
        batch[0], batch[1, :90], batch[2, :50] = a[0], b[0], c[0]
        lengths = torch.tensor([150, 90, 50])
        head = EmbeddingHead(SpeechEmbedding(small_network()).eval()).eval()
        alone_b = scaled_bands(b, None)
        alone_c = scaled_bands(c, None)
        both = scaled_bands(batch, lengths)
        windows = head.encoder.tap_lengths(lengths.clamp_min(76), "embedding")
        self.assertEqual(windows.tolist(), [(150 - 76) // 8 + 1, (90 - 76) // 8 + 1, 1])
        # a long utterance gets no padding; a short one its silence level up to one window
        self.assertEqual(tuple(alone_b.shape), (1, 90, 32))
        self.assertEqual(tuple(alone_c.shape), (1, 76, 32))
        silence = float((c.max() - 80) / 10 + 2)
        torch.testing.assert_close(alone_c[0, 50:], torch.full((26, 32), silence))
        torch.testing.assert_close(both[1, :90], alone_b[0])
        torch.testing.assert_close(both[2, :76], alone_c[0])
        for head in (head, EmbeddingHead(head.encoder, taps=("block3", "block4")).eval(),
                     EmbeddingHead(head.encoder, taps=("block3", "block4"), pooling="halves").eval()):
            with torch.no_grad():
                batched = head.pooled(batch, lengths)
                for i, x in enumerate((a, b, c)):
                    torch.testing.assert_close(batched[i], head.pooled(x)[0], atol=1e-4, rtol=1e-4)

    def test_the_taps_read_the_network_where_it_says(self):
        net = SpeechEmbedding(small_network()).eval()
        self.assertEqual(net.tap_names(), ["block1", "block2", "block3", "block4", "block5", "embedding"])
        x = torch.tensor(np.random.default_rng(4).standard_normal((1, 300, 32)), dtype=torch.float32)
        with torch.no_grad():
            block3, block4, emb = net.taps(x, ("block3", "block4", "embedding"))
            # the embedding tap is the output, in the channel-first layout
            torch.testing.assert_close(emb[:, :, :, 0].transpose(1, 2), net(x))
            # block4 is block3 run on through the fourth block: the same values, whatever else is asked
            torch.testing.assert_close(net.taps(x, ("block4",))[0], block4)
        # 32 (+2 padding) bands halved by the pools of blocks 1, 2 and 3, then 4: C channels x 4, x 2 bins
        self.assertEqual(net.tap_widths(("block3", "block4", "embedding")), [4 * C, 2 * C, C])
        for name, a in (("block3", block3), ("block4", block4), ("embedding", emb)):
            self.assertEqual(int(net.tap_lengths(torch.tensor([300]), name)), a.shape[2], name)
        self.assertEqual(net.tap_lengths(torch.tensor([300, 76, 150]), "embedding").tolist(),
                         [(300 - 76) // 8 + 1, 1, (150 - 76) // 8 + 1])
        with self.assertRaises(ValueError) as e:
            net.taps(x, ("block9",))
        self.assertIn("block1, block2", str(e.exception))
        # the operations between two taps take one to the other (the fine-tuning
        # experiment runs them on), and a convolution given other weights uses them
        between = net.ops_between("block3", "block4")
        self.assertEqual([op[0] for op in between].count("conv"), 4)
        self.assertEqual(between[-1][0], "maxpool")
        with torch.no_grad():
            y = block3
            for op in between:
                y = net.step(op, y)
            torch.testing.assert_close(y, block4)
            first = next(op for op in between if op[0] == "conv")
            w, b = getattr(net, f"w{first[1]}"), getattr(net, f"b{first[1]}")
            torch.testing.assert_close(net.step(first, block3, (2 * w, 2 * b)), 2 * net.step(first, block3))
        # the pooled width: means then deviations of every value of every tap
        head = EmbeddingHead(net, hidden=0, taps=("block3", "block4"))
        self.assertEqual(head.mlp[0].in_features, 2 * 6 * C)
        with torch.no_grad():
            pooled = head.pooled(x)[0]  # of the front end's bands
            block3 = net.taps(scaled_bands(x, None), ("block3",))[0]
        flat3 = block3[0].transpose(0, 1).flatten(1)  # [T, C * F]
        torch.testing.assert_close(pooled[: 4 * C], flat3.mean(0))
        torch.testing.assert_close(pooled[6 * C: 10 * C], flat3.std(0, unbiased=False), atol=1e-5, rtol=1e-4)
        # columns() finds one tap's part: what a head reading only that tap pools
        with torch.no_grad():
            for wanted in (("block4",), ("block3",), ("block3", "block4")):
                alone = EmbeddingHead(net, hidden=0, taps=wanted).pooled(x)[0]
                torch.testing.assert_close(pooled[head.columns(wanted)], alone)

    def test_the_halves_are_each_half_of_the_utterance_after_the_whole(self):
        net = SpeechEmbedding(small_network()).eval()
        taps = ("block3", "block4")
        whole = EmbeddingHead(net, hidden=0, taps=taps)
        head = EmbeddingHead(net, hidden=0, taps=taps, pooling="halves")
        self.assertEqual(head.mlp[0].in_features, 3 * whole.mlp[0].in_features)
        x = torch.tensor(np.random.default_rng(8).normal(60, 10, (1, 331, 32)), dtype=torch.float32)
        with torch.no_grad():
            pooled = head.pooled(x)[0]
            # the whole utterance's values first, as a head pooling only those reads them
            torch.testing.assert_close(pooled[: 12 * C], whole.pooled(x)[0])
            for name, a in zip(taps, net.taps(scaled_bands(x, None), taps)):
                flat = a[0].transpose(0, 1).flatten(1)  # [T', C * F']
                h = flat.shape[0] // 2
                want = torch.cat([flat[:h].mean(0), flat[:h].std(0, unbiased=False),
                                  flat[h:].mean(0), flat[h:].std(0, unbiased=False)])
                # columns() finds each tap's halves as it finds its whole
                got = pooled[head.columns((name,))]
                self.assertEqual(len(got), 6 * flat.shape[1])
                torch.testing.assert_close(got[2 * flat.shape[1]:], want, atol=1e-5, rtol=1e-4)
                alone = EmbeddingHead(net, hidden=0, taps=(name,), pooling="halves").pooled(x)[0]
                torch.testing.assert_close(got, alone)
        # the graph the export carries pools by the input's own length
        heads = fusion.train_heads(net, pooled.numpy()[None].repeat(8, 0) + np.random.default_rng(9).normal(
            size=(8, len(pooled))).astype(np.float32), np.arange(8), 1e-2, 0, seeds=1, taps=taps, pooling="halves")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "head.onnx"
            fusion._quiet_export(heads, torch.randn(1, 120, 32) * 10 + 50, path, "log_probs")
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for t in (77, 331, 500):
                feats = np.random.default_rng(t).normal(60, 10, (1, t, 32)).astype(np.float32)
                with torch.no_grad():
                    np.testing.assert_allclose(sess.run(["log_probs"], {"features": feats})[0],
                                               heads(torch.tensor(feats)).numpy(), atol=1e-4)
        with self.assertRaises(ValueError) as e:
            EmbeddingHead(net, taps=taps, pooling="thirds")
        self.assertIn("whole, halves", str(e.exception))

    def test_a_head_on_early_taps_exports_only_the_network_it_reads(self):
        encoder = SpeechEmbedding(small_network()).eval()
        x = np.random.default_rng(5).normal(size=(24, 2 * 6 * C)).astype(np.float32)
        heads = fusion.train_heads(encoder, x, np.arange(24) % 8, 1e-2, 0, seeds=1, taps=("block3", "block4"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "head.onnx"
            fusion._quiet_export(heads, torch.randn(1, 120, 40) * 10 + 50, path, "log_probs")
            convs = sum(n.op_type == "Conv" for n in onnx.load(str(path)).graph.node)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feats = np.random.default_rng(6).normal(60, 10, (1, 200, 40)).astype(np.float32)
            got = sess.run(["log_probs"], {"features": feats})[0]
        # the fourth block ends at the 15th of the network's 20 convolutions
        self.assertEqual(convs, 15)
        with torch.no_grad():
            np.testing.assert_allclose(got, heads(torch.tensor(feats)).numpy(), atol=1e-4)


class HeadMixupTests(unittest.TestCase):
    def test_a_head_trained_with_mixup_learns_the_classes_and_is_reproducible(self):
        encoder = SpeechEmbedding(small_network()).eval()
        rng = np.random.default_rng(7)
        y = np.arange(160) % 8
        centres = rng.normal(size=(8, 2 * C)) * 3
        x = (centres[y] + rng.normal(size=(160, 2 * C))).astype(np.float32)
        probs = {}
        for alpha in (0.0, 0.4):
            heads = fusion.train_heads(encoder, x, y, 1e-2, 0, seeds=2, mixup=alpha)
            probs[alpha] = fusion.head_log_probs(heads, x).exp()
            self.assertEqual((probs[alpha].argmax(1).numpy() == y).mean(), 1.0, f"mixup {alpha}")
        # it trains on other rows than the plain head (blends of two), so it is another head
        self.assertGreater(float((probs[0.4] - probs[0.0]).abs().max()), 1e-3)
        # and the same seeds give the same heads
        again = fusion.train_heads(encoder, x, y, 1e-2, 0, seeds=2, mixup=0.4)
        torch.testing.assert_close(fusion.head_log_probs(again, x).exp(), probs[0.4])


class FusedExportTests(unittest.TestCase):
    def test_the_fused_graph_is_its_parts_and_says_so(self):
        torch.manual_seed(0)
        own_cfg = {**DEFAULT_FEATURE_CONFIG, "kind": "logmel", "pitch": True}
        cfg = {**own_cfg, "speech_embedding": True}
        n_own = data.feature_width(own_cfg)
        self.assertEqual(data.feature_width(cfg), n_own + 32)
        with tempfile.TemporaryDirectory() as tmp:
            own_path = export_onnx(nets.build("crnn", n_own).eval(), Path(tmp) / "own.onnx", own_cfg, "own-1",
                                   "test", 0.9, priors.correction(np.array([1, 2, 2, 2, 2, 2, 2, 2]) / 15))
            encoder = SpeechEmbedding(small_network()).eval()
            x = np.random.default_rng(3).normal(size=(40, 2 * C)).astype(np.float32)
            heads = fusion.train_heads(encoder, x, np.arange(40) % 8, 1e-2, 16, seeds=2)
            path = fusion.export(own_path, heads, 0.8, 1.1, cfg, "fused-1", "a test", Path(tmp) / "fused.onnx")
            meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
            self.assertEqual(json.loads(meta["ser.features"]), cfg)
            self.assertEqual(meta["ser.version"], "fused-1")
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            self.assertEqual(sess.get_inputs()[0].shape[2], n_own + 32)
            # (export itself checks the graph against its parts; here: a valid distribution on a short input)
            p = sess.run(["probs"], {"features": np.full((1, 5, n_own + 32), 50.0, np.float32)})[0]
            self.assertAlmostEqual(float(p.sum()), 1.0, places=5)
            with self.assertRaises(SystemExit):  # an own model for other features is refused
                fusion.export(own_path, heads, 0.8, 1.1, {**cfg, "n_mels": 40}, "x", "x", Path(tmp) / "bad.onnx")


class RecipeFromCvTests(unittest.TestCase):
    def test_the_modal_head_the_median_weight_and_the_held_out_temperature(self):
        folds = [{"head": {"weight_decay": wd, "hidden": h}, "fusion_weight": w, "temperature": t}
                 for wd, h, w, t in [(3.0, 0, 0.7, 0.82), (10.0, 256, 0.6, 0.71), (10.0, 256, 0.7, 0.92)]]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.json"
            path.write_text(json.dumps({"folds": folds, "temperature_held_out": 0.89}))
            # a report from before the taps were chosen: the head read the embeddings
            # and was trained without mixup
            # and pooled the whole utterance
            # and kept the network frozen
            # at the only learning rate there was
            self.assertEqual(fusion.recipe_from_cv(path),
                             ((10.0, 256), 0.7, 0.89, ("embedding",), 0.0, "whole", 0, tuning.TUNE_LR, 0.0, 0.0,
                              "block4"))
            path.write_text(json.dumps({"folds": folds, "temperature_held_out": 0.89,
                                        "fusion": {"head_taps": ["block3", "block4"], "head_mixup": 0.4,
                                                   "head_pooling": "halves"}}))
            recipe = fusion.recipe_from_cv(path)
            self.assertEqual((recipe.taps, recipe.mixup, recipe.pooling), (("block3", "block4"), 0.4, "halves"))
            path.write_text(json.dumps({"folds": folds}))  # a report from before the held-out fit
            self.assertEqual(fusion.recipe_from_cv(path).temperature, 0.82)
            # block 4 tuned for the folds' median number of epochs
            tuned = [{**f, "tune": {"epochs": e}} for f, e in zip(folds, (2, 5, 4))]
            path.write_text(json.dumps({"folds": tuned}))
            self.assertEqual(fusion.recipe_from_cv(path).tune_epochs, 4)
            # at the learning rate the report tuned with
            path.write_text(json.dumps({"folds": tuned, "fusion": {"tune_lr": 0.002}}))
            self.assertEqual(fusion.recipe_from_cv(path)[-5:], (4, 0.002, 0.0, 0.0, "block4"))
            # with the penalty and the mixup it tuned with
            path.write_text(json.dumps({"folds": tuned, "fusion": {"tune_lr": 0.002, "tune_l2sp": 0.01,
                                                                   "tune_mixup": 0.4, "tune_from": "block3"}}))
            self.assertEqual(fusion.recipe_from_cv(path)[-5:], (4, 0.002, 0.01, 0.4, "block3"))


class TuningTests(unittest.TestCase):
    """Fine-tuning block 4 (`ser_train.tuning`, `fuse-cv --tune-epochs`)."""

    @staticmethod
    def dump(lengths: list[int], seed: int) -> data.Features:
        rng = np.random.default_rng(seed)
        # each clip its own spectral tilt and loudness contour, so the clips differ as wholes
        feats = np.concatenate([60 + rng.normal(0, 5) * np.linspace(-1, 1, 32)[None, :]
                                + rng.normal(0, 10) * np.sin(np.linspace(0, rng.uniform(1, 6), n))[:, None]
                                + rng.normal(0, 10, (n, 32)) for n in lengths]).astype(np.float32)
        offsets = np.cumsum([0, *lengths])
        items = [data.Item(f"clip{i}.wav", 1 + i % 4, i % 8, 0, int(o), n)
                 for i, (o, n) in enumerate(zip(offsets, lengths))]
        return data.Features(feats, items, {"speech_embedding": True}, Path("/dumps/clean"))

    def test_the_sequences_pool_as_the_exported_head_does(self):
        encoder = SpeechEmbedding(small_network()).eval()
        feats = self.dump([40, 76, 90, 131, 200, 77], 1)  # shorter than one window too
        for pooling, first in (("whole", "block4"), ("halves", "block4"), ("halves", "block3")):
            seqs = fusion.frozen_sequences(encoder, feats, feats.items, pooling, first)
            # batches of mixed lengths
            got = seqs.all_pooled(tuning.TrainableBlocks(encoder, first), batch=4)
            want = fusion.pooled_embeddings(encoder, feats, feats.items, tuning.TAPS, pooling)
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4, err_msg=f"{pooling} {first}")
            # some rows only, in the order asked (what the tuning's refits read)
            np.testing.assert_allclose(seqs.all_pooled(tuning.TrainableBlocks(encoder, first), batch=4,
                                                       rows=np.array([4, 0, 2])), got[[4, 0, 2]], atol=1e-5, rtol=1e-5)
            # fuse-cv --tune-epochs takes its frozen values from the same sequences
            # (the frozen blocks run once), fuse-cv without it from the whole network
            np.testing.assert_allclose(fusion.frozen_values(encoder, feats, feats.items, tuning.TAPS, pooling, seqs),
                                       want, atol=1e-4, rtol=1e-4, err_msg=f"{pooling} {first}")
            np.testing.assert_array_equal(fusion.frozen_values(encoder, feats, feats.items, tuning.TAPS, pooling),
                                          want)
        # sequences of other items, or pooled otherwise, are refused rather than misread
        seqs = fusion.frozen_sequences(encoder, feats, feats.items[:4], "whole")
        with self.assertRaisesRegex(ValueError, "4 items pooled whole .* 6 items"):
            fusion.frozen_values(encoder, feats, feats.items, tuning.TAPS, "whole", seqs)
        with self.assertRaisesRegex(ValueError, "pooled halves"):
            fusion.frozen_values(encoder, feats, feats.items[:4], tuning.TAPS, "halves", seqs)

    def test_the_tuned_block_is_the_one_the_graph_runs(self):
        encoder = SpeechEmbedding(small_network()).eval()
        block = tuning.TrainableBlocks(encoder)
        x = torch.tensor(np.random.default_rng(2).normal(60, 10, (1, 150, 32)), dtype=torch.float32)
        with torch.no_grad():
            a2, a3, a4 = encoder.taps(scaled_bands(x, None), ("block2", *tuning.TAPS))
            torch.testing.assert_close(block(a3), [a3, a4])  # untouched: the frozen block
            # from block 3: its convolutions learn too, and block 3's tap comes out of them
            both = tuning.TrainableBlocks(encoder, "block3")
            torch.testing.assert_close(both(a2), [a3, a4])
            self.assertEqual(both.convs[len(both.convs) - len(block.convs):], block.convs)
            self.assertGreater(len(both.convs), len(block.convs))
            for w in [*block.weights, *both.weights]:
                w.mul_(1.5)
            tuned = tuning.tuned_encoder(encoder, block)
            t3, t4 = tuned.taps(scaled_bands(x, None), tuning.TAPS)
            torch.testing.assert_close(t3, a3)  # blocks 1-3 stay as they were
            torch.testing.assert_close(t4, block(a3)[1])
            self.assertGreater(float((t4 - a4).abs().max()), 1e-3)
            u2, u3, u4 = tuning.tuned_encoder(encoder, both).taps(scaled_bands(x, None), ("block2", *tuning.TAPS))
            torch.testing.assert_close(u2, a2)  # blocks 1-2 stay as they were
            torch.testing.assert_close([u3, u4], both(a2))
            self.assertGreater(float((u3 - a3).abs().max()), 1e-3)
            # and the original is left alone
            torch.testing.assert_close(encoder.taps(scaled_bands(x, None), tuning.TAPS), [a3, a4])
        # the heads fuse-final saves carry the tuned block: loaded on the frozen network
        # (as make_parity_fixture.py does), they run the tuned one
        pooled = np.random.default_rng(3).normal(size=(16, 6 * 6 * C)).astype(np.float32)
        heads = fusion.train_heads(tuned, pooled, np.arange(16) % 8, 1e-2, 0, seeds=2, taps=tuning.TAPS,
                                   pooling="halves")
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(heads.state_dict(), Path(tmp) / "heads.pt")
            (Path(tmp) / "train.json").write_text(json.dumps({"head": {
                "taps": list(tuning.TAPS), "hidden": 0, "seeds": 2, "pooling": "halves"}}))
            loaded = fusion.load_heads(Path(tmp), SpeechEmbedding(small_network()).eval())
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), heads(x))
            torch.testing.assert_close(loaded.first.encoder.taps(scaled_bands(x, None), tuning.TAPS)[1], t4)

    @classmethod
    def tuning_setup(cls, n: int, seed: int, first: str = tuning.FIRST) -> tuple:
        """A small network, `n` clips' frozen sequences for tuning from
        `first`, their rows and labels, and a fitter of one linear head:
        what `tuning.tune` takes; then the clips."""
        encoder = SpeechEmbedding(small_network()).eval()
        feats = cls.dump([int(k) for k in np.random.default_rng(seed).integers(80, 160, n)], seed)
        y = np.array([it.label for it in feats.items])
        seqs = fusion.frozen_sequences(encoder, feats, feats.items, "whole", first)

        def fit(x: np.ndarray, labels: np.ndarray) -> fusion.HeadEnsemble:
            return fusion.train_heads(encoder, x, labels, 1e-2, 0, seeds=1, taps=tuning.TAPS)

        return encoder, seqs, np.arange(len(y)), y, fit, feats

    def test_tuning_moves_the_block_reproducibly_and_keeps_the_best_epoch(self):
        encoder, seqs, rows, y, fit, _ = self.tuning_setup(96, 3)

        # the block trains through a held copy of the head fitted on the frozen block's
        # values: a value that did not vary is divided by a floor instead of its 1e-6
        fitted = fit(seqs.all_pooled(tuning.TrainableBlocks(encoder)), y)
        flat = copy.deepcopy(fitted)
        flat.first.std[0] = 1e-9
        floored = tuning.held(flat)
        floor = tuning.STD_FLOOR * float(flat.first.std.median())
        self.assertAlmostEqual(float(floored.first.std[0]), floor, places=12)
        torch.testing.assert_close(floored.first.std[1:], flat.first.std[1:].clamp_min(floor))
        self.assertAlmostEqual(float(flat.first.std[0]), 1e-9, places=15)  # a copy: the fitted head is as it was
        self.assertFalse(any(q.requires_grad for q in floored.parameters()))
        # (whether it learns is the fuse-cv run's to say: this small network's values vary
        # by 1e-4, too sharp a loss for any step size to lower it here)
        block, epochs, losses, drifts = tuning.tune(encoder, seqs, rows, y, fit, 1, seed=0)
        self.assertEqual((epochs, losses), (1, []))  # no validation rows: every epoch, the last block

        def moved(b: tuning.TrainableBlocks) -> float:
            return max(float((w - v).detach().abs().max()) for w, v in zip(b.weights, tuning.TrainableBlocks(encoder).weights))

        self.assertGreater(moved(block), 1e-4)
        # the step is the one asked for: none leaves the block as it was, a larger one moves it further
        self.assertEqual(moved(tuning.tune(encoder, seqs, rows, y, fit, 1, seed=0, lr=0.0)[0]), 0.0)
        self.assertGreater(moved(tuning.tune(encoder, seqs, rows, y, fit, 1, seed=0, lr=10 * tuning.TUNE_LR)[0]),
                           2 * moved(block))
        block, _, _, _ = tuning.tune(encoder, seqs, rows, y, fit, 3, seed=0)
        again, _, _, _ = tuning.tune(encoder, seqs, rows, y, fit, 3, seed=0)
        for w, v in zip(block.weights, again.weights):
            torch.testing.assert_close(w, v)  # the same seed, the same block
        # with validation rows: every epoch's loss, and the block of the lowest
        best, epoch, losses, _ = tuning.tune(encoder, seqs, rows[:64], y[:64], fit, 3, seed=0,
                                             val_rows=rows[64:], y_val=y[64:])
        self.assertEqual(len(losses), 4)
        self.assertEqual(epoch, int(np.argmin(losses)))
        x = seqs.all_pooled(best)
        heads = fit(x[:64], y[:64])
        with torch.no_grad():
            val = float(F.nll_loss(heads.from_pooled(torch.tensor(x[64:])), torch.tensor(y[64:])))
        self.assertAlmostEqual(val, min(losses), places=5)

    def test_the_penalty_and_mixup_hold_the_block(self):
        encoder, seqs, rows, y, fit, _ = self.tuning_setup(64, 4)
        anchor = [p.detach().clone() for p in tuning.TrainableBlocks(encoder).parameters()]
        free, _, _, drifts = tuning.tune(encoder, seqs, rows, y, fit, 2, seed=0, lr=0.05)
        # every epoch's distance from the pretrained block, epoch 0 untouched
        self.assertEqual(len(drifts), 3)
        self.assertEqual(drifts[0], 0.0)
        self.assertAlmostEqual(drifts[-1], tuning.drift(free, anchor), places=6)
        moved = sum(float((p - a).detach().pow(2).sum()) for p, a in zip(free.parameters(), anchor)) ** 0.5
        self.assertAlmostEqual(drifts[-1], moved / sum(float(a.pow(2).sum()) for a in anchor) ** 0.5, places=6)
        self.assertGreater(drifts[-1], 0.0)
        # the penalty: alpha / 2 times the squared distance
        self.assertAlmostEqual(float(tuning.l2sp_penalty(free, anchor, 0.3)), 0.15 * moved ** 2, places=4)
        # a strong one keeps the block nearer the pretrained weights
        held, _, _, held_drifts = tuning.tune(encoder, seqs, rows, y, fit, 2, seed=0, lr=0.05, l2sp=1e4)
        self.assertLess(held_drifts[-1], 0.5 * drifts[-1])
        # mixup trains on other values: another block from the same seed
        mixed, _, _, _ = tuning.tune(encoder, seqs, rows, y, fit, 2, seed=0, lr=0.05, mixup=0.4)
        self.assertGreater(max(float((w - v).abs().max()) for w, v in zip(mixed.weights, free.weights)), 1e-6)

    def test_tuning_from_block_3_trains_both_blocks(self):
        encoder, seqs, rows, y, fit, feats = self.tuning_setup(48, 5, "block3")
        block, epochs, _, drifts = tuning.tune(encoder, seqs, rows, y, fit, 1, seed=0, lr=0.05)
        self.assertEqual((block.first, epochs), ("block3", 1))
        start = tuning.TrainableBlocks(encoder, "block3")
        moved = {k: float((w - v).detach().abs().max()) for k, w, v in zip(block.convs, block.weights, start.weights)}
        block4 = tuning.TrainableBlocks(encoder).convs
        self.assertGreater(min(v for k, v in moved.items() if k not in block4), 0.0)  # block 3's convolutions
        self.assertGreater(min(v for k, v in moved.items() if k in block4), 0.0)  # and block 4's
        self.assertGreater(drifts[-1], 0.0)
        # the exported network runs them: its pooled values are the tuned blocks'
        tuned = tuning.tuned_encoder(encoder, block)
        np.testing.assert_allclose(seqs.all_pooled(block),
                                   fusion.pooled_embeddings(tuned, feats, feats.items, tuning.TAPS, "whole"),
                                   atol=1e-4, rtol=1e-4)

    def test_mixed_loss_blends_rows_and_labels_alike(self):
        x = torch.randn(6, 4)
        y = torch.tensor([0, 1, 2, 3, 1, 2])

        def log_probs_of(v: torch.Tensor) -> torch.Tensor:
            return F.log_softmax(v, -1)

        # no mixup: the plain log-loss, and the generator left as it was
        rng = np.random.default_rng(0)
        torch.testing.assert_close(tuning.mixed_loss(log_probs_of, x, y, 0.0, rng), F.nll_loss(log_probs_of(x), y))
        self.assertEqual(rng.random(), np.random.default_rng(0).random())
        # with it: each row blended with the row the permutation gives, its loss against both labels
        got = tuning.mixed_loss(log_probs_of, x, y, 0.4, np.random.default_rng(1))
        rng = np.random.default_rng(1)
        lam = torch.tensor(rng.beta(0.4, 0.4, 6), dtype=x.dtype)
        other = torch.as_tensor(rng.permutation(6))
        want = 0.0
        for i in range(6):
            lp = log_probs_of(lam[i] * x[i] + (1 - lam[i]) * x[other[i]])
            want = want - (lam[i] * lp[y[i]] + (1 - lam[i]) * lp[y[other[i]]]) / 6
        torch.testing.assert_close(got, want)
        self.assertTrue(0 < float(lam.min()) and float(lam.max()) < 1)


class HeadCopiesTests(unittest.TestCase):
    @staticmethod
    def dump(perturbation: str, seed: int) -> data.Features:
        return data.Features(np.zeros((0, 1), np.float32), [], {}, Path(f"/dumps/{perturbation}{seed}"),
                             {"perturbation": perturbation, "seed": seed})

    def test_fuse_final_takes_the_copies_the_heads_were_chosen_with(self):
        rooms = [self.dump("random-room", s) for s in (1, 2)]
        recorded = fusion.copies_of(rooms)
        self.assertEqual(recorded, [{"dir": "/dumps/random-room1", "perturbation": "random-room", "seed": 1},
                                    {"dir": "/dumps/random-room2", "perturbation": "random-room", "seed": 2}])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.json"
            path.write_text(json.dumps({"fusion": {"head_extra_train": recorded}}))
            # the same copies from other directories pass
            fusion.check_head_copies(path, [self.dump("random-room", s) for s in (1, 2)])
            for other in ([self.dump("random", s) for s in (1, 2)], rooms[:1], rooms[::-1], []):
                with self.assertRaises(SystemExit) as e:
                    fusion.check_head_copies(path, other)
                self.assertIn(str(path), str(e.exception))
                self.assertIn("random-room seed 1, random-room seed 2", str(e.exception))
            # a report from before the heads' copies were recorded is not checked
            path.write_text(json.dumps({"fusion": {"head_taps": ["block3", "block4"]}}))
            fusion.check_head_copies(path, [])

    def test_a_fusion_report_says_which_copies_each_branch_trained_on(self):
        from ser_train import report
        own = [{"dir": "/o", "perturbation": "random", "seed": 1}]
        rooms = fusion.copies_of([self.dump("random-room", 1)])
        self.assertEqual(report._copies_lines({"extra_train": own, "fusion": {"head_extra_train": rooms}}),
                         ["- Augmented training copies of the own nets: `random` seed 1",
                          "- Augmented training copies of the speech-embedding heads: `random-room` seed 1"])
        self.assertEqual(report._copies_lines({"extra_train": own}), ["- Augmented training copies: `random` seed 1"])
        # and whether the heads read a tuned block 4, for how many epochs in each fold
        folds = [{"tune": {"epochs": e}} for e in (6, 0, 3)]
        self.assertEqual(report._tune_lines({"fusion": {"tune_epochs": 6}, "folds": folds}),
                         ["- Block 4 of the speech network fine-tuned on each fold's training actors, up to 6 "
                          "epochs, the epoch chosen on validation log-loss: kept 6 / 0 / 3 (folds in order; "
                          "0: frozen)"])
        self.assertEqual(report._tune_lines({"fusion": {"tune_epochs": 6, "tune_lr": 0.002}, "folds": folds}),
                         ["- Block 4 of the speech network fine-tuned on each fold's training actors, up to 6 "
                          "epochs at learning rate 0.002, the epoch chosen on validation log-loss: kept 6 / 0 / 3 "
                          "(folds in order; 0: frozen)"])
        # the holds on the block, and how far each fold's kept block moved
        moved = [{"tune": {"epochs": e, "drift": [0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.42]}} for e in (6, 0, 3)]
        self.assertEqual(report._tune_lines({"fusion": {"tune_epochs": 6, "tune_lr": 0.001, "tune_l2sp": 0.03,
                                                        "tune_mixup": 0.0}, "folds": moved}),
                         ["- Block 4 of the speech network fine-tuned on each fold's training actors, up to 6 "
                          "epochs at learning rate 0.001, L2-SP penalty 0.03, the epoch chosen on validation "
                          "log-loss: kept 6 / 0 / 3 (folds in order; 0: frozen)",
                          "- Distance of the kept block 4 from the pretrained weights (norm of the change over the "
                          "weights' norm): 42% / 0% / 30%"])
        self.assertIn("L2-SP penalty 0.03 and mixup alpha 0.4", report._tune_lines(
            {"fusion": {"tune_epochs": 6, "tune_l2sp": 0.03, "tune_mixup": 0.4}, "folds": folds})[0])
        # a rerun with other batches says so; the default draws are not worth a word
        self.assertIn("mixup alpha 0.4, batches drawn with seed 2, the epoch", report._tune_lines(
            {"fusion": {"tune_epochs": 6, "tune_mixup": 0.4, "tune_seed": 2}, "folds": folds})[0])
        self.assertNotIn("seed", report._tune_lines({"fusion": {"tune_epochs": 6, "tune_seed": 0}, "folds": folds})[0])
        self.assertEqual(report._tune_lines({"fusion": {"tune_epochs": 0}, "folds": folds}), [])
        self.assertEqual(report._tune_lines({"folds": folds}), [])


class FuseCvTests(unittest.TestCase):
    """`fuse-cv` (`fusion.evaluate_cv`) end to end: a small network, own nets
    of random weights saved as a CV run saves them, and a degraded copy."""

    N_OWN = 4

    @classmethod
    def dump(cls, seed: int, directory: str, perturbation: str = "clean") -> data.Features:
        rng = np.random.default_rng(0)  # the same clips in every copy; `seed` adds its own noise
        noise = np.random.default_rng(seed)
        items, parts, offset = [], [], 0
        for actor in folds.ALL_ACTORS:
            for i in range(8):
                n, label = int(rng.integers(60, 120)), i
                tilt = np.linspace(-1, 1, 32)[None, :] * (label - 3.5)  # each class its own spectral tilt
                bands = 60 + tilt + rng.normal(0, 4, (n, 32)) + noise.normal(0, 2, (n, 32))
                own = rng.normal(0, 1, (n, cls.N_OWN)) + 0.3 * label
                parts.append(np.concatenate([own, bands], axis=1))
                items.append(data.Item(f"{actor:02d}-{i}.wav", actor, label, 0, offset, n))
                offset += n
        config = {**DEFAULT_FEATURE_CONFIG, "speech_embedding": True}
        return data.Features(np.concatenate(parts).astype(np.float32), items, config, Path(directory),
                             {"perturbation": perturbation, "seed": seed})

    @classmethod
    def cv_run(cls, directory: Path, fold_ids: list[int], config: dict) -> Path:
        """A CV run's report and fold models, as `cv` writes them (the nets untrained)."""
        directory.mkdir()
        entries = []
        for k in fold_ids:
            torch.manual_seed(k)
            net = nets.build("crnn", cls.N_OWN, dropout=0.0).eval()
            torch.save({"state": net.state_dict(), "arch": "crnn", "n_features": cls.N_OWN, "dropout": 0.0,
                        "temperature": 1.0, "fold": k}, directory / f"fold-{k}.pt")
            train_a, val_a, test_a = folds.split(k, 4, 0)
            entries.append({"fold": k, "train_actors": train_a, "val_actors": val_a, "test_actors": test_a,
                            "best_epoch": 1, "ua": 0.125, "train_time_s": 1.0})
        (directory / "report.json").write_text(json.dumps({
            "feature_config": data.without_speech_embedding(config), "folds_done": fold_ids, "folds": entries,
            "recipe": {"seed": 0, "arch": "crnn", "max_epochs": 1}, "n_parameters": nets.n_parameters(net),
            "ua_mean": 0.125}))
        return directory

    def test_a_fold_scores_the_same_whether_other_folds_ran_before_it(self):
        # what each fold chooses (the head's setting, the epochs of tuning, the
        # weight, the temperature) must come from its own training and validation
        # actors: a value carried over from an earlier fold, whose tuned block
        # trained on this fold's test actors, is a leak
        clean = self.dump(0, "/dumps/clean")
        copies = [self.dump(1, "/dumps/aug1", "random")]
        noisy = {"noisy": self.dump(2, "/dumps/noisy", "white:10")}
        encoder = SpeechEmbedding(small_network()).eval()
        # a shorter head training and a smaller grid than the real run's, so the test takes seconds,
        # and a larger step for block 4 (--tune-lr), so a tuned fold's values differ clearly from the
        # frozen ones (this small network's barely move at the real step: a leak of them would go unseen)
        with tempfile.TemporaryDirectory() as tmp, mock.patch.multiple(
                fusion, HEAD_EPOCHS=40, HEAD_SEEDS=2, HEAD_GRID=[(1e-2, 0), (1.0, 0), (100.0, 0)]):
            tmp = Path(tmp)
            runs = {}
            for name, fold_ids in (("all", [1, 2, 3]), ("alone", [3])):
                cv = self.cv_run(tmp / f"cv-{name}", fold_ids, clean.feature_config)
                with mock.patch.object(tuning, "tune", wraps=tuning.tune) as tune:
                    rep = fusion.evaluate_cv(clean, [cv], encoder, tmp / f"fuse-{name}", copies, noisy,
                                             widths=(0,), tune_epochs=2, tune_lr=0.2, tune_l2sp=1e-6,
                                             tune_mixup=0.05)
                # fuse-final tunes at the same step, with the same holds
                self.assertEqual([rep["fusion"][k] for k in ("tune_lr", "tune_l2sp", "tune_mixup", "tune_from")],
                                 [0.2, 1e-6, 0.05, "block4"])
                # fold k's batches drawn with seed k (--tune-seed 0)
                self.assertEqual([c.kwargs["seed"] for c in tune.call_args_list], fold_ids)
                self.assertEqual(rep["fusion"]["tune_seed"], 0)
                runs[name] = {f["fold"]: f for f in rep["folds"]}
                self.assertTrue((tmp / f"fuse-{name}" / "report.md").is_file())
        self.assertEqual(sorted(runs["all"]), [1, 2, 3])
        after, alone = runs["all"][3], runs["alone"][3]
        self.assertGreater(alone["tune"]["epochs"] + runs["all"][2]["tune"]["epochs"], 0)  # a block was tuned
        # every setting's validation log-loss, on the frozen values and on the tuned ones
        for losses in (lambda f: f["tune"]["grid_frozen"], lambda f: f["head"]["grid"]):
            np.testing.assert_allclose(losses(after), losses(alone), rtol=1e-6)
        for key in ("head", "tune"):
            self.assertEqual({**after[key], "grid": None, "grid_frozen": None},
                             {**alone[key], "grid": None, "grid_frozen": None}, key)
        for key in ("fusion_weight", "confusion", "val_robustness", "robustness"):
            self.assertEqual(after[key], alone[key], key)
        for key in ("ua", "wa", "val_ua", "temperature", "ece"):
            self.assertAlmostEqual(after[key], alone[key], places=6, msg=key)
        # and the run did something: the head learned the classes' tilts
        self.assertGreater(alone["part_ua"]["embedding"], 0.3)

    def test_another_tune_seed_draws_other_batches_and_says_so(self):
        clean = self.dump(0, "/dumps/clean")
        encoder = SpeechEmbedding(small_network()).eval()
        with tempfile.TemporaryDirectory() as tmp, mock.patch.multiple(
                fusion, HEAD_EPOCHS=20, HEAD_SEEDS=1, HEAD_GRID=[(1.0, 0)]):
            tmp = Path(tmp)
            cv = self.cv_run(tmp / "cv", [2], clean.feature_config)
            losses = {}
            for seed in (0, 3):
                with mock.patch.object(tuning, "tune", wraps=tuning.tune) as tune:
                    rep = fusion.evaluate_cv(clean, [cv], encoder, tmp / f"fuse-{seed}", [], {}, widths=(0,),
                                             tune_epochs=1, tune_lr=0.2, tune_seed=seed)
                self.assertEqual(rep["fusion"]["tune_seed"], seed)
                self.assertEqual([c.kwargs["seed"] for c in tune.call_args_list], [100 * seed + 2])
                losses[seed] = rep["folds"][0]["tune"]["val_log_loss"][1]
            # the same step from other batches ends elsewhere
            self.assertNotAlmostEqual(losses[0], losses[3], places=4)


class FuseFinalTests(unittest.TestCase):
    """`fuse-final` (`fusion.final`): the recipe a `fuse-cv` report fixed,
    trained on every actor and exported as one graph."""

    @staticmethod
    def report(path: Path, epochs: tuple[int, ...], copies: list[data.Features]) -> Path:
        # (a step of 0.005: block 4 moves clearly; at 0.2 this small network's values near
        # constants, and standardising them amplifies float rounding past export's 1e-4 check)
        folds = [{"head": {"weight_decay": wd, "hidden": 0}, "fusion_weight": w, "temperature": 0.8,
                  "tune": {"epochs": e}} for wd, w, e in zip((1e-2, 1.0, 1e-2), (0.3, 0.6, 0.5), epochs)]
        path.write_text(json.dumps({"folds": folds, "temperature_held_out": 1.2, "fusion": {
            "head_taps": list(tuning.TAPS), "head_mixup": 0.0, "head_pooling": "halves", "tune_epochs": max(epochs),
            "tune_lr": 0.005, "tune_l2sp": 0.0, "tune_mixup": 0.0, "tune_from": "block4",
            "head_extra_train": fusion.copies_of(copies)}}))
        return path

    def test_the_shipped_graph_is_the_recipe_trained_on_every_actor(self):
        clean = FuseCvTests.dump(0, "/dumps/clean")
        copies = [FuseCvTests.dump(1, "/dumps/aug1", "random")]
        own_cfg = data.without_speech_embedding(clean.feature_config)
        n_own = data.feature_width(own_cfg)
        # (the dumps hold FuseCvTests.N_OWN own columns; the graph takes the feature
        # config's, as the daemon gives it)
        x = torch.randn(1, 150, n_own + 32, generator=torch.Generator().manual_seed(4)) * 8 - 40
        x[..., n_own:] += 100  # the bands: dB of int16-scaled power
        with torch.no_grad():
            frozen4 = SpeechEmbedding(small_network()).eval().taps(scaled_bands(x[..., n_own:], None), tuning.TAPS)[1]
        with tempfile.TemporaryDirectory() as tmp, mock.patch.multiple(fusion, HEAD_EPOCHS=40, HEAD_SEEDS=2):
            tmp = Path(tmp)
            torch.manual_seed(0)
            own_path = export_onnx(nets.build("crnn", n_own).eval(), tmp / "own.onnx", own_cfg, "own-1", "test")
            own = ort.InferenceSession(str(own_path), providers=["CPUExecutionProvider"])
            for name, epochs in (("frozen", (0, 0, 0)), ("tuned", (1, 3, 2))):
                out = tmp / name
                path = fusion.final(clean, copies, SpeechEmbedding(small_network()).eval(), own_path,
                                    self.report(tmp / f"{name}.json", epochs, copies), "fused-1", "a test", out)
                info = json.loads((out / "train.json").read_text())
                # the modal head, the median weight and epochs, the held-out temperature,
                # every actor's clean and augmented clips
                self.assertEqual((info["head"]["weight_decay"], info["head"]["hidden"], info["fusion_weight"],
                                  info["temperature"], info["head"]["tune_epochs"]),
                                 (1e-2, 0, 0.5, 1.2, 2 if name == "tuned" else 0))
                self.assertEqual(info["head"]["tune_lr"], 0.005 if name == "tuned" else None)
                self.assertEqual(info["actors"], folds.ALL_ACTORS)
                self.assertEqual(info["n_segments"], 2 * len(clean.items))
                self.assertEqual(info["extra_train"], fusion.copies_of(copies))
                # the graph is the own model and the saved heads (the network they carry), fused and tempered
                heads = fusion.load_heads(out, SpeechEmbedding(small_network()).eval())
                with torch.no_grad():
                    emb = heads(x).numpy()
                    block4 = heads.first.encoder.taps(scaled_bands(x[..., n_own:], None), tuning.TAPS)[1]
                own_lp = np.log(own.run(["probs"], {"features": x[..., :n_own].numpy()})[0])
                want = torch.softmax(torch.tensor(0.5 * own_lp + 0.5 * emb) / 1.2, -1).numpy()
                got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
                    ["probs"], {"features": x.numpy()})[0]
                np.testing.assert_allclose(got, want, atol=1e-4)
                # block 4 learnt for the tuned recipe only
                moved = float((block4 - frozen4).abs().max())
                if name == "tuned":
                    self.assertGreater(moved, 1e-3)
                else:
                    self.assertEqual(moved, 0.0)


if __name__ == "__main__":
    unittest.main()
