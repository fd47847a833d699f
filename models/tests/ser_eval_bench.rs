//! `ser-eval` and `ser-bench` run for real on a few RAVDESS clips.

mod common;

use std::path::PathBuf;
use std::process::Command;

use ser_models::analysis::{analyze_samples, argmax};
use ser_models::perturb::Rng;
use ser_models::{decode_file, Classifier, Perturbation, Perturber, SegmenterConfig, LABELS};
use serde_json::Value;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.onnx")
}

/// What `ser-eval` judges a file's samples to be, through the library: the
/// analysis verdict, or the whole file classified when it has no speech.
fn library_verdict(c: &Classifier, samples: &[f32]) -> [f32; 8] {
    let a = analyze_samples(c, samples, &SegmenterConfig::default()).unwrap();
    a.verdict.unwrap_or_else(|| c.classify(samples).unwrap())
}

fn run(bin: &str, args: &[&std::ffi::OsStr]) -> Value {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ser_eval_reports_the_confusion_of_the_analysis_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let rav = common::ravdess_dir();
    let clips = [
        ("Actor_01/03-01-05-01-01-01-01.wav", "angry"),
        ("Actor_02/03-01-03-02-02-01-02.wav", "happy"),
        ("Actor_11/03-01-04-01-01-02-11.wav", "sad"),
        ("Actor_24/03-01-01-01-02-02-24.wav", "neutral"),
    ];
    let silent = dir.path().join("silent.wav");
    common::write_wav(&silent, 16_000, 1, [0i16; 8000]);
    let mut csv = String::new();
    for (c, l) in clips {
        csv += &format!("{},{l}\n", rav.join(c).display());
    }
    csv += "silent.wav,calm\nmissing.wav,calm\n";
    let csv_path = dir.path().join("set.csv");
    std::fs::write(&csv_path, csv).unwrap();

    let r = run(
        env!("CARGO_BIN_EXE_ser-eval"),
        &[
            "--data".as_ref(),
            csv_path.as_os_str(),
            "--model".as_ref(),
            tiny().as_os_str(),
            "--json".as_ref(),
        ],
    );
    assert_eq!(r["model_version"], "tiny-1");
    assert_eq!(r["files"], 6);
    assert_eq!(r["evaluated"], 5);
    assert_eq!(r["no_speech_files"], 1);
    assert_eq!(r["failed"].as_array().unwrap().len(), 1);
    // Every evaluated file's verdict, in the CSV's order; the silent one
    // classified whole.
    let preds = r["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 5);
    assert_eq!(preds[4]["path"], "silent.wav");
    assert_eq!(preds[4]["label"], "calm");
    assert_eq!(preds[4]["no_speech"], true);
    assert!(preds[..4].iter().all(|p| p["no_speech"] == false));

    // The same predictions through the library.
    let c = Classifier::from_path(tiny()).unwrap();
    let mut confusion = [[0u64; 8]; 8];
    let labelled = clips
        .iter()
        .map(|(p, l)| (rav.join(p), *l))
        .chain([(silent.clone(), "calm")]);
    for (path, label) in labelled {
        let audio = decode_file(&path).unwrap();
        let p = library_verdict(&c, &audio.samples);
        confusion[ser_models::labels::label_index(label).unwrap()][argmax(&p).0] += 1;
    }
    let got: Vec<Vec<u64>> = serde_json::from_value(r["confusion"].clone()).unwrap();
    assert_eq!(got, confusion.map(|r| r.to_vec()).to_vec());
    let correct: u64 = (0..8).map(|i| confusion[i][i]).sum();
    assert!((r["wa"].as_f64().unwrap() - correct as f64 / 5.0).abs() < 1e-9);
    // UA: mean recall over the classes present (angry, happy, sad, neutral, calm).
    let ua: f64 = [0, 1, 2, 3, 4]
        .iter()
        .map(|&i| confusion[i][i] as f64 / confusion[i].iter().sum::<u64>() as f64)
        .sum::<f64>()
        / 5.0;
    assert!((r["ua"].as_f64().unwrap() - ua).abs() < 1e-9);
    assert_eq!(r["recall"][5], Value::Null);
}

#[test]
fn ser_bench_reports_every_stage() {
    let rav = common::ravdess_dir();
    let r = run(
        env!("CARGO_BIN_EXE_ser-bench"),
        &[
            "--data".as_ref(),
            rav.as_os_str(),
            "--limit".as_ref(),
            "3".as_ref(),
            "--json".as_ref(),
        ],
    );
    assert_eq!(r["files"], 3);
    assert_eq!(r["failed"], 0);
    assert!(r["utterances"].as_u64().unwrap() >= 3);
    assert!(r["audio_s"].as_f64().unwrap() > 6.0);
    for s in ["decode", "segment", "features", "inference", "total"] {
        assert!(r[s]["seconds"].as_f64().unwrap() > 0.0, "{s}");
        assert!(r[s]["x_realtime"].as_f64().unwrap() > 0.0, "{s}");
    }
    assert_eq!(r["model"], "<embedded>");
    // the real binary carries ser's kernel choice for symbolic lengths
    assert_eq!(r["kernels"], "ser-symbolic-length");
}

#[test]
fn ser_eval_perturb_scores_the_degraded_audio_and_refuses_training_mixes() {
    let dir = tempfile::tempdir().unwrap();
    let rav = common::ravdess_dir();
    let clips = [
        ("Actor_03/03-01-05-02-01-01-03.wav", "angry"),
        ("Actor_04/03-01-04-02-02-02-04.wav", "sad"),
        ("Actor_05/03-01-07-01-01-01-05.wav", "disgust"),
    ];
    let csv_path = dir.path().join("set.csv");
    let csv: String = clips
        .iter()
        .map(|(c, l)| format!("{},{l}\n", rav.join(c).display()))
        .collect();
    std::fs::write(&csv_path, csv).unwrap();
    let args = |spec: &str| {
        [
            "--data".into(),
            csv_path.clone().into_os_string(),
            "--perturb".into(),
            spec.into(),
            "--seed".into(),
            "7".into(),
            "--json".into(),
        ]
    };
    let a = args("babble:10");
    let refs: Vec<&std::ffi::OsStr> = a.iter().map(|s| s.as_os_str()).collect();
    let r = run(env!("CARGO_BIN_EXE_ser-eval"), &refs);
    assert_eq!(r["perturbation"], "babble:10");
    assert_eq!(r["evaluated"], 3);

    // The library's verdicts on the same files with the same babble (mixed
    // from the set's own files) seeded from each path as the CSV writes it.
    // (The shipped model: the tiny one's probabilities barely move.)
    let c = Classifier::embedded().unwrap();
    let babble: Perturbation = "babble:10".parse().unwrap();
    let paths: Vec<PathBuf> = clips.iter().map(|(p, _)| rav.join(p)).collect();
    let perturber = Perturber::for_files(babble, &paths, 7).unwrap();
    let preds = r["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3);
    for ((path, (_, label)), got) in paths.iter().zip(clips).zip(preds) {
        let audio = decode_file(path).unwrap();
        let rel = path.display().to_string();
        let noisy = perturber
            .apply(babble, &audio.samples, Rng::seed_from(&rel, 7))
            .unwrap();
        let want = library_verdict(&c, &noisy);
        let clean = library_verdict(&c, &audio.samples);
        let probs: Vec<f32> = serde_json::from_value(got["probabilities"].clone()).unwrap();
        let off = |p: &[f32; 8]| (0..8).map(|i| (probs[i] - p[i]).abs()).fold(0f32, f32::max);
        assert!(off(&want) < 1e-6, "{rel}: {probs:?} against {want:?}");
        // The babble changed what the model heard.
        assert!(off(&clean) > 1e-3, "{rel}: the same as the clean file's");
        assert_eq!(got["path"], rel.as_str());
        assert_eq!(got["label"], label);
        assert_eq!(got["predicted"], LABELS[argmax(&want).0]);
        assert_eq!(got["no_speech"], false);
    }

    // `random` mixes degradations for training copies: not a test condition.
    let a = args("random");
    let out = Command::new(env!("CARGO_BIN_EXE_ser-eval"))
        .args(&a)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is for training augmentation"), "{err}");
}
