//! Speech segmentation: webrtc-vad frames → utterances.
//!
//! One routine for live audio and files: the streaming [`Segmenter`] takes
//! 16 kHz mono chunks of any size and emits [`Utterance`]s; [`segment_all`]
//! feeds it a whole buffer and flushes. Chunking never changes the result.
//!
//! The rules (defaults in [`SegmenterConfig`], see `docs/ARCHITECTURE.md`):
//! the VAD (mode Aggressive) judges 30 ms frames; `onset_frames` voiced frames
//! in a row open an utterance, which starts `pre_roll_ms` before the first of
//! them; `hangover_ms` of unvoiced frames close it, and it ends `post_roll_ms`
//! after the last voiced frame. Utterances whose voiced span (first voiced
//! frame to end of last voiced frame) is shorter than `min_utterance_ms` are
//! dropped. Speech longer than `max_utterance_ms` is cut into windows of that
//! length overlapping by `window_overlap_ms`; the last window is kept when it
//! reaches at least `min_utterance_ms` past the end of the previous one.
//!
//! webrtc-vad's verdicts on the first 4 frames of a stream are ignored: it
//! calls the first 3 voiced whatever they hold.
//!
//! webrtc-vad judges absolute levels: speech whose loudest frames are below
//! about −50 dBFS (a quiet talker, a microphone with low gain) is not voiced.
//! With `vad_agc` (the default) the VAD judges a gained copy of each frame:
//! the gain brings the recent speech peak (the loudest frame level, falling
//! 1 dB/s) up to [`AGC_TARGET_DBFS`], by at most [`AGC_MAX_GAIN_DB`], and
//! never lifts the noise floor (the quietest frame of the last 5 s) above
//! [`AGC_NOISE_CEILING_DBFS`], so steady noise is never amplified into
//! what the VAD calls speech. Only the VAD's copy is gained: utterances carry
//! the audio as it came.
//!
//! webrtc-vad's `Vad` is `!Send`, so a `Segmenter` is `!Send` too: create it
//! on the thread that uses it (the daemon's pipeline thread).

use serde::{Deserialize, Serialize};
use webrtc_vad::{SampleRate, Vad, VadMode};

use crate::error::{Error, Result};
use crate::features::SAMPLE_RATE;

/// Samples per VAD frame (30 ms at 16 kHz).
pub const FRAME_SAMPLES: usize = 480;

/// Level (frame RMS, dBFS) the VAD's copy of the recent speech peak is gained to.
pub const AGC_TARGET_DBFS: f64 = -35.0;
/// Largest gain applied to the VAD's copy, in dB.
pub const AGC_MAX_GAIN_DB: f64 = 30.0;
/// The gain never lifts the noise floor (quietest recent frame) above this level.
pub const AGC_NOISE_CEILING_DBFS: f64 = -55.0;
/// How fast the speech-peak estimate falls, in dB per 30 ms frame (1 dB/s).
const AGC_PEAK_FALL_DB: f64 = 0.03;
/// webrtc-vad calls the first 3 frames of a stream voiced whenever they are
/// above about −75 dBFS (its noise model starts from defaults); its verdicts
/// on this many first frames are ignored (the pre-roll still keeps their audio).
const VAD_WARMUP_FRAMES: u64 = 4;

/// The noise floor is the quietest frame of the last 5 s (this many frames).
const AGC_FLOOR_FRAMES: usize = 167;

const SAMPLES_PER_MS: u64 = SAMPLE_RATE as u64 / 1000;

/// webrtc-vad aggressiveness: higher modes call fewer frames voiced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VadAggressiveness {
    /// Mode 0: most frames voiced.
    Quality,
    /// Mode 1.
    LowBitrate,
    /// Mode 2 (the default).
    #[default]
    Aggressive,
    /// Mode 3: fewest frames voiced.
    VeryAggressive,
}

impl VadAggressiveness {
    fn mode(self) -> VadMode {
        match self {
            VadAggressiveness::Quality => VadMode::Quality,
            VadAggressiveness::LowBitrate => VadMode::LowBitrate,
            VadAggressiveness::Aggressive => VadMode::Aggressive,
            VadAggressiveness::VeryAggressive => VadMode::VeryAggressive,
        }
    }
}

