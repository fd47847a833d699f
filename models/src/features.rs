//! MFCC / log-mel features, computed exactly as librosa does.
//!
//! [`FeatureConfig`] is the one source of truth for the features: the model
//! declares it in its `ser.features` metadata, the training feature dump
//! (`ser-features`) writes it into its index, and [`FeatureExtractor`]
//! computes it. The pipeline (see `docs/ARCHITECTURE.md`):
//!
//! 1. STFT with `center = true` (zero padding of `n_fft / 2` on both sides),
//!    a periodic Hann window of `win_length` zero-padded to `n_fft` (centred),
//!    power spectrum `|X|²`;
//! 2. Slaney mel filterbank with Slaney area normalisation
//!    (librosa `filters.mel(htk=False, norm="slaney")`);
//! 3. log-mel `10 * log10(max(mel, 1e-10))` (librosa `power_to_db(ref=1, amin=1e-10, top_db=None)`);
//! 4. for `kind = mfcc`, an orthonormal DCT-II over the log-mel values, first `n_mfcc` kept;
//! 5. with `pitch`, two prosody values appended to each frame (semitones of
//!    F0 and voicing, [`crate::pitch`]);
//! 6. with `speech_embedding`, the 32 bands of the pretrained speech
//!    embedding's front end appended to each frame, from the same power
//!    spectrum ([`SPEECH_EMBEDDING_MELS`]; see below);
//! 7. optionally per-utterance CMVN.
//!
//! The speech-embedding bands are the input of Google's `speech_embedding`
//! network (Apache-2.0; as shipped in the `openwakeword` 0.4.0 wheel), which
//! a model can carry in its graph: Slaney mel bands 60–3800 Hz (librosa
//! `filters.mel(n_mels=32, fmin=60, fmax=3800)`), as
//! `10 * log10(max(mel, 1e-10))` of the power of int16-scaled samples (so
//! +90.3 dB against the log-mel above). That front end's own
//! frames are not centred (frame t starts at sample `t * hop`); these are
//! the centred frames of step 1, the same spectra 256 samples earlier.
//! Its clipping at 80 dB below the loudest value and its scaling
//! (`x / 10 + 2`) depend on the whole utterance and belong to the graph.
//!
//! `tests/features_librosa.rs` checks the result against librosa on a fixed signal.

use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pitch::{PitchTracker, PITCH_DIM};

/// The only sample rate features are computed at. Audio is resampled to it first.
pub const SAMPLE_RATE: u32 = 16_000;

/// Floor of the power before the logarithm (librosa `amin`).
pub const LOG_AMIN: f32 = 1e-10;

/// Bands of the speech-embedding front end (`speech_embedding`).
pub const SPEECH_EMBEDDING_MELS: usize = 32;

/// Band edges of the speech-embedding front end, in Hz.
const SPEECH_EMBEDDING_FMIN: f64 = 60.0;
const SPEECH_EMBEDDING_FMAX: f64 = 3800.0;

/// The speech-embedding bands are the power of int16-scaled samples: 20·log10(32768) dB
/// above the power of samples in [-1, 1].
const INT16_POWER_SCALE: f32 = 32768.0 * 32768.0;

/// Floor of the standard deviation in CMVN, so constant coefficients do not divide by zero.
pub const CMVN_STD_FLOOR: f32 = 1e-5;

/// Which features the model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// `n_mfcc` MFCCs per frame (DCT-II ortho of the log-mel values).
    #[default]
    Mfcc,
    /// `n_mels` log-mel values (dB) per frame.
    Logmel,
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeatureKind::Mfcc => "mfcc",
            FeatureKind::Logmel => "logmel",
        })
    }
}

impl std::str::FromStr for FeatureKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mfcc" => Ok(FeatureKind::Mfcc),
            "logmel" => Ok(FeatureKind::Logmel),
            other => Err(Error::InvalidFeatureConfig(format!(
                "unknown feature kind {other:?} (expected \"mfcc\" or \"logmel\")"
            ))),
        }
    }
}

