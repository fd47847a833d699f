//! Segmentation on real RAVDESS speech.

mod common;

use common::{clip, loud_span};
use ser_models::perturb::Rng;
use ser_models::segment::{segment_all, Segmenter, SegmenterConfig, Utterance};

const SR: usize = 16_000;
const CLIPS: [&str; 4] = [
    "Actor_01/03-01-05-01-01-01-01.wav",
    "Actor_02/03-01-03-02-02-01-02.wav",
    "Actor_11/03-01-04-01-01-02-11.wav",
    "Actor_24/03-01-01-01-02-02-24.wav",
];

fn silence(secs: f32) -> Vec<f32> {
    vec![0.0; (secs * SR as f32) as usize]
}

fn spans(u: &[Utterance]) -> Vec<(f64, f64)> {
    u.iter().map(|u| (u.start_s(), u.end_s())).collect()
}

#[test]
fn one_clip_padded_with_silence_is_one_utterance() {
    let cfg = SegmenterConfig::default();
    for rel in CLIPS {
        let speech = clip(rel);
        let mut x = silence(2.0);
        x.extend(&speech);
        x.extend(silence(2.0));
        let u = segment_all(&x, &cfg).unwrap();
        assert_eq!(u.len(), 1, "{rel}: {:?}", spans(&u));
        // The VAD may miss a soft start or end: ask for 85 % of the loud part.
        let (a, b) = loud_span(&speech, 0.1);
        let (a, b) = ((2 * SR + a) as u64, (2 * SR + b) as u64);
        let covered = u[0]
            .end_sample()
            .min(b)
            .saturating_sub(u[0].start_sample.max(a));
        let frac = covered as f64 / (b - a) as f64;
        eprintln!(
            "{rel}: {:?} covers {:.0} % of the loud part",
            spans(&u),
            frac * 100.0
        );
        assert!(
            frac >= 0.85,
            "{rel}: utterance {:?} covers {:.0} % of the loud part {:.2}..{:.2} s",
            spans(&u),
            frac * 100.0,
            a as f64 / SR as f64,
            b as f64 / SR as f64
        );
        // Nothing from the padding beyond the pre/post-roll.
        assert!(u[0].start_s() >= 2.0 - 0.2 - 1e-9, "{rel}: {:?}", spans(&u));
        let clip_end = 2.0 + speech.len() as f64 / SR as f64;
        assert!(
            u[0].end_s() <= clip_end + 0.2 + 1e-9,
            "{rel}: {:?}",
            spans(&u)
        );
        assert_eq!(
            u[0].samples[..],
            x[u[0].start_sample as usize..u[0].end_sample() as usize]
        );
    }
}

fn two_clips() -> Vec<f32> {
    let mut x = silence(1.0);
    x.extend(clip(CLIPS[0]));
    x.extend(silence(1.5));
    x.extend(clip(CLIPS[1]));
    x.extend(silence(1.0));
    x
}

#[test]
fn two_clips_apart_are_two_utterances() {
    let x = two_clips();
    let u = segment_all(&x, &SegmenterConfig::default()).unwrap();
    assert_eq!(u.len(), 2, "{:?}", spans(&u));
    assert!(u[0].end_sample() <= u[1].start_sample);
    let boundary = (1.0 + clip(CLIPS[0]).len() as f64 / SR as f64 + 0.75) * SR as f64;
    assert!((u[0].end_sample() as f64) < boundary && (u[1].start_sample as f64) > boundary);
}

#[test]
fn silence_gives_nothing() {
    assert!(segment_all(&silence(5.0), &SegmenterConfig::default())
        .unwrap()
        .is_empty());
}

fn chunked(x: &[f32], mut next: impl FnMut() -> usize) -> Vec<Utterance> {
    let mut seg = Segmenter::new(&SegmenterConfig::default()).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i < x.len() {
        let end = (i + next()).min(x.len());
        out.extend(seg.push(&x[i..end]));
        i = end;
    }
    out.extend(seg.finish());
    out
}

#[test]
fn chunk_size_does_not_change_the_segments() {
    let mut x = two_clips();
    x.extend(long_speech());
    let whole = segment_all(&x, &SegmenterConfig::default()).unwrap();
    assert!(whole.len() >= 4, "{:?}", spans(&whole));
    for ms in [30, 31, 100] {
        assert_eq!(chunked(&x, || ms * 16), whole, "{ms} ms chunks");
    }
    let mut seed = 0x5eed_u64;
    let random = chunked(&x, || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (5 + (seed >> 33) as usize % 496) * 16
    });
    assert_eq!(random, whole, "random 5-500 ms chunks");
    // Odd sizes, down to single samples.
    let mut k = 0;
    let odd = chunked(&x, || {
        k += 1;
        [1, 479, 481, 7, 2000][k % 5]
    });
    assert_eq!(odd, whole);
}

/// About 20 s of speech: clips trimmed to their loud part, joined by 100 ms gaps.
fn long_speech() -> Vec<f32> {
    let mut x = silence(1.0);
    let mut n = 0;
    for actor in 1..=24 {
        let rel = format!("Actor_{actor:02}/03-01-05-02-01-01-{actor:02}.wav");
        let c = clip(&rel);
        let (a, b) = loud_span(&c, 0.05);
        x.extend(&c[a..b]);
        x.extend(silence(0.1));
        n += b - a;
        if n > 20 * SR {
            break;
        }
    }
    x.extend(silence(1.0));
    x
}

