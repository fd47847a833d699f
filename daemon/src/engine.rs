//! The recogniser, as the daemon uses it (wraps `ser_models`).
use std::path::Path;

use ser_ctl::protocol::{FileReport, Probs};

pub struct Engine {
    version: String,
}

impl Engine {
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn classify(&self, _samples: &[f32]) -> Result<Probs, String> {
        Err("the recogniser (ser_models) is not wired into serd yet".into())
    }
    pub fn analyze_file(&self, _path: &Path) -> Result<FileReport, String> {
        Err("the recogniser (ser_models) is not wired into serd yet".into())
    }
}
pub const SAMPLE_RATE: u32 = 16_000;
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: u16,
}
pub struct Segment {
    pub start_sample: u64,
    pub samples: Vec<f32>,
}
pub struct Resampler;
impl Resampler {
    pub fn new(_r: u32, _c: u16) -> Result<Self, String> {
        Err("the recogniser (ser_models) is not wired into serd yet".into())
    }
    pub fn push(&mut self, _i: &[f32], _o: &mut Vec<f32>) {}
    pub fn flush(&mut self, _o: &mut Vec<f32>) {}
}
pub struct Segmenter;
impl Segmenter {
    pub fn new(_c: &crate::vad::VadConfig) -> Result<Self, String> {
        Err("the recogniser (ser_models) is not wired into serd yet".into())
    }
    pub fn push(&mut self, _i: &[f32], _o: &mut Vec<Segment>) {}
    pub fn flush(&mut self, _o: &mut Vec<Segment>) {}
}
impl Engine {
    pub fn embedded() -> anyhow::Result<Engine> {
        anyhow::bail!("the recogniser (ser_models) is not wired into serd yet")
    }
    pub fn from_path(_p: &Path) -> anyhow::Result<Engine> {
        anyhow::bail!("the recogniser (ser_models) is not wired into serd yet")
    }
    pub fn decode(_p: &Path) -> anyhow::Result<Decoded> {
        anyhow::bail!("the recogniser (ser_models) is not wired into serd yet")
    }
}