/// Segmentation settings. Missing fields take their defaults when deserialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmenterConfig {
    /// VAD mode (default `aggressive`).
    pub vad_mode: VadAggressiveness,
    /// Level-normalise the VAD's copy of the audio so quiet speech is found
    /// (default true; see the module docs).
    pub vad_agc: bool,
    /// Voiced 30 ms frames in a row that open an utterance (default 3 = 90 ms).
    pub onset_frames: u32,
    /// Audio kept before the first voiced frame, in ms (default 200).
    pub pre_roll_ms: u32,
    /// Audio kept after the last voiced frame, in ms (default 200; at most `hangover_ms`).
    pub post_roll_ms: u32,
    /// Unvoiced audio that closes an utterance, in ms (default 400).
    pub hangover_ms: u32,
    /// Shortest voiced span kept, in ms (default 500).
    pub min_utterance_ms: u32,
    /// Longest utterance; longer speech is cut into windows this long, in ms (default 8000).
    pub max_utterance_ms: u32,
    /// Overlap between consecutive windows of long speech, in ms (default 2000).
    pub window_overlap_ms: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            vad_mode: VadAggressiveness::Aggressive,
            vad_agc: true,
            onset_frames: 3,
            pre_roll_ms: 200,
            post_roll_ms: 200,
            hangover_ms: 400,
            min_utterance_ms: 500,
            max_utterance_ms: 8000,
            window_overlap_ms: 2000,
        }
    }
}

impl SegmenterConfig {
    /// Check that the settings make sense together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidSegmenterConfig(m));
        if !(1..=100).contains(&self.onset_frames) {
            return bad(format!(
                "onset_frames {} is not in 1..=100",
                self.onset_frames
            ));
        }
        if self.hangover_ms < 30 || self.hangover_ms > 10_000 {
            return bad(format!(
                "hangover_ms {} is not in 30..=10000",
                self.hangover_ms
            ));
        }
        if self.pre_roll_ms > 5_000 {
            return bad(format!("pre_roll_ms {} is over 5000", self.pre_roll_ms));
        }
        if self.post_roll_ms > self.hangover_ms {
            return bad(format!(
                "post_roll_ms {} is longer than hangover_ms {}",
                self.post_roll_ms, self.hangover_ms
            ));
        }
        if self.max_utterance_ms < 500 || self.max_utterance_ms > 120_000 {
            return bad(format!(
                "max_utterance_ms {} is not in 500..=120000",
                self.max_utterance_ms
            ));
        }
        if self.min_utterance_ms > self.max_utterance_ms {
            return bad(format!(
                "min_utterance_ms {} is longer than max_utterance_ms {}",
                self.min_utterance_ms, self.max_utterance_ms
            ));
        }
        if self.window_overlap_ms * 2 > self.max_utterance_ms {
            return bad(format!(
                "window_overlap_ms {} is more than half of max_utterance_ms {}",
                self.window_overlap_ms, self.max_utterance_ms
            ));
        }
        Ok(())
    }
}

/// A stretch of speech, 16 kHz mono.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Utterance {
    /// Index of the first sample in the stream (0 = first sample pushed).
    pub start_sample: u64,
    /// The audio.
    pub samples: Vec<f32>,
}

impl Utterance {
    /// Index one past the last sample.
    pub fn end_sample(&self) -> u64 {
        self.start_sample + self.samples.len() as u64
    }
    /// Start time in seconds from the start of the stream.
    pub fn start_s(&self) -> f64 {
        self.start_sample as f64 / f64::from(SAMPLE_RATE)
    }
    /// End time in seconds from the start of the stream.
    pub fn end_s(&self) -> f64 {
        self.end_sample() as f64 / f64::from(SAMPLE_RATE)
    }
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SAMPLE_RATE)
    }
}

/// The gain of the VAD's copy of the audio (see the module docs).
#[derive(Debug, Clone)]
struct VadGain {
    /// Recent speech peak, frame RMS in dBFS.
    peak_db: f64,
    /// Levels of the last [`AGC_FLOOR_FRAMES`] frames (a ring), dBFS.
    recent_db: [f64; AGC_FLOOR_FRAMES],
    next: usize,
}

impl VadGain {
    fn new() -> VadGain {
        VadGain {
            peak_db: f64::NEG_INFINITY,
            recent_db: [f64::INFINITY; AGC_FLOOR_FRAMES],
            next: 0,
        }
    }