/// The feature configuration (serialised as the model's `ser.features` metadata).
///
/// The default serialises exactly as
/// `{"sample_rate":16000,"n_fft":512,"win_length":400,"hop_length":160,"n_mels":64,"fmin":0.0,"fmax":8000.0,"kind":"mfcc","n_mfcc":40,"cmvn":false}`.
/// Unknown fields are refused: a model asking for something the extractor
/// does not compute must fail to load rather than get other features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Sample rate of the input in Hz; must be [`SAMPLE_RATE`].
    pub sample_rate: u32,
    /// FFT size in samples.
    pub n_fft: usize,
    /// Window length in samples (≤ `n_fft`); the window is centred in `n_fft`.
    pub win_length: usize,
    /// Hop between frames in samples.
    pub hop_length: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest mel band edge in Hz.
    pub fmin: f64,
    /// Highest mel band edge in Hz (≤ `sample_rate / 2`).
    pub fmax: f64,
    /// MFCC or log-mel.
    pub kind: FeatureKind,
    /// Number of MFCCs (used when `kind = mfcc`; ≤ `n_mels`).
    pub n_mfcc: usize,
    /// Per-utterance mean and variance normalisation of each coefficient.
    pub cmvn: bool,
    /// Append F0 (semitones re 100 Hz) and voicing to every frame
    /// ([`crate::pitch`]). Absent from the JSON when off, so configurations
    /// written before it existed read and print unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pitch: bool,
    /// Append the [`SPEECH_EMBEDDING_MELS`] bands of the pretrained speech
    /// embedding's front end to every frame (after F0 and voicing), for a
    /// model that carries that network. Absent from the JSON when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub speech_embedding: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            sample_rate: SAMPLE_RATE,
            n_fft: 512,
            win_length: 400,
            hop_length: 160,
            n_mels: 64,
            fmin: 0.0,
            fmax: 8000.0,
            kind: FeatureKind::Mfcc,
            n_mfcc: 40,
            cmvn: false,
            pitch: false,
            speech_embedding: false,
        }
    }
}

impl FeatureConfig {
    /// Number of values per frame: `n_mfcc` for MFCC, `n_mels` for log-mel,
    /// plus 2 with `pitch`, plus [`SPEECH_EMBEDDING_MELS`] with `speech_embedding`.
    pub fn dim(&self) -> usize {
        self.spectral_dim()
            + if self.pitch { PITCH_DIM } else { 0 }
            + if self.speech_embedding {
                SPEECH_EMBEDDING_MELS
            } else {
                0
            }
    }

    /// Number of spectral values per frame (the first ones): `n_mfcc` or `n_mels`.
    pub fn spectral_dim(&self) -> usize {
        match self.kind {
            FeatureKind::Mfcc => self.n_mfcc,
            FeatureKind::Logmel => self.n_mels,
        }
    }

    /// Number of frames for `n_samples` input samples (librosa, `center = true`).
    pub fn frames_for(&self, n_samples: usize) -> usize {
        1 + n_samples / self.hop_length.max(1)
    }

    /// Parse the JSON form (as in the `ser.features` metadata) and validate it.
    pub fn from_json(json: &str) -> Result<Self> {
        let cfg: FeatureConfig = serde_json::from_str(json)
            .map_err(|e| Error::InvalidFeatureConfig(format!("{e} in {json}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The compact JSON form (as in the `ser.features` metadata).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("FeatureConfig always serialises")
    }

    /// Check that the extractor can compute this configuration.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidFeatureConfig(m));
        if self.sample_rate != SAMPLE_RATE {
            return bad(format!(
                "sample_rate is {} Hz but features are computed at {SAMPLE_RATE} Hz",
                self.sample_rate
            ));
        }
        if self.n_fft < 2 || self.n_fft > 65_536 {
            return bad(format!("n_fft {} is not in 2..=65536", self.n_fft));
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return bad(format!(
                "win_length {} must be in 1..=n_fft ({})",
                self.win_length, self.n_fft
            ));
        }
        if self.hop_length == 0 {
            return bad("hop_length must be at least 1".into());
        }
        if self.n_mels == 0 || self.n_mels > self.n_fft / 2 + 1 {
            return bad(format!(
                "n_mels {} must be in 1..={} (the FFT bins)",
                self.n_mels,
                self.n_fft / 2 + 1
            ));
        }
        let nyquist = f64::from(self.sample_rate) / 2.0;
        if !(self.fmin.is_finite() && self.fmax.is_finite())
            || self.fmin < 0.0
            || self.fmax > nyquist
            || self.fmin >= self.fmax
        {
            return bad(format!(
                "need 0 <= fmin < fmax <= {nyquist} Hz, got fmin {} and fmax {}",
                self.fmin, self.fmax
            ));
        }
        if self.speech_embedding && (self.n_fft, self.hop_length) != (512, 160) {
            return bad(format!(
                "speech_embedding needs n_fft 512 and hop_length 160 (its network's front end), \
                 got n_fft {} and hop_length {}",
                self.n_fft, self.hop_length
            ));
        }
        if self.speech_embedding && self.cmvn {
            return bad(
                "speech_embedding cannot be combined with cmvn: its network takes \
                 the front end's decibels"
                    .into(),
            );
        }
        if self.kind == FeatureKind::Mfcc && (self.n_mfcc == 0 || self.n_mfcc > self.n_mels) {
            return bad(format!(
                "n_mfcc {} must be in 1..=n_mels ({})",
                self.n_mfcc, self.n_mels
            ));
        }
        Ok(())
    }
}

/// A feature matrix, row-major `[frames, dim]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    /// Number of frames (rows).
    pub frames: usize,
    /// Values per frame (columns).
    pub dim: usize,
    /// `frames * dim` values, frame after frame.
    pub data: Vec<f32>,
}

impl Features {
    /// The values of frame `t`.
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.dim..(t + 1) * self.dim]
    }

    /// Iterate over the frames.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1)).take(self.frames)
    }
}

