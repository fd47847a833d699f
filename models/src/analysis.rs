//! Whole-recording analysis: segment, classify each utterance, combine.
//!
//! [`analyze_reader`] is the routine behind `serctl analyze` and the
//! daemon's `analyze` request: it streams a file through the segmenter, so a
//! long recording is never held whole; [`analyze_samples`] does the same for
//! audio already in memory.

use std::path::Path;

use serde::Serialize;

use crate::audio::AudioReader;
use crate::error::Result;
use crate::features::SAMPLE_RATE;
use crate::model::Classifier;
use crate::segment::{segment_all, Segmenter, SegmenterConfig, Utterance};

/// One utterance of a recording and its emotion probabilities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentResult {
    /// Start, in seconds from the start of the recording.
    pub start_s: f64,
    /// End, in seconds from the start of the recording.
    pub end_s: f64,
    /// Probabilities in [`LABELS`](crate::LABELS) order.
    pub probs: [f32; 8],
}

/// The analysis of a recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Length of the recording in seconds.
    pub duration_s: f64,
    /// The utterances found, in order (long speech gives overlapping windows).
    pub segments: Vec<SegmentResult>,
    /// Duration-weighted mean of the segment probabilities; `None` when no speech was found.
    pub verdict: Option<[f32; 8]>,
}

impl Analysis {
    /// Index (in [`LABELS`](crate::LABELS)) and probability of the most likely emotion of the verdict.
    pub fn top(&self) -> Option<(usize, f32)> {
        self.verdict.map(|v| argmax(&v))
    }
}

/// Index and value of the largest probability (the first one on ties).
pub fn argmax(p: &[f32; 8]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
}

/// Segment 16 kHz mono audio with `cfg`, classify each utterance and combine
/// them into a duration-weighted verdict.
pub fn analyze_samples(
    classifier: &Classifier,
    samples_16k: &[f32],
    cfg: &SegmenterConfig,
) -> Result<Analysis> {
    let utterances = segment_all(samples_16k, cfg)?;
    let mut segments = Vec::with_capacity(utterances.len());
    for u in &utterances {
        segments.push(SegmentResult {
            start_s: u.start_s(),
            end_s: u.end_s(),
            probs: classifier.classify(&u.samples)?,
        });
    }
    Ok(Analysis {
        duration_s: samples_16k.len() as f64 / f64::from(SAMPLE_RATE),
        verdict: weighted_verdict(&segments),
        segments,
    })
}

/// Decode a file as it is read and analyse it as [`analyze_samples`] would
/// the whole decoded audio (see [`analyze_reader`]).
pub fn analyze_file(
    classifier: &Classifier,
    path: impl AsRef<Path>,
    cfg: &SegmenterConfig,
) -> Result<Analysis> {
    analyze_reader(classifier, &mut AudioReader::open(path)?, cfg)
}

/// Samples [`analyze_reader`] reads at a time (1 s).
const READ_SAMPLES: usize = SAMPLE_RATE as usize;

/// Read `reader` to its end through the segmenter, classifying each
/// utterance as it closes: the same utterances and probabilities as
/// [`analyze_samples`] on the whole decoded audio, and the file's own
/// duration, with memory bounded by the longest utterance whatever the
/// file's length.
pub fn analyze_reader(
    classifier: &Classifier,
    reader: &mut AudioReader,
    cfg: &SegmenterConfig,
) -> Result<Analysis> {
    let mut segmenter = Segmenter::new(cfg)?;
    let mut segments = Vec::new();
    let mut classify = |utterances: Vec<Utterance>| -> Result<()> {
        for u in utterances {
            segments.push(SegmentResult {
                start_s: u.start_s(),
                end_s: u.end_s(),
                probs: classifier.classify(&u.samples)?,
            });
        }
        Ok(())
    };
    let mut chunk = Vec::with_capacity(READ_SAMPLES);
    loop {
        chunk.clear();
        if reader.read(&mut chunk, READ_SAMPLES)? == 0 {
            break;
        }
        classify(segmenter.push(&chunk))?;
    }
    classify(segmenter.finish())?;
    Ok(Analysis {
        duration_s: reader.duration_s(),
        verdict: weighted_verdict(&segments),
        segments,
    })
}

/// Duration-weighted mean of the segments' probabilities (`None` for no segments).
pub fn weighted_verdict(segments: &[SegmentResult]) -> Option<[f32; 8]> {
    let mut acc = [0f64; 8];
    let mut total = 0f64;
    for s in segments {
        let w = (s.end_s - s.start_s).max(0.0);
        total += w;
        for (a, p) in acc.iter_mut().zip(s.probs) {
            *a += w * f64::from(p);
        }
    }
    (total > 0.0).then(|| acc.map(|a| (a / total) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_is_duration_weighted() {
        let mut a = [0.0; 8];
        a[0] = 1.0;
        let mut b = [0.0; 8];
        b[4] = 1.0;
        let segs = [
            SegmentResult {
                start_s: 0.0,
                end_s: 1.0,
                probs: a,
            },
            SegmentResult {
                start_s: 2.0,
                end_s: 5.0,
                probs: b,
            },
        ];
        let v = weighted_verdict(&segs).unwrap();
        assert!(
            (v[0] - 0.25).abs() < 1e-6 && (v[4] - 0.75).abs() < 1e-6,
            "{v:?}"
        );
        assert_eq!(weighted_verdict(&[]), None);
        assert_eq!(argmax(&v), (4, v[4]));
    }
}
