//! `[vad]`: the segmentation settings, mapped onto `ser_models::segment`.

use serde::{Deserialize, Serialize};

/// `[vad]` in config.toml (see docs/ARCHITECTURE.md, "Segmentation").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VadConfig {
    /// webrtc-vad aggressiveness: quality, low_bitrate, aggressive, very_aggressive.
    pub mode: String,
    /// Voiced 30 ms frames in a row that open an utterance.
    pub onset_frames: u32,
    /// Audio kept before the onset, in ms.
    pub pre_roll_ms: u32,
    /// Silence that closes an utterance, in ms.
    pub hangover_ms: u32,
    /// Shorter utterances are dropped, in ms.
    pub min_ms: u32,
    /// Longer speech is cut into windows of this length, in ms.
    pub max_ms: u32,
    /// Overlap between consecutive windows of long speech, in ms.
    pub overlap_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            mode: "aggressive".into(),
            onset_frames: 3,
            pre_roll_ms: 200,
            hangover_ms: 400,
            min_ms: 500,
            max_ms: 8000,
            overlap_ms: 2000,
        }
    }
}

impl VadConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        const MODES: [&str; 4] = ["quality", "low_bitrate", "aggressive", "very_aggressive"];
        if !MODES.contains(&self.mode.as_str()) {
            return Err((
                "vad.mode",
                format!("{:?} is not one of {}", self.mode, MODES.join(", ")),
            ));
        }
        if self.onset_frames == 0 {
            return Err(("vad.onset_frames", "must be at least 1".into()));
        }
        if self.max_ms < self.min_ms.max(100) {
            return Err(("vad.max_ms", "must be at least min_ms and 100".into()));
        }
        if self.overlap_ms >= self.max_ms {
            return Err(("vad.overlap_ms", "must be less than max_ms".into()));
        }
        Ok(())
    }
}