/// Computes [`Features`] for one [`FeatureConfig`]. Cheap to share: `Send + Sync`,
/// and [`extract`](Self::extract) takes `&self`.
pub struct FeatureExtractor {
    cfg: FeatureConfig,
    /// Periodic Hann window of `win_length`, zero-padded (centred) to `n_fft`.
    window: Vec<f32>,
    /// Sparse mel filterbank: per band, the first FFT bin and its weights.
    mel: Vec<(usize, Vec<f32>)>,
    /// The speech-embedding front end's filterbank (empty without `speech_embedding`).
    embedding_mel: Vec<(usize, Vec<f32>)>,
    /// Orthonormal DCT-II, `[n_mfcc, n_mels]` row-major (empty for log-mel).
    dct: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    /// Present when `cfg.pitch`.
    pitch: Option<PitchTracker>,
}

impl fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl FeatureExtractor {
    /// Validate `cfg` and precompute the window, filterbank, DCT and FFT plan.
    pub fn new(cfg: &FeatureConfig) -> Result<Self> {
        cfg.validate()?;
        let window = centred_hann(cfg.win_length, cfg.n_fft);
        let sr = f64::from(cfg.sample_rate);
        let mel = slaney_mel_filterbank(sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax);
        let embedding_mel = if cfg.speech_embedding {
            slaney_mel_filterbank(
                sr,
                cfg.n_fft,
                SPEECH_EMBEDDING_MELS,
                SPEECH_EMBEDDING_FMIN,
                SPEECH_EMBEDDING_FMAX,
            )
        } else {
            Vec::new()
        };
        let dct = match cfg.kind {
            FeatureKind::Mfcc => dct2_ortho(cfg.n_mfcc, cfg.n_mels),
            FeatureKind::Logmel => Vec::new(),
        };
        let fft = FftPlanner::<f32>::new().plan_fft_forward(cfg.n_fft);
        Ok(FeatureExtractor {
            cfg: cfg.clone(),
            window,
            mel,
            embedding_mel,
            dct,
            fft,
            pitch: cfg.pitch.then(PitchTracker::new),
        })
    }

    /// The configuration this extractor computes.
    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Features of mono [`SAMPLE_RATE`] audio. Never panics: empty or very short
    /// input gives `1 + len / hop_length` frames of zero-padded audio.
    pub fn extract(&self, samples: &[f32]) -> Features {
        let (logmel, embedding_mel) = self.log_mel(samples);
        let frames = logmel.len() / self.cfg.n_mels;
        let mut out = match self.cfg.kind {
            FeatureKind::Logmel => Features {
                frames,
                dim: self.cfg.n_mels,
                data: logmel,
            },
            FeatureKind::Mfcc => {
                let (n_mfcc, n_mels) = (self.cfg.n_mfcc, self.cfg.n_mels);
                let mut data = Vec::with_capacity(frames * n_mfcc);
                for row in logmel.chunks_exact(n_mels) {
                    for k in 0..n_mfcc {
                        let basis = &self.dct[k * n_mels..(k + 1) * n_mels];
                        let v: f64 = basis
                            .iter()
                            .zip(row)
                            .map(|(&b, &x)| f64::from(b) * f64::from(x))
                            .sum();
                        data.push(v as f32);
                    }
                }
                Features {
                    frames,
                    dim: n_mfcc,
                    data,
                }
            }
        };
        if let Some(tracker) = &self.pitch {
            let prosody = tracker.track(samples, frames, self.cfg.hop_length);
            let dim = out.dim + PITCH_DIM;
            let mut data = Vec::with_capacity(frames * dim);
            for (row, extra) in out.rows().zip(prosody.chunks_exact(PITCH_DIM)) {
                data.extend_from_slice(row);
                data.extend_from_slice(extra);
            }
            out = Features { frames, dim, data };
        }
        if self.cfg.speech_embedding {
            let dim = out.dim + SPEECH_EMBEDDING_MELS;
            let mut data = Vec::with_capacity(frames * dim);
            for (row, extra) in out
                .rows()
                .zip(embedding_mel.chunks_exact(SPEECH_EMBEDDING_MELS))
            {
                data.extend_from_slice(row);
                data.extend_from_slice(extra);
            }
            out = Features { frames, dim, data };
        }
        if self.cfg.cmvn {
            cmvn(&mut out);
        }
        out
    }

