//! `config.toml`: the daemon's settings, every key optional.
//!
//! Read from `--config PATH`, else `$XDG_CONFIG_HOME/ser/config.toml`; a
//! missing file means all defaults. Every section rejects unknown keys, and
//! every error names the file, the key (`section.key`) and the problem, so a
//! typo never silently falls back to a default. `serd --print-config` prints
//! the effective configuration, defaults included. The keys are documented
//! with their defaults in README.md, section "Configuration".

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::history::HistoryConfig;
use crate::ui::quiet::QuietHours;
use crate::ui::{NotifyConfig, TrayConfig};
pub use crate::vad::VadConfig;

/// `[audio]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Input device name as listed by `serctl devices` (for ALSA the PCM name, e.g.
    /// `pulse`; a device's description also works); empty: the system default.
    pub device: String,
    /// Frames per capture callback (cpal `BufferSize::Fixed`); 0: the host's default.
    pub buffer_frames: u32,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            device: String::new(),
            buffer_frames: 480,
        }
    }
}

/// `[mood]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoodConfig {
    /// Seconds after which an utterance counts half as much.
    pub half_life_s: f64,
    /// The mood is `stale` once the last speech is older than this many half-lives.
    pub stale_after: f64,
}

impl Default for MoodConfig {
    fn default() -> Self {
        MoodConfig {
            half_life_s: 60.0,
            stale_after: 10.0,
        }
    }
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// An ONNX model file to use instead of the embedded one; empty: embedded.
    pub path: String,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub audio: AudioConfig,
    pub vad: VadConfig,
    pub mood: MoodConfig,
    pub history: HistoryConfig,
    pub notifications: NotifyConfig,
    pub tray: TrayConfig,
    pub model: ModelConfig,
}

/// An invalid configuration file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}: {problem}", .path.display())]
    Read { path: PathBuf, problem: String },
    #[error("{}: not valid TOML: {problem}", .path.display())]
    Syntax { path: PathBuf, problem: String },
    #[error("{}: key `{key}`: {problem}", .path.display())]
    Key {
        path: PathBuf,
        key: String,
        problem: String,
    },
}

impl ConfigError {
    /// The offending key (`section.key`), when the problem is one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The default location: `$XDG_CONFIG_HOME/ser/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "ser").map(|d| d.config_dir().join("config.toml"))
}

impl Config {
    /// Loads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                problem: e.to_string(),
            }),
        }
    }

    /// Parses and validates `text` (`path` is only used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            problem: e.message().trim().to_string()
                + &e.span()
                    .map(|s| format!(" (at {})", line_col(text, s.start)))
                    .unwrap_or_default(),
        })?;
        let key_err = |key: String, problem: String| ConfigError::Key {
            path: path.to_path_buf(),
            key,
            problem,
        };
        let mut cfg = Config::default();
        for (name, value) in table {
            match name.as_str() {
                "audio" => cfg.audio = section(&name, value).map_err(|(k, p)| key_err(k, p))?,
                "vad" => cfg.vad = section(&name, value).map_err(|(k, p)| key_err(k, p))?,
                "mood" => cfg.mood = section(&name, value).map_err(|(k, p)| key_err(k, p))?,
                "history" => cfg.history = section(&name, value).map_err(|(k, p)| key_err(k, p))?,
                "notifications" => {
                    cfg.notifications = section(&name, value).map_err(|(k, p)| key_err(k, p))?
                }
                "tray" => cfg.tray = section(&name, value).map_err(|(k, p)| key_err(k, p))?,
                "model" => cfg.model = section(&name, value).map_err(|(k, p)| key_err(k, p))?,
                _ => {
                    return Err(key_err(
                        name,
                        "unknown section (expected one of: audio, vad, mood, history, notifications, tray, model)"
                            .into(),
                    ))
                }
            }
        }
        cfg.validate().map_err(|(k, p)| key_err(k, p))?;
        Ok(cfg)
    }

    /// Range checks serde cannot express. Returns the key and the problem.
    fn validate(&self) -> Result<(), (String, String)> {
        fn check(ok: bool, key: &str, problem: &str) -> Result<(), (String, String)> {
            if ok {
                Ok(())
            } else {
                Err((key.to_string(), problem.to_string()))
            }
        }
        check(
            self.audio.buffer_frames <= 65_536,
            "audio.buffer_frames",
            "must be at most 65536 (0: the host's default)",
        )?;
        check(
            self.mood.half_life_s.is_finite() && self.mood.half_life_s > 0.0,
            "mood.half_life_s",
            "must be a number of seconds greater than 0",
        )?;
        check(
            self.mood.stale_after.is_finite() && self.mood.stale_after > 0.0,
            "mood.stale_after",
            "must be a number of half-lives greater than 0",
        )?;
        check(
            self.history.max_bytes >= 1024,
            "history.max_bytes",
            "must be at least 1024",
        )?;
        check(
            (0.0..=1.0).contains(&self.notifications.min_confidence),
            "notifications.min_confidence",
            "must be between 0 and 1",
        )?;
        if let Err(e) = QuietHours::parse_opt(&self.notifications.quiet_hours) {
            check(false, "notifications.quiet_hours", &e.to_string())?;
        }
        crate::vad::validate(&self.vad)?;
        Ok(())
    }

    /// The configuration as TOML, every key present.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config always serialises")
    }

    /// The model file to load, if not the embedded one.
    pub fn model_path(&self) -> Option<PathBuf> {
        (!self.model.path.is_empty()).then(|| PathBuf::from(&self.model.path))
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {col}")
}

