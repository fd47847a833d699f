//! Deterministic degradations of 16 kHz mono speech: noise at a given SNR,
//! babble, a telephone channel, a gain change, room reverberation and speed
//! perturbation.
//!
//! They serve two purposes with one implementation: measuring how the model
//! holds up on worse audio than the studio recordings it learnt from
//! (`ser-eval --perturb`, the robustness columns of the model card) and
//! augmenting the training data (`ser-features --perturb random`), so the
//! waveform goes through the same feature extractor either way.
//!
//! Every perturbation is reproducible: the randomness comes from a seed (the
//! tools derive it from the file's path), never from the clock.
//!
//! | spec | what it does |
//! |---|---|
//! | `clean` | nothing |
//! | `white:SNR` | white Gaussian noise, SNR in dB relative to the speech's active level |
//! | `babble:SNR` | several simultaneous talkers (a [`BabbleBed`]) at that SNR |
//! | `telephone` | 300–3400 Hz band, 8 kHz round trip, G.711 µ-law companding |
//! | `gain:DB` | multiply by 10^(DB/20) (no clipping is applied: the model sees what the ADC would give up to ±1) |
//! | `speed:F` | play F times faster (tempo and pitch, like Kaldi's speed perturbation) |
//! | `pitch:ST` | shift the pitch (and formants) by ST semitones, keeping the tempo (WSOLA time stretch, then resampling) |
//! | `reverb:RT60` | a room: convolution with a synthetic impulse response (direct sound + exponentially decaying diffuse tail reaching −60 dB after RT60 seconds, direct-to-reverberant ratio 3 dB) |
//! | `random` | training augmentation: speed 0.9/1.0/1.1, then one of clean, white or babble at 5–30 dB, telephone, gain −25…+6 dB |
//! | `random-room` | `random` with, first, a room half of the time (RT60 0.15–0.9 s, direct-to-reverberant ratio −2…+12 dB) |
//! | `random-pitch` | `random` with a pitch shift of −3…+3 semitones (tempo kept) instead of the speed change |

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::audio::to_mono_16k;
use crate::error::{Error, Result};
use crate::features::SAMPLE_RATE;

/// One degradation of the audio; parse it from a spec such as `white:20`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Perturbation {
    /// No change.
    Clean,
    /// White Gaussian noise at this SNR (dB).
    White {
        /// Signal-to-noise ratio in dB.
        snr_db: f64,
    },
    /// Multi-talker babble at this SNR (dB); needs a [`BabbleBed`].
    Babble {
        /// Signal-to-noise ratio in dB.
        snr_db: f64,
    },
    /// Narrow-band telephone channel.
    Telephone,
    /// A gain change in dB.
    Gain {
        /// Gain in dB (negative = quieter).
        db: f64,
    },
    /// Speed perturbation by this factor (> 1 = faster and higher).
    Speed {
        /// Speed factor, 0.5..2.
        factor: f64,
    },
    /// Pitch shift by this many semitones, tempo kept.
    Pitch {
        /// Semitones, −12..12 (> 0 = higher).
        semitones: f64,
    },
    /// Room reverberation with this RT60 (seconds).
    Reverb {
        /// Time for the diffuse tail to decay by 60 dB, in seconds.
        rt60: f64,
    },
    /// A random mix of the above, drawn per file from the seed (training only).
    Random,
    /// `Random`, half of the time preceded by a random room (training only).
    RandomRoom,
    /// `Random` with a random pitch shift instead of the speed change (training only).
    RandomPitch,
}

impl Perturbation {
    /// Whether applying it needs a babble bed (directly or possibly, for `random`).
    pub fn needs_babble(&self) -> bool {
        matches!(
            self,
            Perturbation::Babble { .. }
                | Perturbation::Random
                | Perturbation::RandomRoom
                | Perturbation::RandomPitch
        )
    }

    /// Whether it is a random training augmentation rather than one named degradation.
    pub fn is_random(&self) -> bool {
        matches!(
            self,
            Perturbation::Random | Perturbation::RandomRoom | Perturbation::RandomPitch
        )
    }
}