    /// Log-mel matrix `[frames, n_mels]` in dB, and the speech-embedding
    /// bands `[frames, 32]` (empty without `speech_embedding`).
    fn log_mel(&self, samples: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let cfg = &self.cfg;
        let n_fft = cfg.n_fft;
        let pad = n_fft / 2;
        let frames = cfg.frames_for(samples.len());
        let n_bins = n_fft / 2 + 1;
        let mut buf = vec![Complex32::new(0.0, 0.0); n_fft];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut power = vec![0f32; n_bins];
        let mut out = Vec::with_capacity(frames * cfg.n_mels);
        let mut embedding_out = Vec::with_capacity(frames * self.embedding_mel.len());
        for t in 0..frames {
            // Frame t covers padded[t*hop .. t*hop + n_fft], i.e. samples[t*hop - pad ..].
            let origin = (t * cfg.hop_length) as isize - pad as isize;
            for (i, c) in buf.iter_mut().enumerate() {
                let idx = origin + i as isize;
                let x = if idx >= 0 && (idx as usize) < samples.len() {
                    samples[idx as usize]
                } else {
                    0.0
                };
                *c = Complex32::new(x * self.window[i], 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            for (p, c) in power.iter_mut().zip(&buf) {
                *p = c.norm_sqr();
            }
            for band in &self.mel {
                out.push(10.0 * band_power(band, &power).max(LOG_AMIN).log10());
            }
            for band in &self.embedding_mel {
                let m = band_power(band, &power) * INT16_POWER_SCALE;
                embedding_out.push(10.0 * m.max(LOG_AMIN).log10());
            }
        }
        (out, embedding_out)
    }
}

/// The power in one band of a sparse filterbank (its first FFT bin, its weights).
fn band_power((start, weights): &(usize, Vec<f32>), power: &[f32]) -> f32 {
    weights
        .iter()
        .zip(&power[*start..])
        .map(|(w, p)| w * p)
        .sum()
}

/// Per-utterance CMVN: each column to zero mean and unit variance (population
/// standard deviation, floored at [`CMVN_STD_FLOOR`]).
pub fn cmvn(f: &mut Features) {
    if f.frames == 0 || f.dim == 0 {
        return;
    }
    let n = f.frames as f64;
    for j in 0..f.dim {
        let col = || f.data.iter().skip(j).step_by(f.dim).map(|&v| f64::from(v));
        let mean = col().sum::<f64>() / n;
        let var = col().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let std = var.sqrt().max(f64::from(CMVN_STD_FLOOR));
        for v in f.data.iter_mut().skip(j).step_by(f.dim) {
            *v = ((f64::from(*v) - mean) / std) as f32;
        }
    }
}

/// Periodic Hann window of `win_length` (scipy `get_window("hann", N, fftbins=True)`),
/// centred in `n_fft` zeros (librosa `util.pad_center`).
fn centred_hann(win_length: usize, n_fft: usize) -> Vec<f32> {
    let mut w = vec![0f32; n_fft];
    let left = (n_fft - win_length) / 2;
    let n = win_length as f64;
    for i in 0..win_length {
        w[left + i] = (0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos()) as f32;
    }
    w
}

/// Slaney mel scale (librosa `hz_to_mel(htk=False)`).
fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`] (librosa `mel_to_hz(htk=False)`).
fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// librosa `filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")`,
/// computed in f64 and stored sparsely as f32 (librosa's default dtype).
fn slaney_mel_filterbank(
    sr: f64,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
) -> Vec<(usize, Vec<f32>)> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * sr / n_fft as f64).collect();
    let (mel_lo, mel_hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let n_pts = n_mels + 2;
    let mel_f: Vec<f64> = (0..n_pts)
        .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (n_pts - 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (lo, mid, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
            let enorm = 2.0 / (hi - lo);
            let w: Vec<f32> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    (lower.min(upper).max(0.0) * enorm) as f32
                })
                .collect();
            let start = w.iter().position(|&v| v != 0.0).unwrap_or(0);
            let end = w.iter().rposition(|&v| v != 0.0).map_or(start, |e| e + 1);
            (start, w[start..end].to_vec())
        })
        .collect()
}