    /// Update the estimates with a frame and return the linear gain for it.
    fn gain(&mut self, frame: &[f32]) -> f32 {
        let power = frame
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / frame.len().max(1) as f64;
        let level = 10.0 * power.max(1e-12).log10();
        self.peak_db = (self.peak_db - AGC_PEAK_FALL_DB).max(level);
        self.recent_db[self.next] = level;
        self.next = (self.next + 1) % AGC_FLOOR_FRAMES;
        let floor_db = self.recent_db.iter().copied().fold(f64::INFINITY, f64::min);
        let gain_db = (AGC_TARGET_DBFS - self.peak_db)
            .min(AGC_NOISE_CEILING_DBFS - floor_db)
            .clamp(0.0, AGC_MAX_GAIN_DB);
        10f64.powf(gain_db / 20.0) as f32
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Idle {
        /// Voiced frames in a row so far.
        run: u64,
    },
    Active {
        /// Start of the current utterance (or window).
        start: u64,
        first_voiced: u64,
        last_voiced_end: u64,
        /// End of the previous window when long speech is being cut.
        prev_window_end: Option<u64>,
    },
}

/// Streaming VAD segmenter over 16 kHz mono audio. `!Send`: see the module docs.
pub struct Segmenter {
    cfg: SegmenterConfig,
    vad: Vad,
    onset: u64,
    pre_roll: u64,
    post_roll: u64,
    hangover: u64,
    min_len: u64,
    max_len: u64,
    overlap: u64,
    /// Samples of an incomplete frame.
    partial: Vec<f32>,
    frame_i16: Vec<i16>,
    gain: VadGain,
    /// Samples consumed as whole frames.
    pos: u64,
    /// Retained audio: history while idle, the utterance while active.
    buf: Vec<f32>,
    buf_start: u64,
    /// End of the last emitted utterance: a new one never starts before it.
    floor: u64,
    state: State,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter")
            .field("cfg", &self.cfg)
            .field("pos", &self.pos)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Segmenter {
    /// A segmenter with validated settings.
    pub fn new(cfg: &SegmenterConfig) -> Result<Self> {
        cfg.validate()?;
        let ms = |v: u32| u64::from(v) * SAMPLES_PER_MS;
        Ok(Segmenter {
            vad: Self::make_vad(cfg),
            onset: u64::from(cfg.onset_frames),
            pre_roll: ms(cfg.pre_roll_ms),
            post_roll: ms(cfg.post_roll_ms),
            hangover: ms(cfg.hangover_ms),
            min_len: ms(cfg.min_utterance_ms),
            max_len: ms(cfg.max_utterance_ms),
            overlap: ms(cfg.window_overlap_ms),
            cfg: cfg.clone(),
            partial: Vec::with_capacity(FRAME_SAMPLES),
            frame_i16: vec![0; FRAME_SAMPLES],
            gain: VadGain::new(),
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            floor: 0,
            state: State::Idle { run: 0 },
        })
    }

    fn make_vad(cfg: &SegmenterConfig) -> Vad {
        Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, cfg.vad_mode.mode())
    }

    /// The settings.
    pub fn config(&self) -> &SegmenterConfig {
        &self.cfg
    }

    /// Samples pushed since creation or the last [`finish`](Self::finish).
    pub fn samples_seen(&self) -> u64 {
        self.pos + self.partial.len() as u64
    }