impl fmt::Display for Perturbation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Perturbation::Clean => write!(f, "clean"),
            Perturbation::White { snr_db } => write!(f, "white:{snr_db}"),
            Perturbation::Babble { snr_db } => write!(f, "babble:{snr_db}"),
            Perturbation::Telephone => write!(f, "telephone"),
            Perturbation::Gain { db } => write!(f, "gain:{db}"),
            Perturbation::Speed { factor } => write!(f, "speed:{factor}"),
            Perturbation::Pitch { semitones } => write!(f, "pitch:{semitones}"),
            Perturbation::Reverb { rt60 } => write!(f, "reverb:{rt60}"),
            Perturbation::Random => write!(f, "random"),
            Perturbation::RandomRoom => write!(f, "random-room"),
            Perturbation::RandomPitch => write!(f, "random-pitch"),
        }
    }
}

impl FromStr for Perturbation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidPerturbation(format!(
                "{s:?}: {why} (expected clean, white:SNR_DB, babble:SNR_DB, telephone, gain:DB, speed:FACTOR, pitch:SEMITONES, reverb:RT60_S, random, random-room or random-pitch)"
            ))
        };
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let number = |lo: f64, hi: f64| -> Result<f64> {
            let a = arg.ok_or_else(|| bad("a number is missing after ':'"))?;
            let v: f64 = a.trim().parse().map_err(|_| bad("not a number"))?;
            if !(lo..=hi).contains(&v) {
                return Err(bad(&format!("the value must be within {lo}..{hi}")));
            }
            Ok(v)
        };
        let no_arg = |p: Perturbation| {
            if arg.is_some() {
                Err(bad("takes no value"))
            } else {
                Ok(p)
            }
        };
        match name.trim() {
            "clean" | "none" => no_arg(Perturbation::Clean),
            "white" => Ok(Perturbation::White {
                snr_db: number(-20.0, 100.0)?,
            }),
            "babble" => Ok(Perturbation::Babble {
                snr_db: number(-20.0, 100.0)?,
            }),
            "telephone" | "phone" => no_arg(Perturbation::Telephone),
            "gain" => Ok(Perturbation::Gain {
                db: number(-60.0, 30.0)?,
            }),
            "speed" => Ok(Perturbation::Speed {
                factor: number(0.5, 2.0)?,
            }),
            "pitch" => Ok(Perturbation::Pitch {
                semitones: number(-12.0, 12.0)?,
            }),
            "reverb" => Ok(Perturbation::Reverb {
                rt60: number(0.05, 3.0)?,
            }),
            "random" => no_arg(Perturbation::Random),
            "random-room" => no_arg(Perturbation::RandomRoom),
            "random-pitch" => no_arg(Perturbation::RandomPitch),
            _ => Err(bad("unknown perturbation")),
        }
    }
}

