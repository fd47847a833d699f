//! The recogniser as `serctl analyze` uses it: decode (ser_models), segment
//! (ser_models, the same VAD settings as the daemon), classify each segment,
//! and build the protocol's `FileReport`.

use std::path::Path;

use anyhow::{bail, Result};
use ser_ctl::protocol::{Emotion, FileReport, Probs, Segment};
use ser_models::SegmenterConfig;

/// A loaded model, shared by all worker threads.
pub struct Engine {
    segmenter: SegmenterConfig,
    model: String,
}

impl Engine {
    /// Loads the model at `path`, or the embedded default.
    pub fn load(_path: Option<&Path>) -> Result<Engine> {
        bail!(
            "this build of serctl has no classifier yet (ser_models::Classifier is not available)"
        )
    }

    /// Classifies one utterance (16 kHz mono).
    fn classify(&self, _samples: &[f32]) -> Result<Probs, String> {
        Err("no classifier".into())
    }

    /// Analyses one file; the error is one line naming the problem (not the path).
    pub fn analyze(&self, path: &Path) -> Result<FileReport, String> {
        let audio = ser_models::decode_file(path).map_err(|e| problem(path, &e))?;
        let utterances = ser_models::segment_all(&audio.samples, &self.segmenter)
            .map_err(|e| problem(path, &e))?;
        let mut segments = Vec::with_capacity(utterances.len());
        for u in &utterances {
            let probs = self.classify(&u.samples)?;
            let (emotion, confidence) = probs.top();
            segments.push(Segment {
                start_s: u.start_s(),
                end_s: u.end_s(),
                emotion,
                emoji: emotion.emoji().to_string(),
                confidence,
                probs,
            });
        }
        let verdict = verdict(&segments);
        Ok(FileReport {
            path: path.to_path_buf(),
            duration_s: audio.duration_s,
            sample_rate: audio.source_rate,
            channels: audio.source_channels,
            emotion: verdict.map(|v| v.0),
            emoji: verdict.map(|v| v.0.emoji().to_string()),
            confidence: verdict.map(|v| v.1),
            probs: verdict.map(|v| v.2),
            note: verdict.is_none().then(|| "no speech detected".to_string()),
            segments,
            model: self.model.clone(),
        })
    }
}

/// A ser_models error as a problem of `path`: without the leading path
/// (serctl prints `serctl: PATH: problem`) and without "(os error N)".
fn problem(path: &Path, e: &ser_models::Error) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    let text = text.strip_prefix(&prefix).unwrap_or(&text);
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// The whole-file verdict: the duration-weighted mean of the segments'
/// probabilities, renormalised; `None` without segments.
pub fn verdict(segments: &[Segment]) -> Option<(Emotion, f32, Probs)> {
    let mut sum = [0.0f64; 8];
    let mut total = 0.0f64;
    for s in segments {
        let w = (s.end_s - s.start_s).max(0.0);
        total += w;
        for (acc, p) in sum.iter_mut().zip(s.probs.0) {
            *acc += w * f64::from(p);
        }
    }
    let norm: f64 = sum.iter().sum();
    if segments.is_empty() || total <= 0.0 || norm <= 0.0 {
        return None;
    }
    let probs = Probs(sum.map(|v| (v / norm) as f32));
    let (e, c) = probs.top();
    Some((e, c, probs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_s: f64, end_s: f64, p: [f32; 8]) -> Segment {
        let probs = Probs(p);
        let (emotion, confidence) = probs.top();
        Segment {
            start_s,
            end_s,
            emotion,
            emoji: emotion.emoji().into(),
            confidence,
            probs,
        }
    }

    #[test]
    fn the_verdict_weighs_segments_by_duration() {
        let a = seg(0.0, 3.0, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let b = seg(4.0, 5.0, [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        let (e, c, p) = verdict(&[a, b]).unwrap();
        assert_eq!(e, Emotion::Happy);
        assert!((c - 0.75).abs() < 1e-6);
        assert!((p.get(Emotion::Angry) - 0.25).abs() < 1e-6);
        assert!((p.0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(verdict(&[]), None);
    }
}
