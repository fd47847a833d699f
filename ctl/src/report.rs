//! One file's analysis as the protocol's [`FileReport`]: the single routine
//! behind `serctl analyze` and the daemon's `analyze` request.
//!
//! Only with the `models` feature (pulls in `ser-models` and tract); the
//! plain library stays free of it.

use std::path::Path;

use ser_models::{Classifier, SegmenterConfig};

use crate::protocol::{Emotion, FileReport, Probs, Segment};

/// Decodes `path` as it reads it, segments it with `segmenter`, classifies
/// each utterance and builds the report. The error is one line naming the
/// problem, without the path (callers add it where they need it).
pub fn analyze_path(
    classifier: &Classifier,
    segmenter: &SegmenterConfig,
    path: &Path,
) -> Result<FileReport, String> {
    let mut reader = ser_models::AudioReader::open(path).map_err(|e| problem(path, &e))?;
    let analysis = ser_models::analyze_reader(classifier, &mut reader, segmenter)
        .map_err(|e| problem(path, &e))?;
    let source = Source {
        rate: reader.source_rate(),
        channels: reader.source_channels(),
    };
    Ok(file_report(
        path,
        source,
        &analysis,
        &classifier.info().version,
    ))
}

/// What a file held before it was brought to 16 kHz mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Its sample rate in Hz.
    pub rate: u32,
    /// Its channel count.
    pub channels: u16,
}

/// The protocol report of the `analysis` of `path` (the analysis carries
/// the file's duration).
pub fn file_report(
    path: &Path,
    source: Source,
    analysis: &ser_models::Analysis,
    model: &str,
) -> FileReport {
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
    FileReport {
        path: path.to_path_buf(),
        duration_s: analysis.duration_s,
        sample_rate: source.rate,
        channels: source.channels,
        emotion: verdict.map(|v| v.0),
        emoji: verdict.map(|v| v.0.emoji().to_string()),
        confidence: verdict.map(|v| v.1),
        probs: verdict.map(|v| v.2),
        note: verdict.is_none().then(|| "no speech detected".to_string()),
        segments,
        model: model.to_string(),
    }
}

/// A ser_models error as a problem of `path`: without the leading path
/// and without "(os error N)".
pub fn problem(path: &Path, e: &ser_models::Error) -> String {
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

    #[test]
    fn silence_gives_no_verdict_and_a_note() {
        let source = Source {
            rate: 16_000,
            channels: 1,
        };
        let analysis = ser_models::Analysis {
            duration_s: 1.0,
            segments: vec![],
            verdict: None,
        };
        let r = file_report(Path::new("/s.wav"), source, &analysis, "m1");
        assert_eq!(r.emotion, None);
        assert_eq!(r.note.as_deref(), Some("no speech detected"));
        assert_eq!(r.model, "m1");
        assert_eq!((r.sample_rate, r.channels), (16_000, 1));
    }
}