/// SplitMix64: a small, good, dependency-free generator for reproducible noise.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// A seed from a string (for example a file's path) and a number.
    pub fn seed_from(text: &str, salt: u64) -> u64 {
        // FNV-1a: stable across runs and platforms (unlike std's hasher).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n) (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// A long recording of several people talking at once, unit RMS, that babble
/// noise is cut from (at a random offset, wrapping around).
#[derive(Debug, Clone)]
pub struct BabbleBed {
    samples: Vec<f32>,
}

impl BabbleBed {
    /// Mix `talkers` streams of `seconds` each; stream k is the utterances
    /// `clips` yields for it, back to back (silences trimmed). `clips` are 16 kHz
    /// mono recordings; they are drawn from in a seeded order.
    pub fn mix(clips: &[Vec<f32>], talkers: usize, seconds: f64, seed: u64) -> Result<Self> {
        let len = (seconds * f64::from(SAMPLE_RATE)) as usize;
        let voiced: Vec<Vec<f32>> = clips
            .iter()
            .map(|c| trim_silence(c))
            .filter(|c| c.len() > 1_600)
            .collect();
        if voiced.is_empty() || talkers == 0 || len == 0 {
            return Err(Error::InvalidPerturbation(
                "babble needs at least one clip with speech".into(),
            ));
        }
        let mut rng = Rng::new(seed);
        let mut bed = vec![0.0f64; len];
        for _ in 0..talkers {
            let mut pos = 0;
            while pos < len {
                let clip = &voiced[rng.below(voiced.len())];
                let rms = rms(clip).max(1e-9);
                for (i, &x) in clip.iter().enumerate().take(len - pos) {
                    bed[pos + i] += f64::from(x) / rms;
                }
                pos += clip.len();
            }
        }
        let r = (bed.iter().map(|x| x * x).sum::<f64>() / len as f64)
            .sqrt()
            .max(1e-12);
        Ok(BabbleBed {
            samples: bed.iter().map(|x| (x / r) as f32).collect(),
        })
    }

    /// The bed the tools use: 6 talkers over 60 s, from up to 48 of `files`
    /// (spread evenly over the list, decoded to 16 kHz mono; unreadable ones
    /// are skipped). With a data set's own files the babble speaks its
    /// language and sentences, which makes it a hard, speech-like noise.
    pub fn from_files<P: AsRef<std::path::Path>>(files: &[P], seed: u64) -> Result<Self> {
        let step = (files.len() / 48).max(1);
        let clips: Vec<Vec<f32>> = files
            .iter()
            .step_by(step)
            .take(48)
            .filter_map(|p| crate::audio::decode_file(p).ok().map(|a| a.samples))
            .collect();
        Self::mix(&clips, 6, 60.0, seed)
    }

    /// Its length in samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether it holds no samples (never, once built).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

fn trim_silence(x: &[f32]) -> Vec<f32> {
    let frames = frame_powers(x);
    let peak = frames.iter().cloned().fold(0.0, f64::max);
    let keep = |p: f64| p > peak * 1e-3;
    let first = frames.iter().position(|&p| keep(p));
    let last = frames.iter().rposition(|&p| keep(p));
    match (first, last) {
        (Some(a), Some(b)) => x[a * FRAME..((b + 1) * FRAME).min(x.len())].to_vec(),
        _ => Vec::new(),
    }
}

const FRAME: usize = 320; // 20 ms at 16 kHz

fn frame_powers(x: &[f32]) -> Vec<f64> {
    x.chunks(FRAME)
        .map(|c| c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / c.len() as f64)
        .collect()
}

fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
}

/// The speech's active power: the mean power of the 20 ms frames within 40 dB
/// of the loudest one (a simple stand-in for ITU-T P.56), so leading and
/// trailing silence do not lower the SNR reference.
pub fn active_power(x: &[f32]) -> f64 {
    let frames = frame_powers(x);
    let peak = frames.iter().cloned().fold(0.0, f64::max);
    let active: Vec<f64> = frames.into_iter().filter(|&p| p >= peak * 1e-4).collect();
    if active.is_empty() {
        0.0
    } else {
        active.iter().sum::<f64>() / active.len() as f64
    }
}

/// Applies [`Perturbation`]s; holds the babble bed when one is needed.
#[derive(Debug, Clone, Default)]
pub struct Perturber {
    babble: Option<BabbleBed>,
}

impl Perturber {
    /// A perturber without babble (babble specs then fail with a clear error).
    pub fn new() -> Self {
        Perturber { babble: None }
    }

    /// A perturber that cuts babble from `bed`.
    pub fn with_babble(bed: BabbleBed) -> Self {
        Perturber { babble: Some(bed) }
    }

    /// What the tools use for `p` over a data set: with a babble bed mixed
    /// from `files` ([`BabbleBed::from_files`]) when `p` needs one.
    pub fn for_files<P: AsRef<std::path::Path>>(
        p: Perturbation,
        files: &[P],
        seed: u64,
    ) -> Result<Self> {
        Ok(if p.needs_babble() {
            Self::with_babble(BabbleBed::from_files(files, seed)?)
        } else {
            Self::new()
        })
    }

    /// Apply `p` to 16 kHz mono `samples`, reproducibly for a given `seed`.
    pub fn apply(&self, p: Perturbation, samples: &[f32], seed: u64) -> Result<Vec<f32>> {
        let mut rng = Rng::new(seed);
        self.apply_with(p, samples, &mut rng)
    }

    fn apply_with(&self, p: Perturbation, x: &[f32], rng: &mut Rng) -> Result<Vec<f32>> {
        Ok(match p {
            Perturbation::Clean => x.to_vec(),
            Perturbation::Gain { db } => {
                let g = 10f64.powf(db / 20.0) as f32;
                x.iter().map(|v| v * g).collect()
            }
            Perturbation::White { snr_db } => {
                let scale = noise_scale(x, 1.0, snr_db);
                x.iter()
                    .map(|&v| v + (rng.gaussian() * scale) as f32)
                    .collect()
            }
            Perturbation::Babble { snr_db } => {
                let bed = self.babble.as_ref().ok_or_else(|| {
                    Error::InvalidPerturbation(
                        "babble noise needs a babble bed (built from a data set's clips)".into(),
                    )
                })?;
                let scale = noise_scale(x, 1.0, snr_db) as f32;
                let start = rng.below(bed.len());
                x.iter()
                    .enumerate()
                    .map(|(i, &v)| v + bed.samples[(start + i) % bed.len()] * scale)
                    .collect()
            }
            Perturbation::Telephone => telephone(x)?,
            Perturbation::Speed { factor } => speed(x, factor)?,
            Perturbation::Pitch { semitones } => pitch(x, semitones)?,
            Perturbation::Reverb { rt60 } => reverb(x, rt60, DEFAULT_DRR_DB, rng),
            Perturbation::RandomRoom => {
                let y = if rng.uniform() < 0.5 {
                    let rt60 = rng.range(0.15, 0.9);
                    let drr = rng.range(-2.0, 12.0);
                    reverb(x, rt60, drr, rng)
                } else {
                    x.to_vec()
                };
                self.apply_with(Perturbation::Random, &y, rng)?
            }
            Perturbation::Random | Perturbation::RandomPitch => {
                let y = if p == Perturbation::Random {
                    let factor = [0.9, 1.0, 1.1][rng.below(3)];
                    if factor == 1.0 {
                        x.to_vec()
                    } else {
                        speed(x, factor)?
                    }
                } else {
                    pitch(x, rng.range(-3.0, 3.0))?
                };
                let choice = match rng.below(if self.babble.is_some() { 5 } else { 4 }) {
                    0 => Perturbation::Clean,
                    1 => Perturbation::White {
                        snr_db: rng.range(5.0, 30.0),
                    },
                    2 => Perturbation::Telephone,
                    3 => Perturbation::Gain {
                        db: rng.range(-25.0, 6.0),
                    },
                    _ => Perturbation::Babble {
                        snr_db: rng.range(5.0, 30.0),
                    },
                };
                self.apply_with(choice, &y, rng)?
            }
        })
    }
}

/// The factor that brings noise of power `noise_power` to `snr_db` below the
/// speech's active level (0 for silent input: nothing to be relative to).
fn noise_scale(x: &[f32], noise_power: f64, snr_db: f64) -> f64 {
    let p = active_power(x);
    if p <= 0.0 {
        return 0.0;
    }
    (p / noise_power / 10f64.powf(snr_db / 10.0)).sqrt()
}

/// Direct-to-reverberant ratio of `reverb:RT60` (dB): a talker about a metre
/// from the microphone in an ordinary room.
const DEFAULT_DRR_DB: f64 = 3.0;

/// Convolve `x` with a synthetic room impulse response: a unit direct path
/// followed, after 2.5 ms, by Gaussian noise decaying by 60 dB over `rt60`
/// seconds (the diffuse tail of a room, Schroeder's model), scaled so the
/// direct-to-reverberant energy ratio is `drr_db`. The output keeps the
/// tail after the last sample (len(x) + the response's length − 1), like a
/// recording that goes on while the room rings.
fn reverb(x: &[f32], rt60: f64, drr_db: f64, rng: &mut Rng) -> Vec<f32> {
    if x.is_empty() {
        return Vec::new();
    }
    let rate = f64::from(SAMPLE_RATE);
    let onset = (0.0025 * rate) as usize;
    let len = ((rt60 * rate) as usize).clamp(onset + 1, 3 * SAMPLE_RATE as usize);
    let mut h = vec![0.0f64; len];
    h[0] = 1.0;
    let decay = -3.0 * std::f64::consts::LN_10 / (rt60 * rate); // amplitude: −60 dB at rt60
    for (i, v) in h.iter_mut().enumerate().skip(onset) {
        *v = rng.gaussian() * (decay * i as f64).exp();
    }
    let tail: f64 = h[onset..].iter().map(|v| v * v).sum();
    let scale = (10f64.powf(-drr_db / 10.0) / tail.max(1e-30)).sqrt();
    for v in &mut h[onset..] {
        *v *= scale;
    }
    convolve(x, &h)
}

/// Full linear convolution through one FFT of the padded length.
fn convolve(x: &[f32], h: &[f64]) -> Vec<f32> {
    use rustfft::num_complex::Complex64;
    let n_out = x.len() + h.len() - 1;
    let n = n_out.next_power_of_two();
    let mut planner = rustfft::FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut a: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new(x.get(i).map_or(0.0, |&v| f64::from(v)), 0.0))
        .collect();
    let mut b: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new(h.get(i).copied().unwrap_or(0.0), 0.0))
        .collect();
    fwd.process(&mut a);
    fwd.process(&mut b);
    for (p, q) in a.iter_mut().zip(&b) {
        *p *= q;
    }
    inv.process(&mut a);
    a[..n_out]
        .iter()
        .map(|c| (c.re / n as f64) as f32)
        .collect()
}