    /// Whether an utterance is open (speech is going on).
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Active { .. })
    }

    /// Push 16 kHz mono samples (any number) and get the utterances they complete.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Utterance> {
        let mut out = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (FRAME_SAMPLES - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() == FRAME_SAMPLES {
                let frame = std::mem::take(&mut self.partial);
                self.frame(&frame, &mut out);
                self.partial = frame;
                self.partial.clear();
            }
        }
        out
    }

    /// End of stream: close an open utterance and return it (if long enough),
    /// then reset so the segmenter can take a new stream starting at sample 0.
    pub fn finish(&mut self) -> Vec<Utterance> {
        let mut out = Vec::new();
        let total = self.pos + self.partial.len() as u64;
        if let State::Active {
            last_voiced_end, ..
        } = self.state
        {
            self.buf.extend_from_slice(&self.partial);
            let end = (last_voiced_end + self.post_roll).min(total);
            self.close(end, &mut out);
        }
        self.vad = Self::make_vad(&self.cfg);
        self.gain = VadGain::new();
        self.partial.clear();
        self.pos = 0;
        self.buf.clear();
        self.buf_start = 0;
        self.floor = 0;
        self.state = State::Idle { run: 0 };
        out
    }

    fn frame(&mut self, frame: &[f32], out: &mut Vec<Utterance>) {
        let gain = if self.cfg.vad_agc {
            self.gain.gain(frame)
        } else {
            1.0
        };
        for (d, &s) in self.frame_i16.iter_mut().zip(frame) {
            *d = ((s * gain).clamp(-1.0, 1.0) * 32767.0).round() as i16;
        }
        let voiced = self.vad.is_voice_segment(&self.frame_i16).unwrap_or(false)
            && self.pos >= VAD_WARMUP_FRAMES * FRAME_SAMPLES as u64;
        self.pos += FRAME_SAMPLES as u64;
        let end = self.pos;
        self.buf.extend_from_slice(frame);
        let frame_len = FRAME_SAMPLES as u64;
        match &mut self.state {
            State::Idle { run } => {
                *run = if voiced { *run + 1 } else { 0 };
                if *run >= self.onset {
                    let first_voiced = end - *run * frame_len;
                    let start = first_voiced
                        .saturating_sub(self.pre_roll)
                        .max(self.floor)
                        .max(self.buf_start);
                    self.state = State::Active {
                        start,
                        first_voiced,
                        last_voiced_end: end,
                        prev_window_end: None,
                    };
                    self.drop_before(start);
                } else {
                    let keep = self.pre_roll + self.onset * frame_len;
                    self.drop_before(end.saturating_sub(keep));
                }
            }
            State::Active {
                start,
                last_voiced_end,
                prev_window_end,
                ..
            } => {
                if voiced {
                    *last_voiced_end = end;
                }
                if end - *last_voiced_end >= self.hangover {
                    let close_at = *last_voiced_end + self.post_roll;
                    self.close(close_at, out);
                } else if end - *start >= self.max_len {
                    let (win_start, win_end) = (*start, *start + self.max_len);
                    let next = win_end - self.overlap;
                    *start = next;
                    *prev_window_end = Some(win_end);
                    out.push(self.take(win_start, win_end));
                    self.drop_before(next);
                }
            }
        }
    }

    /// Close the open utterance at `end` (within the buffer), emitting it if it qualifies.
    fn close(&mut self, end: u64, out: &mut Vec<Utterance>) {
        let State::Active {
            start,
            first_voiced,
            last_voiced_end,
            prev_window_end,
        } = self.state
        else {
            return;
        };
        let end = end.min(self.buf_start + self.buf.len() as u64);
        let keep = match prev_window_end {
            None => last_voiced_end - first_voiced >= self.min_len,
            Some(prev) => end >= prev + self.min_len,
        };
        if keep && end > start {
            out.push(self.take(start, end));
            self.floor = end;
        }
        self.state = State::Idle { run: 0 };
        let history = self.pre_roll + self.onset * FRAME_SAMPLES as u64;
        self.drop_before(self.pos.saturating_sub(history));
    }

    fn take(&self, start: u64, end: u64) -> Utterance {
        let a = (start - self.buf_start) as usize;
        let b = (end - self.buf_start) as usize;
        Utterance {
            start_sample: start,
            samples: self.buf[a..b].to_vec(),
        }
    }

    fn drop_before(&mut self, sample: u64) {
        if sample > self.buf_start {
            let n = ((sample - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.buf_start += n as u64;
        }
    }
}

/// Segment a whole 16 kHz mono buffer (a [`Segmenter`] fed everything, then flushed).
pub fn segment_all(samples: &[f32], cfg: &SegmenterConfig) -> Result<Vec<Utterance>> {
    let mut seg = Segmenter::new(cfg)?;
    let mut out = seg.push(samples);
    out.extend(seg.finish());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let d = SegmenterConfig::default();
        d.validate().unwrap();
        let partial: SegmenterConfig = serde_json::from_str(r#"{"hangover_ms":600}"#).unwrap();
        assert_eq!(partial.hangover_ms, 600);
        assert_eq!(partial.max_utterance_ms, 8000);
        assert!(serde_json::from_str::<SegmenterConfig>(r#"{"hangvoer_ms":600}"#).is_err());
        for bad in [
            SegmenterConfig {
                onset_frames: 0,
                ..d.clone()
            },
            SegmenterConfig {
                max_utterance_ms: 100,
                ..d.clone()
            },
            SegmenterConfig {
                min_utterance_ms: 9000,
                ..d.clone()
            },
            SegmenterConfig {
                window_overlap_ms: 5000,
                ..d.clone()
            },
            SegmenterConfig {
                post_roll_ms: 500,
                ..d.clone()
            },
        ] {
            assert!(
                matches!(Segmenter::new(&bad), Err(Error::InvalidSegmenterConfig(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn silence_and_empty_give_nothing() {
        let cfg = SegmenterConfig::default();
        assert!(segment_all(&[], &cfg).unwrap().is_empty());
        assert!(segment_all(&vec![0.0; 16_000 * 3 + 17], &cfg)
            .unwrap()
            .is_empty());
    }
}
