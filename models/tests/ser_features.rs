//! `ser-features` end to end: a CSV data set in a temp dir, the real binary,
//! and its .npy + index.json read back and checked against the library.

mod common;

use std::process::Command;

use ser_models::perturb::Rng;
use ser_models::{
    segment_all, FeatureConfig, FeatureExtractor, FeatureKind, Perturbation, Perturber,
    SegmenterConfig,
};
use serde_json::Value;

/// Parse a 2-D little-endian float32 .npy v1 file.
fn read_npy(bytes: &[u8]) -> (usize, usize, Vec<f32>) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "header not padded to 64 bytes");
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.ends_with('\n'));
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let shape = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let dims: Vec<usize> = shape
        .split(',')
        .map(|d| d.trim().parse().unwrap())
        .collect();
    let data: Vec<f32> = bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data.len(), dims[0] * dims[1]);
    (dims[0], dims[1], data)
}

#[test]
fn dumps_features_that_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let rav = common::ravdess_dir();
    let clips = [
        "Actor_01/03-01-05-01-01-01-01.wav",
        "Actor_02/03-01-03-02-02-01-02.wav",
    ];
    // A silent file (no speech: used whole) and a broken one (skipped).
    let silent = dir.path().join("silent.wav");
    common::write_wav(&silent, 16_000, 1, [0i16; 16_000]);
    std::fs::write(dir.path().join("broken.wav"), b"RIFF not really").unwrap();
    let mut csv = String::from("path,label\n");
    for c in clips {
        csv += &format!("{},{}\n", rav.join(c).display(), "angry");
    }
    csv += "silent.wav,calm\nbroken.wav,sad\n";
    let csv_path = dir.path().join("set.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let out = dir.path().join("out");

    let st = Command::new(env!("CARGO_BIN_EXE_ser-features"))
        .args([
            "--data".as_ref(),
            csv_path.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .args(["--kind", "logmel", "--cmvn", "--jobs", "2"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    let (rows, cols, data) = read_npy(&std::fs::read(out.join("feats.npy")).unwrap());
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let cfg: FeatureConfig = serde_json::from_value(index["feature_config"].clone()).unwrap();
    assert_eq!((cfg.kind, cfg.cmvn, cols), (FeatureKind::Logmel, true, 64));
    let stats = &index["stats"];
    assert_eq!(stats["files"], 4);
    assert_eq!(stats["files_used"], 3);
    assert_eq!(stats["no_speech_files"], 1);
    assert_eq!(stats["failed"].as_array().unwrap().len(), 1);
    assert!(stats["failed"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("broken.wav"));
    assert_eq!(stats["total_frames"], rows);

    let items = index["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let mut next = 0;
    for it in items {
        assert_eq!(it["offset"], next);
        next += it["frames"].as_u64().unwrap();
    }
    assert_eq!(next as usize, rows);
    assert_eq!(items[2]["emotion"], "calm");
    assert_eq!(items[2]["label"], 1);
    assert_eq!(items[2]["whole_file"], true);
    assert_eq!(items[0]["emotion"], "angry");
    assert_eq!(items[0]["label"], 4);
    assert_eq!(items[0]["actor"], 1);

    // The rows of the first clip are exactly what the library computes.
    let audio = ser_models::decode_file(rav.join(clips[0])).unwrap();
    let utts = segment_all(&audio.samples, &SegmenterConfig::default()).unwrap();
    assert_eq!(utts.len(), 1);
    let want = FeatureExtractor::new(&cfg)
        .unwrap()
        .extract(&utts[0].samples);
    let (off, n) = (
        items[0]["offset"].as_u64().unwrap() as usize,
        items[0]["frames"].as_u64().unwrap() as usize,
    );
    assert_eq!(n, want.frames);
    assert_eq!(&data[off * cols..(off + n) * cols], &want.data[..]);
    assert!((items[0]["start_s"].as_f64().unwrap() - utts[0].start_s()).abs() < 1e-4);
}

#[test]
fn refuses_an_empty_data_set_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ser-features"))
        .args([
            "--data".as_ref(),
            dir.path().as_os_str(),
            "--out".as_ref(),
            dir.path().join("o").as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no labelled audio files"), "{err}");
}

/// `ser-features --data CSV --out OUT --kind logmel --perturb SPEC --seed N`
/// (one job): its feature rows, once its index has said the perturbation
/// and seed it was given.
fn dump_degraded(csv: &std::path::Path, out: &std::path::Path, spec: &str, seed: u64) -> Vec<f32> {
    let st = Command::new(env!("CARGO_BIN_EXE_ser-features"))
        .args([
            "--data".as_ref(),
            csv.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .args([
            "--kind",
            "logmel",
            "--jobs",
            "1",
            "--perturb",
            spec,
            "--seed",
        ])
        .arg(seed.to_string())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["perturbation"], spec);
    assert_eq!(index["seed"], seed);
    read_npy(&std::fs::read(out.join("feats.npy")).unwrap()).2
}

#[test]
fn perturb_degrades_each_file_as_the_library_does_and_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::ravdess_dir().join("Actor_01/03-01-05-01-01-01-01.wav");
    let csv = dir.path().join("set.csv");
    std::fs::write(&csv, format!("{},angry\n", clip.display())).unwrap();

    let got = dump_degraded(&csv, &dir.path().join("a"), "white:20", 3);
    // The same file degraded by the library: white noise at 20 dB SNR seeded
    // from the path as the CSV writes it and --seed, then the one extractor.
    let rel = clip.display().to_string();
    let audio = ser_models::decode_file(&clip).unwrap();
    let white: Perturbation = "white:20".parse().unwrap();
    let noisy = Perturber::for_files(white, &[&clip], 3)
        .unwrap()
        .apply(white, &audio.samples, Rng::seed_from(&rel, 3))
        .unwrap();
    assert_ne!(noisy, audio.samples);
    let cfg = FeatureConfig {
        kind: FeatureKind::Logmel,
        ..FeatureConfig::default()
    };
    let ex = FeatureExtractor::new(&cfg).unwrap();
    let want: Vec<f32> = segment_all(&noisy, &SegmenterConfig::default())
        .unwrap()
        .iter()
        .flat_map(|u| ex.extract(&u.samples).data)
        .collect();
    assert_eq!(got, want);

    // The same seed degrades the same way; another seed draws other noise.
    assert_eq!(
        dump_degraded(&csv, &dir.path().join("b"), "white:20", 3),
        got
    );
    assert_ne!(
        dump_degraded(&csv, &dir.path().join("c"), "white:20", 4),
        got
    );
}