/// Play `x` `factor` times faster: read it as if it had been recorded at
/// 16 kHz × factor and resample that back to 16 kHz (the ser resampler).
fn speed(x: &[f32], factor: f64) -> Result<Vec<f32>> {
    let rate = (f64::from(SAMPLE_RATE) * factor).round() as u32;
    to_mono_16k(x, rate, 1)
}

/// Shift the pitch by `semitones` keeping the duration: stretch the time by
/// the pitch ratio (WSOLA), then play that back faster by the same ratio.
fn pitch(x: &[f32], semitones: f64) -> Result<Vec<f32>> {
    if semitones == 0.0 || x.is_empty() {
        return Ok(x.to_vec());
    }
    let ratio = 2f64.powf(semitones / 12.0);
    let mut y = speed(&time_stretch(x, ratio), ratio)?;
    y.resize(x.len(), 0.0);
    Ok(y)
}

/// Make `x` `stretch` times longer without changing its pitch: waveform-
/// similarity overlap-add (WSOLA; Verhelst & Roelands 1993). 40 ms Hann
/// frames are added every 20 ms of output; each is read from near its nominal
/// place in the input (±10 ms), where it best continues the frame before.
fn time_stretch(x: &[f32], stretch: f64) -> Vec<f32> {
    const WIN: usize = 640;
    const HOP: usize = WIN / 2;
    const TOL: isize = 160;
    let out_len = (x.len() as f64 * stretch).round() as usize;
    let window: Vec<f32> = (0..WIN)
        .map(|i| (0.5 - 0.5 * (2.0 * PI * i as f64 / WIN as f64).cos()) as f32)
        .collect();
    let at = |i: isize| -> f32 {
        if i < 0 {
            0.0
        } else {
            x.get(i as usize).copied().unwrap_or(0.0)
        }
    };
    let last = x.len().saturating_sub(1) as isize;
    let mut y = vec![0.0f32; out_len + WIN];
    let mut prev: isize = 0;
    let mut out_pos = 0;
    while out_pos < out_len {
        let nominal = (out_pos as f64 / stretch).round() as isize;
        let start = if out_pos == 0 {
            0
        } else {
            // The natural continuation of the previous frame's second half.
            let natural = prev + HOP as isize;
            let mut best = (f32::NEG_INFINITY, nominal.min(last));
            for c in (nominal - TOL).max(0)..=(nominal + TOL).min(last) {
                let score: f32 = (0..HOP as isize).map(|j| at(c + j) * at(natural + j)).sum();
                if score > best.0 {
                    best = (score, c);
                }
            }
            best.1
        };
        for (j, w) in window.iter().enumerate() {
            y[out_pos + j] += w * at(start + j as isize);
        }
        prev = start;
        out_pos += HOP;
    }
    y.truncate(out_len);
    y
}