/// Deserialises one section; on failure finds the key at fault by trying
/// each key alone (every field has a default, so only the bad one fails).
fn section<T: DeserializeOwned>(name: &str, value: toml::Value) -> Result<T, (String, String)> {
    let toml::Value::Table(table) = value else {
        return Err((name.to_string(), format!("must be a table ([{name}])")));
    };
    match T::deserialize(toml::Value::Table(table.clone())) {
        Ok(v) => Ok(v),
        Err(whole) => {
            for (k, v) in table {
                let mut one = toml::Table::new();
                one.insert(k.clone(), v);
                if let Err(e) = T::deserialize(toml::Value::Table(one)) {
                    let msg = e.message().trim().to_string();
                    return Err((format!("{name}.{k}"), msg));
                }
            }
            Err((name.to_string(), whole.message().trim().to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/test/config.toml"))
    }

    #[test]
    fn empty_and_missing_give_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(
            Config::load(Path::new("/nonexistent/config.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn printed_defaults_parse_back_to_the_same() {
        let text = Config::default().to_toml();
        for section in [
            "[audio]",
            "[vad]",
            "[mood]",
            "[history]",
            "[notifications]",
            "[tray]",
            "[model]",
        ] {
            assert!(text.contains(section), "{section} missing in\n{text}");
        }
        assert_eq!(parse(&text).unwrap(), Config::default());
    }

    #[test]
    fn values_are_read() {
        let c = parse(
            "[mood]\nhalf_life_s = 30\n[history]\nkeep_files = 2\n[audio]\ndevice = \"pulse\"\n",
        )
        .unwrap();
        assert_eq!(c.mood.half_life_s, 30.0);
        assert_eq!(c.history.keep_files, 2);
        assert_eq!(c.audio.device, "pulse");
        assert_eq!(c.mood.stale_after, 10.0);
    }

    fn key_of(text: &str) -> (String, String) {
        let e = parse(text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("/etc/test/config.toml"), "{msg}");
        (e.key().unwrap_or("<none>").to_string(), msg)
    }

    #[test]
    fn each_error_names_its_key() {
        let cases: &[(&str, &str)] = &[
            ("[mood]\nhalf_lfe_s = 3\n", "mood.half_lfe_s"),
            ("[mood]\nhalf_life_s = \"soon\"\n", "mood.half_life_s"),
            ("[mood]\nhalf_life_s = 0\n", "mood.half_life_s"),
            ("[mood]\nstale_after = -1\n", "mood.stale_after"),
            ("[history]\nmax_bytes = 10\n", "history.max_bytes"),
            ("[history]\nkeep_files = -1\n", "history.keep_files"),
            (
                "[history]\nretention_days = \"x\"\n",
                "history.retention_days",
            ),
            ("[audio]\nbuffer_frames = 1000000\n", "audio.buffer_frames"),
            ("[audio]\ndevice = 3\n", "audio.device"),
            (
                "[notifications]\nmin_confidence = 2.0\n",
                "notifications.min_confidence",
            ),
            (
                "[notifications]\nemotions = [\"bored\"]\n",
                "notifications.emotions",
            ),
            (
                "[notifications]\nquiet_hours = \"late\"\n",
                "notifications.quiet_hours",
            ),
            ("[tray]\nenabled = \"yes\"\n", "tray.enabled"),
            ("[model]\npth = \"x\"\n", "model.pth"),
            ("[vad]\nvad_mode = \"loud\"\n", "vad.vad_mode"),
            ("[vad]\nonset_frames = 0\n", "vad.onset_frames"),
            ("[vad]\nhangover = 3\n", "vad.hangover"),
            ("[sound]\n", "sound"),
            ("mood = 3\n", "mood"),
        ];
        for (text, key) in cases {
            let (k, msg) = key_of(text);
            assert_eq!(&k, key, "for {text:?}: {msg}");
            assert!(msg.contains(key), "{msg}");
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse("[mood\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_key_message_lists_what_is_allowed() {
        let (_, msg) = key_of("[history]\nmax_byte = 5\n");
        assert!(msg.contains("max_bytes"), "{msg}");
    }
}
