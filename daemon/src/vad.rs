//! `[vad]`: the segmentation settings are `ser_models::segment::SegmenterConfig`
//! itself (one source of truth; it rejects unknown keys).

pub use ser_models::segment::SegmenterConfig as VadConfig;

/// Checks `[vad]`, naming the key at fault (`vad.<field>`).
pub(crate) fn validate(c: &VadConfig) -> Result<(), (String, String)> {
    c.validate().map_err(|e| {
        let msg = match e {
            ser_models::Error::InvalidSegmenterConfig(m) => m,
            other => other.to_string(),
        };
        let field = msg.split_whitespace().next().unwrap_or("").to_string();
        let key = if field.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !field.is_empty()
        {
            format!("vad.{field}")
        } else {
            "vad".to_string()
        };
        (key, msg)
    })
}