#[test]
fn long_speech_is_cut_into_overlapping_windows() {
    let cfg = SegmenterConfig::default();
    let x = long_speech();
    let u = segment_all(&x, &cfg).unwrap();
    assert!(u.len() >= 3, "{:?}", spans(&u));
    for w in &u {
        assert!(w.samples.len() <= 8 * SR, "{:?}", spans(&u));
    }
    // Full-length windows continue with a 2 s overlap.
    let mut cut = 0;
    for pair in u.windows(2) {
        if pair[0].samples.len() == 8 * SR
            && pair[1].start_sample + 2 * SR as u64 == pair[0].end_sample()
        {
            cut += 1;
        }
    }
    assert!(
        cut >= 2,
        "expected windows overlapping by 2 s: {:?}",
        spans(&u)
    );
}

fn scaled(x: &[f32], db: f32) -> Vec<f32> {
    let g = 10f32.powf(db / 20.0);
    x.iter().map(|s| s * g).collect()
}

/// A quiet talker (the clips 40 dB down: loudest frames near −60 dBFS) is
/// found where the loud one is, and the utterances carry the audio as it came.
#[test]
fn quiet_speech_is_found_with_level_normalisation() {
    let cfg = SegmenterConfig::default();
    assert!(cfg.vad_agc);
    let plain = SegmenterConfig {
        vad_agc: false,
        ..cfg.clone()
    };
    let loud = two_clips();
    let quiet = scaled(&loud, -40.0);
    let reference = segment_all(&loud, &cfg).unwrap();
    assert_eq!(reference.len(), 2, "{:?}", spans(&reference));
    // Without the normalisation the VAD hears (almost) nothing.
    assert!(
        segment_all(&quiet, &plain).unwrap().len() < 2,
        "the plain VAD found the quiet clips: the test no longer tests anything"
    );
    let found = segment_all(&quiet, &cfg).unwrap();
    assert_eq!(found.len(), 2, "quiet speech: {:?}", spans(&found));
    for (q, r) in found.iter().zip(&reference) {
        assert!(
            (q.start_s() - r.start_s()).abs() < 0.25 && (q.end_s() - r.end_s()).abs() < 0.25,
            "quiet {:?} vs loud {:?}",
            spans(&found),
            spans(&reference)
        );
        assert_eq!(
            q.samples[..],
            quiet[q.start_sample as usize..q.end_sample() as usize]
        );
    }
}

/// Steady noise is not speech at any level the normalisation could lift,
/// nor is a near-silent line (dither).
#[test]
fn steady_noise_is_not_speech() {
    let mut rng = Rng::new(0x00c0_ffee);
    for dbfs in [-90.0, -70.0, -60.0, -50.0, -40.0] {
        let u = segment_all(
            &white_noise(20 * SR, dbfs, &mut rng),
            &SegmenterConfig::default(),
        )
        .unwrap();
        assert!(u.is_empty(), "white noise at {dbfs} dBFS: {:?}", spans(&u));
    }
    // Speech in that noise is still found, 20 dB above it.
    let mut x = white_noise(12 * SR, -50.0, &mut rng);
    let speech = two_clips();
    // Noise power 1e-5 (−50 dBFS); the loud part of the speech at 1e-3.
    let gain = (1e-3 / loud_power(&speech)).sqrt() as f32;
    for (d, s) in x.iter_mut().zip(&speech) {
        *d += s * gain;
    }
    let u = segment_all(&x, &SegmenterConfig::default()).unwrap();
    assert_eq!(u.len(), 2, "speech at 20 dB SNR: {:?}", spans(&u));
}

/// `n` samples of uniform white noise whose RMS is `dbfs`.
fn white_noise(n: usize, dbfs: f64, rng: &mut Rng) -> Vec<f32> {
    let a = 10f64.powf(dbfs / 20.0) * 3f64.sqrt();
    (0..n).map(|_| rng.range(-a, a) as f32).collect()
}

/// Mean power of the loud part of a signal.
fn loud_power(x: &[f32]) -> f64 {
    let (a, b) = loud_span(x, 0.1);
    x[a..b].iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / (b - a) as f64
}

/// webrtc-vad calls the first frames of any stream above about −75 dBFS
/// voiced; with speech soon after, that used to open the utterance at the
/// very start of the stream, taking the noise before the speech with it.
#[test]
fn the_start_of_a_stream_is_not_speech() {
    let mut rng = Rng::new(0x0bad_5eed);
    let c = clip(CLIPS[0]);
    let (a, b) = loud_span(&c, 0.05);
    let lead = (0.3 * SR as f32) as usize;
    let mut x = white_noise(lead, -50.0, &mut rng);
    x.extend(&c[a..b]);
    x.extend(white_noise(SR, -50.0, &mut rng));
    for cfg in [
        SegmenterConfig::default(),
        SegmenterConfig {
            vad_agc: false,
            ..SegmenterConfig::default()
        },
    ] {
        let u = segment_all(&x, &cfg).unwrap();
        assert_eq!(u.len(), 1, "{:?}", spans(&u));
        // At most the pre-roll (0.2 s) and one onset frame before the speech.
        assert!(
            u[0].start_s() >= 0.3 - 0.2 - 0.03 - 1e-9,
            "vad_agc {}: the utterance starts at {:.2} s, speech at 0.30 s",
            cfg.vad_agc,
            u[0].start_s()
        );
    }
}
