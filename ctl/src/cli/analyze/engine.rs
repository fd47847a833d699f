//! The recogniser as `serctl analyze` uses it: ser_models decodes, segments
//! (the daemon's VAD settings), classifies and combines; this module turns
//! the result into the protocol's `FileReport` (`ser_ctl::report`, shared with serd).

use std::path::Path;

use anyhow::{Context, Result};
use ser_ctl::protocol::FileReport;
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
        ser_ctl::report::analyze_path(&self.classifier, &self.segmenter, path)
    }
}
