//! `ser-models`: the recognizer core of ser.
//!
//! Everything that turns sound into emotion probabilities, shared by the
//! daemon (live audio), `serctl analyze` (files) and the training pipeline
//! (feature dump), so all three see exactly the same audio, segments and
//! features:
//!
//! | module | holds |
//! |---|---|
//! | [`audio`] | [`decode_file`] and the streaming [`AudioReader`] (symphonia: WAV, FLAC, MP3, Ogg Vorbis) and the one streaming downmix + resampler to 16 kHz mono, [`Resampler`] (rubato sinc) |
//! | [`segment`] | VAD segmentation (webrtc-vad): the streaming [`Segmenter`] and [`segment_all`] |
//! | [`features`] | [`FeatureConfig`] (the one source of truth) and [`FeatureExtractor`]: log-mel and MFCC as librosa computes them |
//! | [`pitch`] | [`PitchTracker`]: F0 (semitones) and voicing per frame, appended to the features when `FeatureConfig::pitch` is on |
//! | [`kernels`] | the rung ser adds to tract's kernel dispatch, so layers of symbolic length get tiles that fit their channels |
//! | [`model`] | [`Classifier`]: a self-describing ONNX model run with tract, the embedded default model |
//! | [`analysis`] | [`analyze_reader`] (a file, streamed) and [`analyze_samples`]: segments → per-segment probabilities → duration-weighted verdict |
//! | [`perturb`] | [`Perturbation`]: reproducible noise, babble, telephone, gain and speed degradations (robustness tests, training augmentation) |
//! | [`labels`] | [`LABELS`], the canonical order of the 8 emotions, and RAVDESS file names |
//! | [`dataset`] | labelled data sets (RAVDESS folder or `path,label` CSV) for the tools |
//!
//! Binaries: `ser-features` (training feature dump), `ser-eval` (accuracy of a
//! model), `ser-bench` (speed of each stage).
//!
//! ```
//! use ser_models::{analyze_samples, Classifier, SegmenterConfig, LABELS};
//!
//! let classifier = Classifier::embedded()?;
//! // 16 kHz mono audio; here two seconds of silence.
//! let samples = vec![0.0f32; 32_000];
//! let analysis = analyze_samples(&classifier, &samples, &SegmenterConfig::default())?;
//! assert!(analysis.verdict.is_none()); // no speech
//! let probs = classifier.classify(&samples)?; // one utterance, classified whole
//! assert_eq!(probs.len(), LABELS.len());
//! # Ok::<(), ser_models::Error>(())
//! ```
//!
//! Threads: [`Classifier`] and [`FeatureExtractor`] are `Send + Sync`;
//! [`Resampler`] is `Send`; [`Segmenter`] is `!Send` (webrtc-vad), so it is
//! created on the thread that feeds it.
#![warn(missing_docs)]

pub mod analysis;
pub mod audio;
pub mod dataset;
pub mod error;
pub mod features;
pub mod kernels;
pub mod labels;
pub mod model;
pub mod perturb;
pub mod pitch;
pub mod segment;

pub use analysis::{analyze_file, analyze_reader, analyze_samples, Analysis, SegmentResult};
pub use audio::{decode_file, AudioReader, DecodedAudio, Resampler};
pub use error::{Error, Result};
pub use features::{FeatureConfig, FeatureExtractor, FeatureKind, Features, SPEECH_EMBEDDING_MELS};
pub use labels::LABELS;
pub use model::{Classifier, ModelInfo};
pub use perturb::{BabbleBed, Perturbation, Perturber};
pub use pitch::PitchTracker;
pub use segment::{segment_all, Segmenter, SegmenterConfig, Utterance};
