//! The Rust features against librosa 0.11 on a fixed signal
//! (fixture made by `tests/fixtures/make_librosa_fixture.py`).
//!
//! Tolerances: log-mel within 0.001 dB, MFCC within 0.001 (absolute), in every
//! value. The fixture rounds to 1e-5; the rest is f32 FFT rounding.

use ser_models::{FeatureConfig, FeatureExtractor, FeatureKind};
use serde::Deserialize;

const LOGMEL_TOL_DB: f32 = 0.001;
const MFCC_TOL: f32 = 0.001;

#[derive(Deserialize)]
struct Fixture {
    feature_config: FeatureConfig,
    pcm16: Vec<i16>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    n_samples: usize,
    frames: usize,
    logmel: Vec<Vec<f32>>,
    mfcc: Vec<Vec<f32>>,
}

fn max_abs_diff(got: &ser_models::Features, want: &[Vec<f32>]) -> f32 {
    assert_eq!(got.frames, want.len());
    got.rows()
        .zip(want)
        .flat_map(|(g, w)| {
            assert_eq!(g.len(), w.len());
            g.iter().zip(w).map(|(a, b)| (a - b).abs())
        })
        .fold(0.0, f32::max)
}

/// The librosa fixture and its signal as the extractor's f32 input (value / 32768).
fn librosa_fixture() -> (Fixture, Vec<f32>) {
    let fx: Fixture = serde_json::from_str(include_str!("fixtures/librosa_features.json")).unwrap();
    let signal = fx.pcm16.iter().map(|&v| f32::from(v) / 32768.0).collect();
    (fx, signal)
}

#[test]
fn features_match_librosa() {
    let (fx, signal) = librosa_fixture();
    assert_eq!(fx.feature_config, FeatureConfig::default());
    let mfcc = FeatureExtractor::new(&fx.feature_config).unwrap();
    let logmel = FeatureExtractor::new(&FeatureConfig {
        kind: FeatureKind::Logmel,
        ..fx.feature_config.clone()
    })
    .unwrap();
    assert_eq!(fx.cases.len(), 2);
    for case in &fx.cases {
        let y = &signal[..case.n_samples];
        let lm = logmel.extract(y);
        let mf = mfcc.extract(y);
        assert_eq!(lm.frames, case.frames, "{}", case.name);
        let d_lm = max_abs_diff(&lm, &case.logmel);
        let d_mf = max_abs_diff(&mf, &case.mfcc);
        eprintln!(
            "{}: max |Δ| log-mel {d_lm:.6} dB, MFCC {d_mf:.6}",
            case.name
        );
        assert!(
            d_lm <= LOGMEL_TOL_DB,
            "{}: log-mel differs by {d_lm} dB",
            case.name
        );
        assert!(d_mf <= MFCC_TOL, "{}: MFCC differs by {d_mf}", case.name);
    }
}

#[derive(Deserialize)]
struct BandsFixture {
    cases: Vec<BandsCase>,
}

#[derive(Deserialize)]
struct BandsCase {
    name: String,
    n_samples: usize,
    frames: usize,
    bands_db: Vec<Vec<f32>>,
}

/// The speech-embedding bands against the front end of the network itself
/// (`melspectrogram.onnx` of the openwakeword 0.4.0 wheel; fixture made by
/// `tests/fixtures/make_speech_embedding_fixture.py`), on the same signal,
/// after that front end's clipping at 80 dB below the loudest value. The
/// other columns are those of the configuration without the bands.
#[test]
fn speech_embedding_bands_match_their_network_front_end() {
    let (_, signal) = librosa_fixture();
    let bands: BandsFixture =
        serde_json::from_str(include_str!("fixtures/speech_embedding_bands.json")).unwrap();
    let plain_cfg = FeatureConfig {
        kind: FeatureKind::Logmel,
        pitch: true,
        ..FeatureConfig::default()
    };
    let cfg = FeatureConfig {
        speech_embedding: true,
        ..plain_cfg.clone()
    };
    assert_eq!(cfg.dim(), 64 + 2 + ser_models::SPEECH_EMBEDDING_MELS);
    let with = FeatureExtractor::new(&cfg).unwrap();
    let without = FeatureExtractor::new(&plain_cfg).unwrap();
    assert_eq!(bands.cases.len(), 2);
    for case in &bands.cases {
        let y = &signal[..case.n_samples];
        let got = with.extract(y);
        let plain = without.extract(y);
        assert_eq!(got.frames, case.frames, "{}", case.name);
        assert_eq!(got.dim, cfg.dim(), "{}", case.name);
        for (g, p) in got.rows().zip(plain.rows()) {
            assert_eq!(
                &g[..plain.dim],
                p,
                "{}: the other columns changed",
                case.name
            );
        }
        let rust: Vec<&[f32]> = got.rows().map(|r| &r[plain.dim..]).collect();
        let top = rust
            .iter()
            .flat_map(|r| r.iter())
            .fold(f32::MIN, |a, &b| a.max(b));
        let mut worst = 0f32;
        for (r, w) in rust.iter().zip(&case.bands_db) {
            assert_eq!(r.len(), w.len());
            for (a, b) in r.iter().zip(w) {
                worst = worst.max((a.max(top - 80.0) - b).abs());
            }
        }
        eprintln!(
            "{}: speech-embedding bands max |diff| {worst:.5} dB",
            case.name
        );
        assert!(worst < 0.01, "{}: bands differ by {worst} dB", case.name);
    }
}