/// Telephone channel: band-pass 300–3400 Hz (4th-order Butterworth high- and
/// low-pass), down to 8 kHz and back up (the ser resampler, whose
/// anti-aliasing cuts at 4 kHz), with G.711 µ-law 8-bit companding in
/// between.
fn telephone(x: &[f32]) -> Result<Vec<f32>> {
    let mut y: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    for _ in 0..2 {
        Biquad::highpass(300.0).run(&mut y);
        Biquad::lowpass(3400.0).run(&mut y);
    }
    let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    // read 16 kHz as 32 kHz: the resampler to "16 kHz" halves the rate to 8 kHz
    let narrow = to_mono_16k(&y32, 2 * SAMPLE_RATE, 1)?;
    let companded: Vec<f32> = narrow.iter().map(|&v| mulaw_round_trip(v)).collect();
    to_mono_16k(&companded, SAMPLE_RATE / 2, 1)
}

fn mulaw_round_trip(v: f32) -> f32 {
    const MU: f32 = 255.0;
    let v = v.clamp(-1.0, 1.0);
    let c = v.signum() * (1.0 + MU * v.abs()).ln() / (1.0 + MU).ln();
    let q = (c * 127.0).round() / 127.0;
    q.signum() * ((1.0 + MU).powf(q.abs()) - 1.0) / MU
}

