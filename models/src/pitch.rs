//! Pitch (F0) and voicing per feature frame: the prosody the log-mel bands
//! resolve poorly (below 1 kHz a 64-band mel filterbank is 67 Hz per band,
//! about the spacing of a low voice's harmonics).
//!
//! The utterance's mean (DC) is taken off; then for each frame (centred on
//! `t * hop`, like the STFT frames) a window of [`WINDOW`] samples (40 ms)
//! has its normalised cross-correlation (NCCF) computed for every lag
//! between [`F0_MAX_HZ`] and [`F0_MIN_HZ`] (through the FFT:
//! `r = IFFT(|FFT(x)|²)`, two frames per transform; the energies of the two
//! overlapping parts from prefix sums). The period is the smallest lag at a
//! local maximum of the NCCF within [`OCTAVE_TOLERANCE`] of the largest one
//! (so a multiple of the period, which correlates almost as well, is not
//! taken), refined by a parabola through its neighbours.
//!
//! Two values per frame, appended to the spectral features when
//! `FeatureConfig::pitch` is on:
//! - **semitones** relative to [`REFERENCE_HZ`]: `12 log2(F0 / 100 Hz)` in
//!   voiced frames; unvoiced frames (voicing below [`VOICED_THRESHOLD`]) are
//!   interpolated linearly between the voiced frames around them (held before
//!   the first and after the last; 0 when the utterance has none), so the
//!   contour is continuous;
//! - **voicing**: the NCCF at the chosen lag, in `[0, 1]` (when no lag in the
//!   range is a peak, the best NCCF, and the frame counts as unvoiced).
//!
//! Both are independent of the gain (the NCCF is normalised), so a quiet
//! microphone moves them only through its noise floor. An utterance is
//! analysed whole, as the classifier does; the interpolation looks ahead.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::features::SAMPLE_RATE;

/// Analysis window in samples (40 ms at 16 kHz): two periods of the lowest F0.
pub const WINDOW: usize = 640;
/// FFT size: at least `WINDOW + max lag`, so the autocorrelation is linear.
const FFT_LEN: usize = 1024;
/// Lowest F0 searched, in Hz.
pub const F0_MIN_HZ: f32 = 50.0;
/// Highest F0 searched, in Hz.
pub const F0_MAX_HZ: f32 = 600.0;
/// The F0 at 0 semitones.
pub const REFERENCE_HZ: f32 = 100.0;
/// Voicing (NCCF) at and above which a frame counts as voiced.
pub const VOICED_THRESHOLD: f32 = 0.5;
/// A shorter lag is preferred when its NCCF is at least this share of the best.
pub const OCTAVE_TOLERANCE: f32 = 0.9;
/// Below this energy per sample (about −100 dBFS) a window is silence.
const SILENCE_POWER: f64 = 1e-10;

/// Number of values [`PitchTracker::track`] appends per frame.
pub const PITCH_DIM: usize = 2;

/// Per-frame pitch estimator; cheap to share (`Send + Sync`).
pub struct PitchTracker {
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    min_lag: usize,
    max_lag: usize,
}

impl std::fmt::Debug for PitchTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PitchTracker")
            .field("min_lag", &self.min_lag)
            .field("max_lag", &self.max_lag)
            .finish_non_exhaustive()
    }
}

impl Default for PitchTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// One frame's raw estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Estimate {
    f0_hz: f32,
    voicing: f32,
}

impl PitchTracker {
    /// Plan the FFTs.
    pub fn new() -> Self {
        let mut planner = FftPlanner::<f32>::new();
        let sr = SAMPLE_RATE as f32;
        PitchTracker {
            forward: planner.plan_fft_forward(FFT_LEN),
            inverse: planner.plan_fft_inverse(FFT_LEN),
            min_lag: (sr / F0_MAX_HZ).floor() as usize,
            max_lag: (sr / F0_MIN_HZ).ceil() as usize,
        }
    }

