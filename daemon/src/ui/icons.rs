//! The emoji artwork, embedded in the binary (`daemon/assets/icons/`, rendered
//! from Noto Color Emoji, SIL OFL 1.1; see the README there).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ser_ctl::protocol::{DaemonState, Emotion, Mood, MoodStatus};

/// What the tray shows: the mood's emotion, or the daemon's state when there is no mood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconKind {
    Emotion(Emotion),
    /// Listening, but no speech heard yet or recently.
    Idle,
    /// Listening paused by the user.
    Paused,
    /// No usable input device.
    NoMic,
}

/// The sizes every icon is embedded at, in pixels (square).
pub const SIZES: [u32; 2] = [32, 64];

macro_rules! icon_pair {
    ($name:literal) => {
        (
            include_bytes!(concat!("../../assets/icons/", $name, "-32.png")).as_slice(),
            include_bytes!(concat!("../../assets/icons/", $name, "-64.png")).as_slice(),
        )
    };
}

impl IconKind {
    /// Every icon, emotions first in canonical order.
    pub const ALL: [IconKind; 11] = [
        IconKind::Emotion(Emotion::Neutral),
        IconKind::Emotion(Emotion::Calm),
        IconKind::Emotion(Emotion::Happy),
        IconKind::Emotion(Emotion::Sad),
        IconKind::Emotion(Emotion::Angry),
        IconKind::Emotion(Emotion::Fearful),
        IconKind::Emotion(Emotion::Disgust),
        IconKind::Emotion(Emotion::Surprised),
        IconKind::Idle,
        IconKind::Paused,
        IconKind::NoMic,
    ];

    /// The icon for a daemon state and (while listening) its mood.
    pub fn for_state(state: DaemonState, mood: Option<&Mood>) -> IconKind {
        match state {
            DaemonState::Paused => IconKind::Paused,
            DaemonState::NoDevice => IconKind::NoMic,
            DaemonState::Listening | DaemonState::Stopping => match mood {
                Some(Mood {
                    status: MoodStatus::Current,
                    emotion: Some(e),
                    ..
                }) => IconKind::Emotion(*e),
                _ => IconKind::Idle,
            },
        }
    }

    /// The file stem under `daemon/assets/icons/` (and under the runtime icon dir).
    pub fn name(self) -> &'static str {
        match self {
            IconKind::Emotion(e) => e.label(),
            IconKind::Idle => "idle",
            IconKind::Paused => "paused",
            IconKind::NoMic => "no_mic",
        }
    }

    /// The embedded PNG bytes at one of [`SIZES`] (the nearest size not smaller
    /// than `px`, else the largest).
    pub fn png(self, px: u32) -> &'static [u8] {
        let (small, large) = match self {
            IconKind::Emotion(Emotion::Neutral) => icon_pair!("neutral"),
            IconKind::Emotion(Emotion::Calm) => icon_pair!("calm"),
            IconKind::Emotion(Emotion::Happy) => icon_pair!("happy"),
            IconKind::Emotion(Emotion::Sad) => icon_pair!("sad"),
            IconKind::Emotion(Emotion::Angry) => icon_pair!("angry"),
            IconKind::Emotion(Emotion::Fearful) => icon_pair!("fearful"),
            IconKind::Emotion(Emotion::Disgust) => icon_pair!("disgust"),
            IconKind::Emotion(Emotion::Surprised) => icon_pair!("surprised"),
            IconKind::Idle => icon_pair!("idle"),
            IconKind::Paused => icon_pair!("paused"),
            IconKind::NoMic => icon_pair!("no_mic"),
        };
        if px <= SIZES[0] {
            small
        } else {
            large
        }
    }

    /// The icon decoded to straight RGBA8, with its side length.
    pub fn rgba(self, px: u32) -> Result<(Vec<u8>, u32), png::DecodingError> {
        decode_rgba(self.png(px))
    }
}

