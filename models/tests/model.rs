//! Loading and running models: the embedded one, a tiny hand-checkable one
//! and broken ones (all made by `tests/fixtures/make_tiny_model.py`).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use ser_models::features::{FeatureKind, Features};
use ser_models::model::{Classifier, EMBEDDED_SOURCE, MIN_FRAMES};
use ser_models::{Error, FeatureConfig, LABELS};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The tiny model by hand: mean over frames, then W, b, softmax.
fn tiny_by_hand(f: &Features) -> [f32; 8] {
    let mut mean = vec![0f64; f.dim];
    for row in f.rows() {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v) / f.frames as f64;
        }
    }
    let mut logits = [0f64; 8];
    for (j, l) in logits.iter_mut().enumerate() {
        *l = 0.1 * j as f64;
        for (i, m) in mean.iter().enumerate() {
            *l += m * (((i * 8 + j) % 7) as f64 - 3.0) * 0.05;
        }
    }
    let max = logits.iter().cloned().fold(f64::MIN, f64::max);
    let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
    logits.map(|l| ((l - max).exp() / z) as f32)
}

fn assert_close(a: &[f32; 8], b: &[f32; 8], tol: f32) {
    for i in 0..8 {
        assert!((a[i] - b[i]).abs() <= tol, "class {i}: {a:?} vs {b:?}");
    }
}

#[test]
fn embedded_model_loads_and_classifies_speech() {
    let c = Classifier::embedded().unwrap();
    let info = c.info();
    assert_eq!(info.source, EMBEDDED_SOURCE);
    assert_eq!(info.labels, LABELS);
    assert!(!info.version.is_empty());
    let speech = common::clip("Actor_01/03-01-05-01-01-01-01.wav");
    let p = c.classify(&speech).unwrap();
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    // Too short and empty inputs are padded, never an error.
    for n in [0, 1, 160, 1000] {
        let p = c.classify(&speech[..n]).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "n={n}: {p:?}");
    }
}

#[test]
fn tiny_model_computes_what_it_should() {
    let c = Classifier::from_path(fixture("tiny.onnx")).unwrap();
    assert_eq!(c.info().version, "tiny-1");
    assert_eq!(c.info().description, "tiny test model");
    assert_eq!(c.info().features, FeatureConfig::default());
    assert!(c.info().source.ends_with("tiny.onnx"));

    let speech = common::clip("Actor_02/03-01-03-02-02-01-02.wav");
    let feats = c.extractor().extract(&speech);
    assert_close(&c.classify(&speech).unwrap(), &tiny_by_hand(&feats), 1e-5);
    assert_close(
        &c.classify_features(&feats).unwrap(),
        &tiny_by_hand(&feats),
        1e-5,
    );

    // A 3-frame input is padded to MIN_FRAMES by repeating its frames.
    let short = c.extractor().extract(&speech[16_000..16_000 + 400]);
    assert_eq!(short.frames, 3);
    let padded = Features {
        frames: MIN_FRAMES,
        dim: short.dim,
        data: short
            .data
            .iter()
            .copied()
            .cycle()
            .take(MIN_FRAMES * short.dim)
            .collect(),
    };
    assert_close(
        &c.classify_features(&short).unwrap(),
        &tiny_by_hand(&padded),
        1e-5,
    );

    // Wrong feature dimension is an error, not a panic.
    let wrong = Features {
        frames: 2,
        dim: 3,
        data: vec![0.0; 6],
    };
    assert!(matches!(
        c.classify_features(&wrong),
        Err(Error::Inference(_))
    ));
}

#[test]
fn model_features_config_is_honoured() {
    let c = Classifier::from_path(fixture("tiny_logmel.onnx")).unwrap();
    let cfg = &c.info().features;
    assert_eq!(
        (cfg.kind, cfg.cmvn, cfg.dim()),
        (FeatureKind::Logmel, true, 64)
    );
    assert_eq!(c.extractor().config(), cfg);
    let speech = common::clip("Actor_01/03-01-05-01-01-01-01.wav");
    let feats = c.extractor().extract(&speech);
    assert_eq!(feats.dim, 64);
    assert_close(&c.classify(&speech).unwrap(), &tiny_by_hand(&feats), 1e-5);
}

