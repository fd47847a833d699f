//! The emotion classifier: a self-describing ONNX model run with tract.
//!
//! A model file declares, in its ONNX `metadata_props`, the labels
//! (`ser.labels`, which must be [`LABELS`] in order), the features it takes
//! (`ser.features`, a [`FeatureConfig`] as JSON), a version (`ser.version`)
//! and a description (`ser.description`). Its input `features` is float32
//! `[1, T, F]` with T symbolic and F the feature dimension; its output
//! `probs` is float32 `[1, 8]`. Anything else fails to load with an
//! [`Error::Model`] naming the file and the problem.

use std::path::Path;
use std::sync::Arc;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::features::{FeatureConfig, FeatureExtractor, Features};
pub use crate::labels::LABELS;

/// The built-in model (`models/assets/default.onnx`).
pub static EMBEDDED_MODEL: &[u8] = include_bytes!("../assets/default.onnx");

/// What [`ModelInfo::source`] says for the built-in model.
pub const EMBEDDED_SOURCE: &str = "<embedded>";

/// Shorter inputs are padded (by repeating their frames) to this many frames.
pub const MIN_FRAMES: usize = 10;

/// What a model says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The file it was loaded from, or [`EMBEDDED_SOURCE`].
    pub source: String,
    /// `ser.version`.
    pub version: String,
    /// `ser.description`.
    pub description: String,
    /// `ser.labels` (always equal to [`LABELS`]).
    pub labels: Vec<String>,
    /// `ser.features`: the features the model takes.
    pub features: FeatureConfig,
}

type Plan = Arc<TypedRunnableModel>;

/// A loaded model with its feature extractor. `Send + Sync`: share it in an
/// `Arc` and call [`classify`](Self::classify) from any thread.
pub struct Classifier {
    info: ModelInfo,
    extractor: FeatureExtractor,
    plan: Plan,
    kernels: &'static str,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Classifier {
    /// Load the built-in model.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(EMBEDDED_MODEL, EMBEDDED_SOURCE)
    }

    /// Load a model file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        crate::audio::check_regular_file(path)?;
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Load a model from its bytes; `source` names it in errors and in [`ModelInfo`].
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self> {
        let fail = |reason: String| Error::Model {
            source_name: source.to_string(),
            reason,
        };
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| fail(format!("not a readable ONNX model ({e})")))?;
        let info = read_metadata(&proto, source).map_err(fail)?;
        let extractor = FeatureExtractor::new(&info.features)
            .map_err(|e| fail(format!("ser.features: {e}")))?;
        // the kernel choice tract makes for the plan built just below
        let kernels = crate::kernels::dispatch();
        if kernels == crate::kernels::MISSING {
            tracing::warn!(
                "tract's kernel dispatch lacks ser's rung for symbolic lengths: inference will be slower"
            );
        }
        let plan = build_plan(&onnx, &proto, info.features.dim()).map_err(fail)?;
        Ok(Classifier {
            info,
            extractor,
            plan,
            kernels,
        })
    }

    /// What the model says about itself.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// tract's matrix-kernel choice this model's plan was built with
    /// ([`kernels::dispatch`](crate::kernels::dispatch)).
    pub fn kernels(&self) -> &'static str {
        self.kernels
    }

    /// The feature extractor configured as the model asks.
    pub fn extractor(&self) -> &FeatureExtractor {
        &self.extractor
    }

    /// Emotion probabilities (in [`LABELS`] order) of 16 kHz mono audio.
    pub fn classify(&self, samples_16k: &[f32]) -> Result<[f32; 8]> {
        self.classify_features(&self.extractor.extract(samples_16k))
    }

    /// Emotion probabilities of an already computed feature matrix. Fewer than
    /// [`MIN_FRAMES`] frames are padded by repeating the frames.
    pub fn classify_features(&self, features: &Features) -> Result<[f32; 8]> {
        let dim = self.info.features.dim();
        if features.dim != dim || features.data.len() != features.frames * features.dim {
            return Err(Error::Inference(format!(
                "features are {} × {} ({} values) but the model takes {dim} per frame",
                features.frames,
                features.dim,
                features.data.len()
            )));
        }
        if features.frames == 0 {
            return Err(Error::Inference("no feature frames".into()));
        }
        let frames = features.frames.max(MIN_FRAMES);
        let data: Vec<f32> = if frames == features.frames {
            features.data.clone()
        } else {
            features
                .data
                .iter()
                .copied()
                .cycle()
                .take(frames * dim)
                .collect()
        };
        let input = Tensor::from_shape(&[1, frames, dim], &data)
            .map_err(|e| Error::Inference(e.to_string()))?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::Inference(format!("{e:#}")))?;
        let probs = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Inference(e.to_string()))?;
        let values: Vec<f32> = probs.iter().copied().collect();
        let arr: [f32; 8] = values.as_slice().try_into().map_err(|_| {
            Error::Inference(format!("the model gave {} values, not 8", values.len()))
        })?;
        if arr.iter().any(|p| !p.is_finite()) {
            return Err(Error::Inference(format!(
                "the model gave non-finite probabilities {arr:?}"
            )));
        }
        Ok(arr)
    }
}