/// Decodes a PNG to 8-bit RGBA (any colour type, palette and 16-bit included).
pub fn decode_rgba(bytes: &[u8]) -> Result<(Vec<u8>, u32), png::DecodingError> {
    let mut decoder = png::Decoder::new(io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let size = reader
        .output_buffer_size()
        .ok_or(png::DecodingError::LimitsExceeded)?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let pixels = (info.width * info.height) as usize;
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => unreachable!("normalize_to_color8 expands palettes"),
    };
    debug_assert_eq!(rgba.len(), pixels * 4);
    Ok((rgba, info.width))
}

/// Writes every icon as `<dir>/<name>-<size>.png` (for notification servers,
/// which want a file path) and returns `dir`. Existing files are replaced.
pub fn write_all(dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    for kind in IconKind::ALL {
        for size in SIZES {
            let path = file_path(dir, kind, size);
            let tmp = path.with_extension("png.tmp");
            fs::write(&tmp, kind.png(size))?;
            fs::rename(&tmp, &path)?;
        }
    }
    Ok(dir.to_path_buf())
}

/// Where [`write_all`] puts one icon.
pub fn file_path(dir: &Path, kind: IconKind, size: u32) -> PathBuf {
    dir.join(format!("{}-{size}.png", kind.name()))
}

/// The directory for the written icons: `$XDG_RUNTIME_DIR/ser/icons`, else
/// `<temp dir>/ser-<uid>/icons`.
pub fn runtime_icon_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("ser").join("icons"),
        // SAFETY: getuid has no preconditions and cannot fail.
        None => std::env::temp_dir()
            .join(format!("ser-{}", unsafe { libc::getuid() }))
            .join("icons"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icon_decodes_at_both_sizes_and_is_not_blank() {
        for kind in IconKind::ALL {
            for size in SIZES {
                let (rgba, side) = kind.rgba(size).unwrap();
                assert_eq!(side, size, "{kind:?}");
                assert_eq!(rgba.len(), (size * size * 4) as usize, "{kind:?}");
                let opaque = rgba.chunks_exact(4).filter(|p| p[3] > 128).count();
                assert!(
                    opaque > (size * size / 4) as usize,
                    "{kind:?} at {size} px has only {opaque} opaque pixels"
                );
            }
        }
    }

    #[test]
    fn every_icon_is_distinct() {
        let all: Vec<_> = IconKind::ALL.iter().map(|k| k.png(32)).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn size_choice() {
        let k = IconKind::Idle;
        assert_eq!(k.png(16), k.png(32));
        assert_eq!(k.png(33), k.png(64));
        assert_eq!(k.png(256), k.png(64));
        assert_ne!(k.png(32), k.png(64));
    }

    #[test]
    fn icon_follows_state_then_mood() {
        let mood = Mood {
            status: MoodStatus::Current,
            emotion: Some(Emotion::Angry),
            emoji: Some("😠".into()),
            confidence: Some(0.8),
            probs: None,
            last_heard: None,
            utterances: 3,
            half_life_s: 30.0,
            at: chrono::Utc::now(),
        };
        let stale = Mood {
            status: MoodStatus::Stale,
            ..mood.clone()
        };
        use DaemonState::*;
        assert_eq!(
            IconKind::for_state(Listening, Some(&mood)),
            IconKind::Emotion(Emotion::Angry)
        );
        assert_eq!(IconKind::for_state(Listening, Some(&stale)), IconKind::Idle);
        assert_eq!(IconKind::for_state(Listening, None), IconKind::Idle);
        assert_eq!(IconKind::for_state(Paused, Some(&mood)), IconKind::Paused);
        assert_eq!(IconKind::for_state(NoDevice, Some(&mood)), IconKind::NoMic);
    }

    #[test]
    fn write_all_writes_the_embedded_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_all(&dir.path().join("icons")).unwrap();
        for kind in IconKind::ALL {
            for size in SIZES {
                let bytes = fs::read(file_path(&out, kind, size)).unwrap();
                assert_eq!(bytes, kind.png(size));
            }
        }
    }
}