    /// `[frames, 2]` row-major: semitones re [`REFERENCE_HZ`] and voicing, for
    /// frames centred on `t * hop` (zero padding beyond the ends).
    pub fn track(&self, samples: &[f32], frames: usize, hop: usize) -> Vec<f32> {
        // The utterance's DC offset is taken off once: removing each window's
        // own mean would turn the silence in a window half outside the
        // utterance into a constant that correlates with itself at any lag.
        let dc = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / samples.len().max(1) as f64;
        let dc = dc as f32;
        let mut buf = vec![Complex32::new(0.0, 0.0); FFT_LEN];
        let mut autocorr = vec![Complex32::new(0.0, 0.0); FFT_LEN];
        let mut scratch = vec![
            Complex32::new(0.0, 0.0);
            self.forward
                .get_inplace_scratch_len()
                .max(self.inverse.get_inplace_scratch_len())
        ];
        let mut windows = [vec![0f32; WINDOW], vec![0f32; WINDOW]];
        let mut energy = vec![0f64; WINDOW + 1];
        let mut nccf = vec![0f32; self.max_lag + 2];
        let mut estimates = Vec::with_capacity(frames);
        // Two frames per FFT: one as the real part, the other as the imaginary part.
        for pair in (0..frames).step_by(2) {
            for (k, window) in windows.iter_mut().enumerate() {
                let t = pair + k;
                let origin = (t * hop) as isize - (WINDOW / 2) as isize;
                for (i, w) in window.iter_mut().enumerate() {
                    let idx = origin + i as isize;
                    *w = if t < frames && idx >= 0 && (idx as usize) < samples.len() {
                        samples[idx as usize] - dc
                    } else {
                        0.0
                    };
                }
                // Each window to unit power (the NCCF does not depend on it):
                // rounding in the shared transform is relative to the louder
                // of the two, which would swamp a quiet window beside a loud
                // one. Silence becomes zeros, which estimate() calls unvoiced.
                let mean_square =
                    window.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / WINDOW as f64;
                let gain = if mean_square > SILENCE_POWER {
                    mean_square.sqrt().recip() as f32
                } else {
                    0.0
                };
                window.iter_mut().for_each(|w| *w *= gain);
            }
            self.autocorrelate_pair(&windows, &mut buf, &mut autocorr, &mut scratch);
            for (k, window) in windows.iter().enumerate().take(frames - pair) {
                let r = |lag: usize| {
                    if k == 0 {
                        autocorr[lag].re
                    } else {
                        autocorr[lag].im
                    }
                };
                estimates.push(self.estimate(window, r, &mut energy, &mut nccf));
            }
        }
        contour(&estimates)
    }

    /// The linear autocorrelations of two real windows, `FFT_LEN` times over:
    /// the first's in `out[lag].re`, the second's in `out[lag].im`.
    fn autocorrelate_pair(
        &self,
        windows: &[Vec<f32>; 2],
        buf: &mut [Complex32],
        out: &mut [Complex32],
        scratch: &mut [Complex32],
    ) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = if i < WINDOW {
                Complex32::new(windows[0][i], windows[1][i])
            } else {
                Complex32::new(0.0, 0.0)
            };
        }
        self.forward.process_with_scratch(buf, scratch);
        // Z = A + iB with A, B the spectra of the two real windows:
        // A_k = (Z_k + conj Z_-k) / 2, B_k = (Z_k - conj Z_-k) / 2i. Their power
        // spectra are real and even, so one inverse FFT of |A|² + i|B|² gives
        // both autocorrelations, real and imaginary.
        for k in 0..FFT_LEN {
            let z = buf[k];
            let zc = buf[(FFT_LEN - k) % FFT_LEN].conj();
            let a = (z + zc) * 0.5;
            let b = (z - zc) * 0.5;
            out[k] = Complex32::new(a.norm_sqr(), b.norm_sqr());
        }
        self.inverse.process_with_scratch(out, scratch);
    }

    /// One window's estimate from its autocorrelation `r(lag)` (times `FFT_LEN`).
    fn estimate(
        &self,
        x: &[f32],
        r: impl Fn(usize) -> f32,
        energy: &mut [f64],
        nccf: &mut [f32],
    ) -> Estimate {
        let unvoiced = Estimate {
            f0_hz: 0.0,
            voicing: 0.0,
        };
        energy[0] = 0.0;
        for (i, &v) in x.iter().enumerate() {
            energy[i + 1] = energy[i] + f64::from(v) * f64::from(v);
        }
        let n = x.len();
        if energy[n] == 0.0 {
            return unvoiced;
        }
        let scale = 1.0 / FFT_LEN as f64;
        // nccf[lag] for lag in min_lag - 1 ..= max_lag + 1 (neighbours for the parabola).
        let (lo, hi) = (self.min_lag - 1, (self.max_lag + 1).min(n - 1));
        let mut best = f32::MIN;
        for (lag, out) in nccf.iter_mut().enumerate() {
            *out = if lag < lo || lag > hi {
                0.0
            } else {
                let r = f64::from(r(lag)) * scale;
                let e0 = energy[n - lag];
                let e1 = energy[n] - energy[lag];
                let denom = (e0 * e1).sqrt();
                if denom > 0.0 {
                    (r / denom) as f32
                } else {
                    0.0
                }
            };
            if (self.min_lag..=self.max_lag).contains(&lag) {
                best = best.max(*out);
            }
        }
        if best <= 0.0 {
            return unvoiced;
        }
        let is_peak = |lag: usize| nccf[lag] >= nccf[lag - 1] && nccf[lag] >= nccf[lag + 1];
        let Some(lag) = (self.min_lag..=self.max_lag)
            .find(|&lag| is_peak(lag) && nccf[lag] >= OCTAVE_TOLERANCE * best)
        else {
            // The correlation still rises at an end of the range: no period in
            // it. Unvoiced, but the voicing stays the correlation, so it does
            // not jump to 0 on a rounding difference.
            return Estimate {
                f0_hz: 0.0,
                voicing: best.clamp(0.0, 1.0),
            };
        };
        let (a, b, c) = (nccf[lag - 1], nccf[lag], nccf[lag + 1]);
        let curvature = a - 2.0 * b + c;
        let shift = if curvature < 0.0 {
            (0.5 * (a - c) / curvature).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        Estimate {
            f0_hz: SAMPLE_RATE as f32 / (lag as f32 + shift),
            voicing: b.clamp(0.0, 1.0),
        }
    }
}