fn meta<'a>(proto: &'a ModelProto, key: &str) -> Option<&'a str> {
    proto
        .metadata_props
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

fn read_metadata(proto: &ModelProto, source: &str) -> std::result::Result<ModelInfo, String> {
    let need = |key: &str| {
        meta(proto, key).ok_or_else(|| {
            format!("missing metadata {key:?} (a ser model declares ser.labels, ser.features, ser.version and ser.description)")
        })
    };
    let labels_json = need("ser.labels")?;
    let labels: Vec<String> = serde_json::from_str(labels_json)
        .map_err(|e| format!("ser.labels is not a JSON array of strings ({e}): {labels_json}"))?;
    if labels != LABELS {
        return Err(format!(
            "ser.labels is {labels:?} but ser needs {LABELS:?} in this order"
        ));
    }
    let features = FeatureConfig::from_json(need("ser.features")?)
        .map_err(|e| format!("ser.features: {e}"))?;
    let version = need("ser.version")?.to_string();
    let description = need("ser.description")?.to_string();
    Ok(ModelInfo {
        source: source.to_string(),
        version,
        description,
        labels,
        features,
    })
}

fn build_plan(
    onnx: &tract_onnx::Onnx,
    proto: &ModelProto,
    dim: usize,
) -> std::result::Result<Plan, String> {
    let model = onnx
        .model_for_proto_model(proto)
        .map_err(|e| format!("cannot translate the ONNX graph ({e:#})"))?;
    let inputs = model.input_outlets().map_err(|e| e.to_string())?.to_vec();
    let outputs = model.output_outlets().map_err(|e| e.to_string())?.to_vec();
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(format!(
            "has {} inputs and {} outputs; ser models have one input `features` and one output `probs`",
            inputs.len(),
            outputs.len()
        ));
    }
    let in_name = &model.node(inputs[0].node).name;
    if in_name != "features" {
        return Err(format!("input is named {in_name:?}, not \"features\""));
    }
    let out_name = model
        .outlet_label(outputs[0])
        .unwrap_or(&model.node(outputs[0].node).name);
    if out_name != "probs" {
        return Err(format!("output is named {out_name:?}, not \"probs\""));
    }
    let typed = model
        .into_typed()
        .map_err(|e| format!("cannot type the graph ({e:#})"))?;
    let in_shape = typed
        .input_fact(0)
        .map_err(|e| e.to_string())?
        .shape
        .clone();
    let d = in_shape.dims();
    let fixed = |i: usize| d.get(i).and_then(|v| v.to_i64().ok());
    if d.len() != 3 || fixed(0) != Some(1) || fixed(2) != Some(dim as i64) || fixed(1).is_some() {
        return Err(format!(
            "input `features` is {in_shape:?}; its features config needs [1, T, {dim}] with T symbolic"
        ));
    }
    let out_shape = typed
        .output_fact(0)
        .map_err(|e| e.to_string())?
        .shape
        .clone();
    let o = out_shape.dims();
    if o.len() != 2 || o.iter().map(|v| v.to_i64().ok()).collect::<Vec<_>>() != [Some(1), Some(8)] {
        return Err(format!("output `probs` is {out_shape:?}, not [1, 8]"));
    }
    typed
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("cannot optimise the graph ({e:#})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn classifier_is_send_and_sync() {
        assert_send_sync::<Classifier>();
    }
}
