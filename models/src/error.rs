//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `ser-models`.
///
/// Variants that concern a file carry its path, and every message names the
/// file and the problem, so callers can show it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The file asked for.
        path: PathBuf,
    },
    /// The path exists but is not a regular file (directory, FIFO, device, socket).
    #[error("{}: not a regular file (it is a {kind})", path.display())]
    NotAFile {
        /// The path asked for.
        path: PathBuf,
        /// What it is instead ("directory", "FIFO", …).
        kind: &'static str,
    },
    /// A data set (folder or CSV) holds no labelled audio file.
    #[error(
        "{}: no labelled audio files found (expected RAVDESS names like 03-01-05-01-01-01-01.wav or a path,label CSV)",
        path.display()
    )]
    NoLabelledFiles {
        /// The folder or CSV.
        path: PathBuf,
    },
    /// The file has zero bytes.
    #[error("{}: the file is empty", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The container or codec is not one we can read.
    #[error("{}: unsupported audio format ({reason})", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The file has a container but no decodable audio track.
    #[error("{}: no audio track", path.display())]
    NoAudioTrack {
        /// The file.
        path: PathBuf,
    },
    /// The audio data is corrupt or truncated beyond what can be decoded.
    #[error("{}: corrupt audio data ({reason})", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Reading the file failed (permissions, I/O error).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A sample rate or channel count that cannot be resampled.
    #[error("invalid audio stream: {0}")]
    InvalidStream(String),
    /// A feature configuration the extractor cannot compute.
    #[error("invalid feature configuration: {0}")]
    InvalidFeatureConfig(String),
    /// A perturbation spec that cannot be parsed or applied.
    #[error("invalid perturbation: {0}")]
    InvalidPerturbation(String),
    /// A segmenter configuration that makes no sense.
    #[error("invalid segmenter configuration: {0}")]
    InvalidSegmenterConfig(String),
    /// A model file that cannot be used (unreadable ONNX, missing or wrong metadata, wrong shapes).
    #[error("model {source_name}: {reason}")]
    Model {
        /// The model file path, or `<embedded>` for the built-in model.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Running the model failed.
    #[error("inference failed: {0}")]
    Inference(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