/// Orthonormal DCT-II basis `[n_out, n_in]` (scipy `dct(type=2, norm="ortho")`).
fn dct2_ortho(n_out: usize, n_in: usize) -> Vec<f32> {
    let n = n_in as f64;
    let mut m = Vec::with_capacity(n_out * n_in);
    for k in 0..n_out {
        let scale = if k == 0 {
            (1.0 / n).sqrt()
        } else {
            (2.0 / n).sqrt()
        };
        for i in 0..n_in {
            m.push((scale * (PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n)).cos()) as f32);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_serialises_as_documented() {
        assert_eq!(
            FeatureConfig::default().to_json(),
            r#"{"sample_rate":16000,"n_fft":512,"win_length":400,"hop_length":160,"n_mels":64,"fmin":0.0,"fmax":8000.0,"kind":"mfcc","n_mfcc":40,"cmvn":false}"#
        );
        let back = FeatureConfig::from_json(&FeatureConfig::default().to_json()).unwrap();
        assert_eq!(back, FeatureConfig::default());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let mut v: serde_json::Value = serde_json::to_value(FeatureConfig::default()).unwrap();
        v["preemphasis"] = 0.97.into();
        let err = FeatureConfig::from_json(&v.to_string()).unwrap_err();
        assert!(err.to_string().contains("preemphasis"), "{err}");

        type Mutation = fn(&mut FeatureConfig);
        let cases: Vec<(Mutation, &str)> = vec![
            (|c| c.sample_rate = 22050, "sample_rate"),
            (|c| c.win_length = 600, "win_length"),
            (|c| c.hop_length = 0, "hop_length"),
            (|c| c.n_mels = 0, "n_mels"),
            (|c| c.fmax = 9000.0, "fmax"),
            (|c| c.fmin = 8000.0, "fmin"),
            (|c| c.n_mfcc = 65, "n_mfcc"),
        ];
        for (mutate, word) in cases {
            let mut c = FeatureConfig::default();
            mutate(&mut c);
            let err = FeatureExtractor::new(&c).unwrap_err().to_string();
            assert!(err.contains(word), "{word}: {err}");
        }
        let kind = r#"{"sample_rate":16000,"n_fft":512,"win_length":400,"hop_length":160,"n_mels":64,"fmin":0.0,"fmax":8000.0,"kind":"plp","n_mfcc":40,"cmvn":false}"#;
        assert!(FeatureConfig::from_json(kind).is_err());
    }

    #[test]
    fn short_and_empty_input_give_librosa_frame_counts() {
        let ex = FeatureExtractor::new(&FeatureConfig::default()).unwrap();
        for (n, frames) in [(0, 1), (1, 1), (159, 1), (160, 2), (399, 3), (16_000, 101)] {
            let f = ex.extract(&vec![0.1; n]);
            assert_eq!(
                (f.frames, f.dim, f.data.len()),
                (frames, 40, frames * 40),
                "n={n}"
            );
            assert!(f.data.iter().all(|v| v.is_finite()));
        }
        // Silence is the log floor: -100 dB in every band.
        let lm = FeatureExtractor::new(&FeatureConfig {
            kind: FeatureKind::Logmel,
            ..Default::default()
        })
        .unwrap()
        .extract(&[]);
        assert!(lm.data.iter().all(|&v| v == -100.0), "{:?}", lm.data);
    }

    #[test]
    fn pitch_appends_two_values_per_frame_and_is_absent_from_old_configs() {
        let plain = FeatureConfig {
            kind: FeatureKind::Logmel,
            ..Default::default()
        };
        let cfg = FeatureConfig {
            pitch: true,
            ..plain.clone()
        };
        assert!(!plain.to_json().contains("pitch"), "{}", plain.to_json());
        assert!(
            cfg.to_json().ends_with(r#""cmvn":false,"pitch":true}"#),
            "{}",
            cfg.to_json()
        );
        assert_eq!(FeatureConfig::from_json(&cfg.to_json()).unwrap(), cfg);
        assert_eq!((plain.dim(), cfg.dim(), cfg.spectral_dim()), (64, 66, 64));

        // A 200 Hz tone: the log-mel columns are those of the plain extractor,
        // then 12 log2(200 / 100) = 12 semitones and a high voicing.
        let x: Vec<f32> = (0..8000)
            .map(|i| {
                let ph = 2.0 * std::f32::consts::PI * 200.0 * i as f32 / 16_000.0;
                0.1 * (ph.sin() + 0.5 * (2.0 * ph).sin())
            })
            .collect();
        let a = FeatureExtractor::new(&plain).unwrap().extract(&x);
        let b = FeatureExtractor::new(&cfg).unwrap().extract(&x);
        assert_eq!((b.frames, b.dim), (a.frames, 66));
        for t in 0..a.frames {
            assert_eq!(&b.frame(t)[..64], a.frame(t));
        }
        let mid = b.frame(b.frames / 2);
        assert!(
            (mid[64] - 12.0).abs() < 0.1 && mid[65] > 0.9,
            "{:?}",
            &mid[64..]
        );
    }

    #[test]
    fn speech_embedding_bands_are_optional_last_and_need_their_framing() {
        let plain = FeatureConfig {
            kind: FeatureKind::Logmel,
            pitch: true,
            ..Default::default()
        };
        let cfg = FeatureConfig {
            speech_embedding: true,
            ..plain.clone()
        };
        assert!(!plain.to_json().contains("speech_embedding"));
        assert!(
            cfg.to_json()
                .ends_with(r#""pitch":true,"speech_embedding":true}"#),
            "{}",
            cfg.to_json()
        );
        assert_eq!(FeatureConfig::from_json(&cfg.to_json()).unwrap(), cfg);
        assert_eq!(cfg.dim(), 66 + SPEECH_EMBEDDING_MELS);
        for bad in [
            FeatureConfig {
                n_fft: 1024,
                ..cfg.clone()
            },
            FeatureConfig {
                hop_length: 320,
                ..cfg.clone()
            },
            FeatureConfig {
                cmvn: true,
                ..cfg.clone()
            },
        ] {
            let err = FeatureExtractor::new(&bad).unwrap_err().to_string();
            assert!(err.contains("speech_embedding"), "{err}");
        }
        // Silence sits at the floor of the int16-scaled power, 100 dB below
        // 1 (librosa amin 1e-10); a full-scale tone near 1 kHz is far above it.
        let ex = FeatureExtractor::new(&cfg).unwrap();
        let silent = ex.extract(&[0.0; 1600]);
        assert!(silent.rows().all(|r| r[66..].iter().all(|&v| v == -100.0)));
        let tone: Vec<f32> = (0..1600)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let f = ex.extract(&tone);
        let mid = &f.frame(f.frames / 2)[66..];
        let loudest = mid.iter().cloned().fold(f32::MIN, f32::max);
        assert!(loudest > 90.0, "{mid:?}");
    }

    #[test]
    fn cmvn_gives_zero_mean_unit_variance() {
        let ex = FeatureExtractor::new(&FeatureConfig {
            cmvn: true,
            ..Default::default()
        })
        .unwrap();
        let x: Vec<f32> = (0..8000)
            .map(|i| (i as f32 * 0.05).sin() * (1.0 + (i as f32 * 0.001).sin()))
            .collect();
        let f = ex.extract(&x);
        for j in 0..f.dim {
            let col: Vec<f64> = f.rows().map(|r| f64::from(r[j])).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(mean.abs() < 1e-4, "coef {j} mean {mean}");
            assert!((var - 1.0).abs() < 1e-3, "coef {j} var {var}");
        }
    }

    #[test]
    fn window_and_dct_are_what_librosa_uses() {
        let w = centred_hann(400, 512);
        assert_eq!(w[..56], [0.0; 56]);
        assert_eq!(w[56], 0.0);
        assert!((w[256] - 1.0).abs() < 1e-7);
        assert_eq!(w[456..], [0.0; 56]);
        // Rows of an orthonormal DCT are orthonormal.
        let d = dct2_ortho(40, 64);
        for a in 0..40 {
            for b in 0..40 {
                let dot: f32 = (0..64).map(|i| d[a * 64 + i] * d[b * 64 + i]).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "{a},{b}: {dot}");
            }
        }
    }
}