/// Semitones (interpolated through unvoiced frames) and voicing, row-major.
fn contour(estimates: &[Estimate]) -> Vec<f32> {
    let semis: Vec<Option<f32>> = estimates
        .iter()
        .map(|e| {
            (e.voicing >= VOICED_THRESHOLD && e.f0_hz > 0.0)
                .then(|| 12.0 * (e.f0_hz / REFERENCE_HZ).log2())
        })
        .collect();
    let voiced: Vec<usize> = (0..semis.len()).filter(|&i| semis[i].is_some()).collect();
    let mut out = Vec::with_capacity(estimates.len() * PITCH_DIM);
    let mut next = 0; // index into `voiced` of the first voiced frame at or after i
    for (i, e) in estimates.iter().enumerate() {
        while next < voiced.len() && voiced[next] < i {
            next += 1;
        }
        let value = match semis[i] {
            Some(s) => s,
            None => {
                let before = next.checked_sub(1).map(|k| voiced[k]);
                let after = voiced.get(next).copied();
                match (before, after) {
                    (Some(b), Some(a)) => {
                        let (sb, sa) = (semis[b].unwrap_or(0.0), semis[a].unwrap_or(0.0));
                        sb + (sa - sb) * (i - b) as f32 / (a - b) as f32
                    }
                    (Some(b), None) => semis[b].unwrap_or(0.0),
                    (None, Some(a)) => semis[a].unwrap_or(0.0),
                    (None, None) => 0.0,
                }
            }
        };
        out.push(value);
        out.push(e.voicing);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    const HOP: usize = 160;

    fn frames(n: usize) -> usize {
        1 + n / HOP
    }

    /// A voice-like tone: harmonics `first..=last` of `f0`, amplitude 1/k.
    fn harmonics(f0: impl Fn(f32) -> f32, first: usize, last: usize, secs: f32) -> Vec<f32> {
        let n = (secs * SAMPLE_RATE as f32) as usize;
        let mut phase = 0f32;
        (0..n)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                phase += 2.0 * PI * f0(t) / SAMPLE_RATE as f32;
                (first..=last)
                    .map(|k| (k as f32 * phase).sin() / k as f32)
                    .sum::<f32>()
                    * 0.1
            })
            .collect()
    }

    fn semitones_to_hz(s: f32) -> f32 {
        REFERENCE_HZ * 2f32.powf(s / 12.0)
    }

    /// The interior frames (the window fully inside the signal).
    fn interior(track: &[f32], n: usize) -> impl Iterator<Item = (f32, f32)> + '_ {
        let first = WINDOW / 2 / HOP + 1;
        let last = (n - WINDOW / 2) / HOP;
        (first..last).map(move |t| (track[2 * t], track[2 * t + 1]))
    }

    #[test]
    fn two_windows_share_one_transform_exactly() {
        let pt = PitchTracker::new();
        let mut state = 7u32;
        let mut noise = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let windows = [
            (0..WINDOW).map(|_| noise()).collect::<Vec<f32>>(),
            (0..WINDOW)
                .map(|i| (i as f32 * 0.07).sin() + 0.3 * noise())
                .collect(),
        ];
        let mut buf = vec![Complex32::new(0.0, 0.0); FFT_LEN];
        let mut out = buf.clone();
        let mut scratch = vec![Complex32::new(0.0, 0.0); 2 * FFT_LEN];
        pt.autocorrelate_pair(&windows, &mut buf, &mut out, &mut scratch);
        // Linear (no wrap-around) up to FFT_LEN - WINDOW, beyond the longest lag searched.
        for lag in [0, 1, 26, 100, 321, FFT_LEN - WINDOW] {
            for (k, w) in windows.iter().enumerate() {
                let direct: f32 = (0..WINDOW - lag).map(|n| w[n] * w[n + lag]).sum();
                let got = if k == 0 { out[lag].re } else { out[lag].im } / FFT_LEN as f32;
                assert!(
                    (got - direct).abs() < 1e-3 * (1.0 + direct.abs()),
                    "window {k} lag {lag}: {got} vs {direct}"
                );
            }
        }
        // An odd number of frames: the last one is paired with silence, and
        // each frame's voicing does not depend on its partner.
        let x = harmonics(|_| 180.0, 1, 6, 0.4);
        let all = pt.track(&x, 32, HOP);
        for frames in [1, 2, 3, 30, 31] {
            let track = pt.track(&x, frames, HOP);
            assert_eq!(track.len(), 2 * frames);
            for t in 0..frames {
                let (a, b) = (track[2 * t + 1], all[2 * t + 1]);
                assert!(
                    (a - b).abs() < 1e-4,
                    "{frames} frames, frame {t}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn steady_voices_are_found_within_half_a_percent() {
        let pt = PitchTracker::new();
        for f0 in [70.0, 110.0, 150.0, 220.0, 330.0, 520.0] {
            let x = harmonics(|_| f0, 1, 8, 0.5);
            let track = pt.track(&x, frames(x.len()), HOP);
            for (semis, voicing) in interior(&track, x.len()) {
                let hz = semitones_to_hz(semis);
                assert!((hz / f0 - 1.0).abs() < 0.005, "{f0} Hz read as {hz}");
                assert!(voicing > 0.9, "{f0} Hz: voicing {voicing}");
            }
        }
    }

    #[test]
    fn a_missing_fundamental_is_still_the_pitch() {
        // Over a telephone line (300-3400 Hz) a 120 Hz voice keeps only its
        // 3rd harmonic and above; the period, and so the pitch, is unchanged.
        let pt = PitchTracker::new();
        let x = harmonics(|_| 120.0, 3, 25, 0.5);
        let track = pt.track(&x, frames(x.len()), HOP);
        for (semis, _) in interior(&track, x.len()) {
            let hz = semitones_to_hz(semis);
            assert!((hz / 120.0 - 1.0).abs() < 0.01, "read as {hz}");
        }
    }

    #[test]
    fn a_glide_is_followed() {
        // 120 -> 240 Hz over one second, exponentially (one octave).
        let pt = PitchTracker::new();
        let f = |t: f32| 120.0 * 2f32.powf(t);
        let x = harmonics(f, 1, 6, 1.0);
        let track = pt.track(&x, frames(x.len()), HOP);
        for t in [20usize, 50, 80] {
            let want = 12.0 * (f(t as f32 * 0.01) / REFERENCE_HZ).log2();
            assert!(
                (track[2 * t] - want).abs() < 0.3,
                "frame {t}: {} vs {want}",
                track[2 * t]
            );
        }
    }

    #[test]
    fn noise_and_silence_are_unvoiced_and_finite() {
        let pt = PitchTracker::new();
        let mut state = 0x2545_f491_u32;
        let noise: Vec<f32> = (0..8000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect();
        let track = pt.track(&noise, frames(noise.len()), HOP);
        let voiced = track.chunks(2).filter(|f| f[1] >= VOICED_THRESHOLD).count();
        assert!(
            voiced * 10 < frames(noise.len()),
            "{voiced} noise frames voiced"
        );
        assert!(track.iter().all(|v| v.is_finite()));
        for n in [0usize, 1, 100, 16_000] {
            let track = pt.track(&vec![0.0; n], frames(n), HOP);
            assert_eq!(track.len(), 2 * frames(n));
            assert!(track.iter().all(|&v| v == 0.0), "silence of {n}: {track:?}");
        }
    }

    #[test]
    fn unvoiced_gaps_are_bridged_and_the_gain_does_not_matter() {
        // 150 Hz, 0.3 s of silence, 200 Hz: the gap is a straight line between them.
        let pt = PitchTracker::new();
        let mut x = harmonics(|_| 150.0, 1, 6, 0.4);
        x.extend(std::iter::repeat_n(0.0, 4800));
        x.extend(harmonics(|_| 200.0, 1, 6, 0.4));
        let track = pt.track(&x, frames(x.len()), HOP);
        let (lo, hi) = (12.0 * 1.5f32.log2(), 12.0 * 2f32.log2());
        let gap: Vec<f32> = (45..65).map(|t| track[2 * t]).collect();
        assert!(gap.windows(2).all(|w| w[1] >= w[0] - 1e-4), "{gap:?}");
        assert!(gap.iter().all(|&s| s > lo - 0.1 && s < hi + 0.1), "{gap:?}");
        assert!((45..65).all(|t| track[2 * t + 1] < VOICED_THRESHOLD));

        let quiet: Vec<f32> = x.iter().map(|v| v * 0.01).collect();
        let quiet_track = pt.track(&quiet, frames(x.len()), HOP);
        for (a, b) in track.iter().zip(&quiet_track) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }
}