/// A second-order Butterworth section (RBJ cookbook, Q = 1/√2) at 16 kHz.
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn new(freq: f64, high: bool) -> Self {
        let w = 2.0 * PI * freq / f64::from(SAMPLE_RATE);
        let (sin, cos) = w.sin_cos();
        let alpha = sin / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let b = if high {
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0]
        } else {
            [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0]
        };
        Biquad {
            b: [b[0] / a0, b[1] / a0, b[2] / a0],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
        }
    }

    fn highpass(freq: f64) -> Self {
        Self::new(freq, true)
    }

    fn lowpass(freq: f64) -> Self {
        Self::new(freq, false)
    }

    fn run(&self, x: &mut [f64]) {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        for v in x.iter_mut() {
            let x0 = *v;
            let y0 =
                self.b[0] * x0 + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
            x2 = x1;
            x1 = x0;
            y2 = y1;
            y1 = y0;
            *v = y0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, seconds: f64, amp: f32) -> Vec<f32> {
        (0..(seconds * 16_000.0) as usize)
            .map(|i| amp * (2.0 * PI * freq * i as f64 / 16_000.0).sin() as f32)
            .collect()
    }

    /// Sign changes in `x` (twice the frequency of a tone, per second of it).
    fn zero_crossings(x: &[f32]) -> usize {
        x.windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count()
    }

    fn power(x: &[f32]) -> f64 {
        rms(x).powi(2)
    }

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "clean",
            "white:20",
            "babble:10",
            "telephone",
            "gain:-20",
            "speed:1.1",
            "reverb:0.5",
            "random",
            "random-room",
        ] {
            let p: Perturbation = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        for bad in [
            "white",
            "white:x",
            "gain:-100",
            "speed:3",
            "telephone:1",
            "reverb",
            "reverb:9",
            "random-room:1",
        ] {
            let e = bad.parse::<Perturbation>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn white_noise_has_the_asked_snr() {
        let x = tone(440.0, 2.0, 0.3);
        for snr in [20.0, 10.0] {
            let y = Perturber::new()
                .apply(Perturbation::White { snr_db: snr }, &x, 7)
                .unwrap();
            let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
            let got = 10.0 * (power(&x) / power(&noise)).log10();
            assert!((got - snr).abs() < 0.2, "asked {snr} dB, got {got:.2}");
        }
    }

    #[test]
    fn snr_is_relative_to_speech_not_to_the_silence_around_it() {
        let mut x = vec![0.0f32; 16_000];
        x.extend(tone(300.0, 1.0, 0.3));
        x.extend(vec![0.0f32; 16_000]);
        let y = Perturber::new()
            .apply(Perturbation::White { snr_db: 20.0 }, &x, 1)
            .unwrap();
        let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let speech = power(&x[16_000..32_000]);
        let got = 10.0 * (speech / power(&noise)).log10();
        assert!((got - 20.0).abs() < 0.3, "got {got:.2} dB");
    }

    #[test]
    fn same_seed_same_noise_other_seed_other_noise() {
        let x = tone(200.0, 0.5, 0.2);
        let p = Perturbation::White { snr_db: 15.0 };
        let a = Perturber::new().apply(p, &x, 3).unwrap();
        let b = Perturber::new().apply(p, &x, 3).unwrap();
        let c = Perturber::new().apply(p, &x, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn gain_scales_the_waveform() {
        let x = tone(200.0, 0.5, 0.5);
        let y = Perturber::new()
            .apply(Perturbation::Gain { db: -20.0 }, &x, 0)
            .unwrap();
        for (a, b) in x.iter().zip(&y) {
            assert!((a * 0.1 - b).abs() < 1e-6);
        }
    }

    #[test]
    fn telephone_keeps_the_voice_band_and_removes_the_rest() {
        let p = Perturber::new();
        let pass = p
            .apply(Perturbation::Telephone, &tone(1000.0, 1.0, 0.3), 0)
            .unwrap();
        let low = p
            .apply(Perturbation::Telephone, &tone(100.0, 1.0, 0.3), 0)
            .unwrap();
        let high = p
            .apply(Perturbation::Telephone, &tone(5000.0, 1.0, 0.3), 0)
            .unwrap();
        let mid = |y: &[f32]| power(&y[4_000..12_000]);
        let ref_p = power(&tone(1000.0, 0.5, 0.3));
        assert!((16_000 - pass.len() as i64).abs() < 40, "{}", pass.len());
        assert!(
            mid(&pass) > ref_p * 0.7,
            "1 kHz lost: {}",
            mid(&pass) / ref_p
        );
        assert!(
            mid(&low) < ref_p * 0.05,
            "100 Hz kept: {}",
            mid(&low) / ref_p
        );
        assert!(
            mid(&high) < ref_p * 0.01,
            "5 kHz kept: {}",
            mid(&high) / ref_p
        );
    }

    #[test]
    fn speed_changes_duration_and_pitch() {
        let x = tone(500.0, 2.0, 0.3);
        let y = Perturber::new()
            .apply(Perturbation::Speed { factor: 1.25 }, &x, 0)
            .unwrap();
        let expect = 32_000.0 / 1.25;
        assert!((y.len() as f64 - expect).abs() < 50.0, "{}", y.len());
        // zero crossings per second: 2 × 625 Hz
        let zc = zero_crossings(&y[4_000..20_000]);
        assert!((zc as f64 - 1_250.0).abs() < 15.0, "{zc}");
    }

    #[test]
    fn pitch_keeps_duration_and_moves_the_pitch() {
        let x = tone(500.0, 2.0, 0.3);
        for semitones in [4.0, -3.0] {
            let y = Perturber::new()
                .apply(Perturbation::Pitch { semitones }, &x, 0)
                .unwrap();
            assert_eq!(y.len(), x.len());
            let want = 500.0 * 2f64.powf(semitones / 12.0);
            let mid = &y[4_000..20_000];
            let zc = zero_crossings(mid);
            // zero crossings per second: twice the frequency
            assert!(
                (zc as f64 - 2.0 * want).abs() < 0.01 * 2.0 * want,
                "{semitones} st: {zc} crossings/s, want {}",
                2.0 * want
            );
            // The level holds (overlap-add of Hann frames at 50 % sums to one).
            let r = power(mid) / power(&x[4_000..20_000]);
            assert!((0.8..1.25).contains(&r), "{semitones} st: power ratio {r}");
        }
        assert_eq!(
            Perturber::new()
                .apply(Perturbation::Pitch { semitones: 0.0 }, &x, 0)
                .unwrap(),
            x
        );
        assert_eq!(
            "pitch:-2.5".parse::<Perturbation>().unwrap(),
            Perturbation::Pitch { semitones: -2.5 }
        );
        assert!("pitch:20".parse::<Perturbation>().is_err());
    }

    #[test]
    fn random_pitch_is_reproducible_and_keeps_duration() {
        let x = tone(220.0, 1.0, 0.3);
        let p = Perturber::new();
        let a = p.apply(Perturbation::RandomPitch, &x, 5).unwrap();
        assert_eq!(a, p.apply(Perturbation::RandomPitch, &x, 5).unwrap());
        assert_eq!(a.len(), x.len());
        assert_ne!(a, p.apply(Perturbation::RandomPitch, &x, 6).unwrap());
        assert!(Perturbation::RandomPitch.is_random());
    }

    #[test]
    fn babble_needs_a_bed_and_then_has_the_asked_snr() {
        let x = tone(250.0, 1.0, 0.3);
        let e = Perturber::new()
            .apply(Perturbation::Babble { snr_db: 10.0 }, &x, 0)
            .unwrap_err();
        assert!(e.to_string().contains("babble"), "{e}");
        let clips: Vec<Vec<f32>> = (0..4)
            .map(|k| tone(150.0 + 40.0 * f64::from(k), 1.0, 0.1 * (k + 1) as f32))
            .collect();
        let bed = BabbleBed::mix(&clips, 3, 5.0, 9).unwrap();
        assert_eq!(bed.len(), 80_000);
        let y = Perturber::with_babble(bed)
            .apply(Perturbation::Babble { snr_db: 10.0 }, &x, 2)
            .unwrap();
        let noise: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let got = 10.0 * (power(&x) / power(&noise)).log10();
        assert!((got - 10.0).abs() < 1.5, "got {got:.2} dB");
    }

    #[test]
    fn random_is_reproducible_and_varied() {
        let x = tone(220.0, 1.0, 0.3);
        let p = Perturber::new();
        let a = p.apply(Perturbation::Random, &x, 11).unwrap();
        assert_eq!(a, p.apply(Perturbation::Random, &x, 11).unwrap());
        let distinct: std::collections::HashSet<usize> = (0..20)
            .map(|s| p.apply(Perturbation::Random, &x, s).unwrap().len())
            .collect();
        assert!(distinct.len() >= 2, "speed never changed: {distinct:?}");
    }

    #[test]
    fn reverb_keeps_the_direct_sound_and_adds_a_decaying_tail() {
        // a click: the output is the room's impulse response itself
        let mut x = vec![0.0f32; 1_000];
        x[0] = 1.0;
        let rt60 = 0.5;
        let y = Perturber::new()
            .apply(Perturbation::Reverb { rt60 }, &x, 5)
            .unwrap();
        assert_eq!(
            y.len(),
            1_000 + 8_000 - 1,
            "the tail rings on after the input"
        );
        assert!((y[0] - 1.0).abs() < 1e-4, "direct path {}", y[0]);
        let energy =
            |a: usize, b: usize| y[a..b].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
        let drr = 10.0 * (1.0 / energy(1, y.len())).log10();
        assert!((drr - DEFAULT_DRR_DB).abs() < 0.1, "DRR {drr:.2} dB");
        // the tail decays by 60 dB per RT60: 12 dB per 0.1 s
        let early = energy(800, 1_600) / 800.0;
        let later = energy(2_400, 3_200) / 800.0;
        let db = 10.0 * (early / later).log10();
        assert!((db - 12.0).abs() < 2.0, "decay {db:.1} dB per 100 ms");
    }

    #[test]
    fn reverb_smears_a_tone_burst_into_the_silence_after_it() {
        let mut x = tone(500.0, 0.5, 0.3);
        x.extend(vec![0.0f32; 8_000]);
        let dry_after = power(&x[8_800..10_400]);
        let y = Perturber::new()
            .apply("reverb:0.8".parse().unwrap(), &x, 1)
            .unwrap();
        assert_eq!(dry_after, 0.0);
        assert!(
            power(&y[8_800..10_400]) > power(&x[..8_000]) * 1e-3,
            "no tail"
        );
    }

    #[test]
    fn random_room_is_reproducible_and_sometimes_reverberant() {
        let x = tone(220.0, 0.5, 0.3);
        let p = Perturber::new();
        let a = p.apply(Perturbation::RandomRoom, &x, 3).unwrap();
        assert_eq!(a, p.apply(Perturbation::RandomRoom, &x, 3).unwrap());
        // a room lengthens the output by its response (speed alone changes it by 10 % at most)
        let longer = (0..20)
            .filter(|&s| p.apply(Perturbation::RandomRoom, &x, s).unwrap().len() > 9_000)
            .count();
        assert!((3..=17).contains(&longer), "{longer} of 20 had a room");
    }

    #[test]
    fn silence_stays_finite() {
        let x = vec![0.0f32; 8_000];
        for spec in [
            "white:10",
            "telephone",
            "gain:-20",
            "speed:0.9",
            "reverb:0.6",
            "random-room",
        ] {
            let y = Perturber::new()
                .apply(spec.parse().unwrap(), &x, 0)
                .unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "{spec}");
        }
    }
}