#[test]
fn one_classifier_serves_many_threads() {
    let c = Arc::new(Classifier::from_path(fixture("tiny.onnx")).unwrap());
    let speech = Arc::new(common::clip("Actor_01/03-01-05-01-01-01-01.wav"));
    let want = c.classify(&speech).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (c, speech) = (c.clone(), speech.clone());
            std::thread::spawn(move || {
                let part = &speech[i * 1000..];
                (c.classify(part).unwrap(), c.classify(&speech).unwrap())
            })
        })
        .collect();
    for h in handles {
        let (_, whole) = h.join().unwrap();
        assert_eq!(whole, want);
    }
}

#[test]
fn broken_models_are_refused_with_the_reason() {
    let cases = [
        ("bad_no_metadata.onnx", "missing metadata \"ser.labels\""),
        ("bad_labels_order.onnx", "ser.labels"),
        ("bad_labels_json.onnx", "not a JSON array"),
        ("bad_no_version.onnx", "missing metadata \"ser.version\""),
        ("bad_features_unknown_field.onnx", "preemphasis"),
        ("bad_features_rate.onnx", "sample_rate"),
        ("bad_input_dim.onnx", "[1, T, 40]"),
        ("bad_output_classes.onnx", "not [1, 8]"),
        ("bad_input_name.onnx", "not \"features\""),
        ("bad_not_onnx.onnx", "not a readable ONNX model"),
    ];
    for (name, want) in cases {
        let path = fixture(name);
        let err = Classifier::from_path(&path).expect_err(name);
        let msg = err.to_string();
        assert!(matches!(err, Error::Model { .. }), "{name}: {err:?}");
        assert!(msg.contains(&path.display().to_string()), "{name}: {msg}");
        assert!(msg.contains(want), "{name}: {msg:?} lacks {want:?}");
    }
    let dir = fixture("");
    assert!(matches!(
        Classifier::from_path(&dir),
        Err(Error::NotAFile { .. })
    ));
    assert!(matches!(
        Classifier::from_path(fixture("missing.onnx")),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn analysis_combines_segments_by_duration() {
    use ser_models::analysis::{analyze_file, analyze_samples};
    use ser_models::SegmenterConfig;
    let c = Classifier::from_path(fixture("tiny.onnx")).unwrap();
    let cfg = SegmenterConfig::default();
    let a_clip = common::clip("Actor_01/03-01-05-01-01-01-01.wav");
    let b_clip = common::clip("Actor_02/03-01-03-02-02-01-02.wav");
    let mut x = vec![0.0; 16_000];
    x.extend(&a_clip);
    x.extend(vec![0.0; 24_000]);
    x.extend(&b_clip);
    x.extend(vec![0.0; 16_000]);
    let a = analyze_samples(&c, &x, &cfg).unwrap();
    assert_eq!(a.segments.len(), 2, "{:?}", a.segments);
    assert!((a.duration_s - x.len() as f64 / 16_000.0).abs() < 1e-9);
    let utts = ser_models::segment_all(&x, &cfg).unwrap();
    let mut want = [0f64; 8];
    let mut total = 0.0;
    for (s, u) in a.segments.iter().zip(&utts) {
        assert_eq!((s.start_s, s.end_s), (u.start_s(), u.end_s()));
        assert_eq!(s.probs, c.classify(&u.samples).unwrap());
        for (w, p) in want.iter_mut().zip(s.probs) {
            *w += u.duration_s() * f64::from(p);
        }
        total += u.duration_s();
    }
    let v = a.verdict.unwrap();
    for (got, w) in v.iter().zip(want) {
        assert!((f64::from(*got) - w / total).abs() < 1e-6);
    }
    // The same audio in a file, streamed through the segmenter a read at a
    // time: the very same analysis.
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("two.wav");
    common::write_wav(&wav, 16_000, 1, x.iter().copied());
    assert_eq!(analyze_file(&c, &wav, &cfg).unwrap(), a);
    // Silence: no segments, no verdict.
    let s = analyze_samples(&c, &vec![0.0; 48_000], &cfg).unwrap();
    assert!(s.segments.is_empty() && s.verdict.is_none());
    assert!((s.duration_s - 3.0).abs() < 1e-9);
    // A file: its own duration.
    let path = common::ravdess_dir().join("Actor_01/03-01-05-01-01-01-01.wav");
    let f = analyze_file(&c, &path, &cfg).unwrap();
    assert_eq!(f.segments.len(), 1);
    assert!((f.duration_s - a_clip.len() as f64 / 16_000.0).abs() < 1e-6);
}
