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

#[test]
fn features_match_librosa() {
    let text = include_str!("fixtures/librosa_features.json");
    let fx: Fixture = serde_json::from_str(text).unwrap();
    assert_eq!(fx.feature_config, FeatureConfig::default());
    let signal: Vec<f32> = fx.pcm16.iter().map(|&v| f32::from(v) / 32768.0).collect();
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
