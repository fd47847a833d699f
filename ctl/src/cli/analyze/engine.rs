//! The recogniser as `serctl analyze` uses it: ser_models decodes, segments
//! (the daemon's VAD settings), classifies and combines; this module turns
//! the result into the protocol's `FileReport`.

use std::path::Path;

use anyhow::{Context, Result};
use ser_ctl::protocol::{Emotion, FileReport, Probs, Segment};
use ser_models::{Classifier, SegmenterConfig};

/// A loaded model, shared by all worker threads (`Classifier` is `Send + Sync`).
pub struct Engine {
    classifier: Classifier,
    segmenter: SegmenterConfig,
}

impl Engine {
    /// Loads the model at `path`, or the embedded default.
    pub fn load(path: Option<&Path>) -> Result<Engine> {
        let classifier = match path {
            Some(p) => Classifier::from_path(p).context("loading the model")?, // the error names the file
            None => Classifier::embedded().context("loading the embedded model")?,
        };
        Ok(Engine {
            classifier,
            segmenter: SegmenterConfig::default(),
        })
    }

    /// Analyses one file; the error is one line naming the problem (not the path).
    pub fn analyze(&self, path: &Path) -> Result<FileReport, String> {
        let audio = ser_models::decode_file(path).map_err(|e| problem(path, &e))?;
        let analysis =
            ser_models::analyze_samples(&self.classifier, &audio.samples, &self.segmenter)
                .map_err(|e| problem(path, &e))?;
        let segments = analysis
            .segments
            .iter()
            .map(|s| {
                let probs = Probs(s.probs);
                let (emotion, confidence) = probs.top();
                Segment {
                    start_s: s.start_s,
                    end_s: s.end_s,
                    emotion,
                    emoji: emotion.emoji().to_string(),
                    confidence,
                    probs,
                }
            })
            .collect();
        let verdict: Option<(Emotion, f32, Probs)> = analysis.verdict.map(|v| {
            let probs = Probs(v);
            let (e, c) = probs.top();
            (e, c, probs)
        });
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
            model: self.classifier.info().version.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_do_not_repeat_the_path() {
        let p = Path::new("/x/a.wav");
        let e = ser_models::Error::EmptyFile { path: p.into() };
        assert_eq!(problem(p, &e), "the file is empty");
        let e = ser_models::Error::Io {
            path: p.into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(problem(p, &e), "Permission denied");
    }
}
