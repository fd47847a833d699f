//! The recogniser, as the daemon uses it (wraps `ser_models`).
use std::path::Path;

use anyhow::Context;
use ser_ctl::protocol::{FileReport, Probs};
use ser_models::{Classifier, SegmenterConfig};

/// The loaded model (`Send + Sync`: one instance shared by all threads).
pub struct Engine {
    classifier: Classifier,
}

impl Engine {
    /// The model's version, as reported in `hello`, `status` and every result.
    pub fn version(&self) -> &str {
        &self.classifier.info().version
    }
    /// tract's matrix-kernel choice the model's plan got
    /// (`ser_models::Classifier::kernels`), for the start-up log.
    pub fn kernels(&self) -> &'static str {
        self.classifier.kernels()
    }
    /// Emotion probabilities of one utterance (16 kHz mono).
    pub fn classify(&self, samples: &[f32]) -> Result<Probs, String> {
        self.classifier
            .classify(samples)
            .map(Probs)
            .map_err(|e| e.to_string())
    }
    /// Decodes, segments (with `segmenter`, the daemon's `[vad]`) and
    /// classifies a whole file; the error names the file and the problem.
    pub fn analyze_file(
        &self,
        path: &Path,
        segmenter: &SegmenterConfig,
    ) -> Result<FileReport, String> {
        ser_ctl::report::analyze_path(&self.classifier, segmenter, path)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
pub const SAMPLE_RATE: u32 = 16_000;
/// An input file decoded as it is read, as [`SAMPLE_RATE`] mono
/// (`ser_models::AudioReader`): a long recording never sits in memory whole.
pub struct InputFile(ser_models::AudioReader);
impl InputFile {
    /// Appends up to `max` samples to `out`; 0 at the end of the file. The
    /// error names the file and the problem (the file then counts as ended).
    pub fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, String> {
        self.0.read(out, max).map_err(|e| e.to_string())
    }
}
pub struct Segment {
    pub start_sample: u64,
    pub samples: Vec<f32>,
}
/// Streaming downmix + resampling to 16 kHz mono (`ser_models::Resampler`).
pub struct Resampler(ser_models::Resampler);
impl Resampler {
    pub fn new(rate: u32, channels: u16) -> Result<Self, String> {
        ser_models::Resampler::new(rate, channels)
            .map(Resampler)
            .map_err(|e| e.to_string())
    }
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        self.0.push(interleaved, out)
    }
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        self.0.flush(out)
    }
}
/// The VAD segmenter (`ser_models::segment::Segmenter`; `!Send`: create it
/// on the thread that uses it).
pub struct Segmenter(ser_models::segment::Segmenter);
impl Segmenter {
    pub fn new(cfg: &crate::vad::VadConfig) -> Result<Self, String> {
        ser_models::segment::Segmenter::new(cfg)
            .map(Segmenter)
            .map_err(|e| e.to_string())
    }
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<Segment>) {
        out.extend(self.0.push(samples).into_iter().map(Segment::from));
    }
    pub fn flush(&mut self, out: &mut Vec<Segment>) {
        out.extend(self.0.finish().into_iter().map(Segment::from));
    }
}

impl From<ser_models::segment::Utterance> for Segment {
    fn from(u: ser_models::segment::Utterance) -> Segment {
        Segment {
            start_sample: u.start_sample,
            samples: u.samples,
        }
    }
}
impl Engine {
    /// The model built into the binary.
    pub fn embedded() -> anyhow::Result<Engine> {
        let classifier = Classifier::embedded().context("cannot load the embedded model")?;
        Ok(Engine { classifier })
    }
    /// An ONNX model file (`--model`, `[model] path`); the error names the file.
    pub fn from_path(p: &Path) -> anyhow::Result<Engine> {
        let classifier = Classifier::from_path(p).context("cannot load the model")?;
        Ok(Engine { classifier })
    }
    /// Opens a file (any format `ser_models` reads) for decoding to 16 kHz
    /// mono as it is read; a file that is missing, not audio, or in which
    /// nothing decodes fails here, with an error naming it.
    pub fn open_input(p: &Path) -> anyhow::Result<InputFile> {
        Ok(InputFile(ser_models::AudioReader::open(p)?))
    }
}
