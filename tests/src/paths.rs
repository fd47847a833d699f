//! Where things are: the workspace, the built binaries, the RAVDESS clips.

use std::path::{Path, PathBuf};

use ser_ctl::protocol::Emotion;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The path of a workspace binary (`serd`, `serctl`, `ser-eval`, ...).
///
/// Looked up in `$SER_BIN_DIR` when set, else in the cargo target directory the
/// running test executable was built in (`target/<profile>/deps/<test>` →
/// `target/<profile>/`). Panics with the command to run when the binary is missing.
pub fn bin(name: &str) -> PathBuf {
    let dir = bin_dir();
    let path = dir.join(name);
    if !path.is_file() {
        panic!(
            "binary `{name}` not found at {}; build it first: cargo build --release --workspace \
             (or point SER_BIN_DIR at the directory holding it)",
            path.display()
        );
    }
    path
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SER_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    let mut dir = exe.parent().expect("the test executable has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("deps/ has a parent");
    }
    dir.to_path_buf()
}

/// The RAVDESS directory: `$SER_RAVDESS`, else `<workspace>/../shared/data/ravdess`.
pub fn ravdess_dir() -> PathBuf {
    match std::env::var_os("SER_RAVDESS").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared/data/ravdess"),
    }
}

/// One RAVDESS speech clip (16 kHz mono WAV):
/// `Actor_AA/03-01-EE-II-SS-RR-AA.wav`.
///
/// * `actor`: 1..=24 (odd = male, even = female)
/// * `emotion`: 1..=8 (neutral, calm, happy, sad, angry, fearful, disgust, surprised)
/// * `intensity`: 1 normal, 2 strong (neutral has only 1)
/// * `statement`: 1 "Kids are talking by the door", 2 "Dogs are sitting by the door"
/// * `repetition`: 1 or 2
///
/// Panics with a clear message when the file does not exist.
pub fn ravdess_clip(
    actor: u8,
    emotion: u8,
    intensity: u8,
    statement: u8,
    repetition: u8,
) -> PathBuf {
    let path = ravdess_dir()
        .join(format!("Actor_{actor:02}"))
        .join(format!(
            "03-01-{emotion:02}-{intensity:02}-{statement:02}-{repetition:02}-{actor:02}.wav"
        ));
    if !path.is_file() {
        panic!(
            "RAVDESS clip not found: {} (set SER_RAVDESS to the directory holding Actor_01..Actor_24)",
            path.display()
        );
    }
    path
}

/// The first clip of `emotion` by `actor`: normal intensity (strong for any emotion
/// but neutral would be `ravdess_clip(actor, code, 2, 1, 1)`), statement 1, repetition 1.
pub fn ravdess_clip_for(actor: u8, emotion: Emotion) -> PathBuf {
    ravdess_clip(actor, emotion.index() as u8 + 1, 1, 1, 1)
}
