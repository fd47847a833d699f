//! `ser-models`: the recognizer core of ser.
//!
//! Pure functions over `&[f32]` mono 16 kHz audio, shared by the daemon (live
//! audio), `serctl analyze` (files) and the training pipeline (feature dump),
//! so all three see exactly the same features and segments.

pub mod analysis;
pub mod audio;
pub mod dataset;
pub mod error;
pub mod features;
pub mod labels;
pub mod model;
pub mod segment;

pub use analysis::{analyze_file, analyze_samples, Analysis, SegmentResult};
pub use audio::{decode_file, DecodedAudio, Resampler};
pub use error::{Error, Result};
pub use features::{FeatureConfig, FeatureExtractor, FeatureKind, Features};
pub use labels::LABELS;
pub use model::{Classifier, ModelInfo};
pub use segment::{segment_all, Segmenter, SegmenterConfig, Utterance};
