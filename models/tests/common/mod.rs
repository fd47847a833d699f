//! Helpers shared by the integration tests: where the RAVDESS clips are, and
//! writing WAV files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A sample type a test WAV is written in: 16-bit integer or 32-bit float.
pub trait WavSample: hound::Sample + Copy {
    const BITS: u16;
    const FORMAT: hound::SampleFormat;
}

impl WavSample for i16 {
    const BITS: u16 = 16;
    const FORMAT: hound::SampleFormat = hound::SampleFormat::Int;
}

impl WavSample for f32 {
    const BITS: u16 = 32;
    const FORMAT: hound::SampleFormat = hound::SampleFormat::Float;
}

/// Writes interleaved `samples` (`channels` per frame) to `path` as a WAV
/// at `rate` Hz, in the samples' own type.
pub fn write_wav<S: WavSample>(
    path: &Path,
    rate: u32,
    channels: u16,
    samples: impl IntoIterator<Item = S>,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: S::BITS,
        sample_format: S::FORMAT,
    };
    let mut w =
        hound::WavWriter::create(path, spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for v in samples {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

/// `$SER_RAVDESS`, else `<workspace root>/../shared/data/ravdess`.
pub fn ravdess_dir() -> PathBuf {
    let dir = std::env::var_os("SER_RAVDESS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ravdess")
        });
    assert!(
        dir.join("Actor_01").is_dir(),
        "RAVDESS not found at {} (set SER_RAVDESS to the folder holding Actor_01..Actor_24)",
        dir.display()
    );
    dir
}

/// A RAVDESS clip by its relative path (e.g. `Actor_01/03-01-05-01-01-01-01.wav`), 16 kHz mono.
pub fn clip(rel: &str) -> Vec<f32> {
    let p = ravdess_dir().join(rel);
    let d = ser_models::decode_file(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.source_rate, 16_000);
    d.samples
}

/// (start, end) sample range of the frames whose RMS is above `frac` of the loudest frame.
pub fn loud_span(x: &[f32], frac: f32) -> (usize, usize) {
    let rms: Vec<f32> = x
        .chunks(160)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let max = rms.iter().cloned().fold(0.0, f32::max);
    let first = rms.iter().position(|&r| r > frac * max).unwrap();
    let last = rms.iter().rposition(|&r| r > frac * max).unwrap();
    (first * 160, ((last + 1) * 160).min(x.len()))
}
