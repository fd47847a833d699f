//! Helpers shared by the tray / notification tests (not a test target itself).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ser_e2e::{ravdess_dir, wav, workspace_root, Rig, TestEnv};
use serde_json::Value;

/// Every icon the daemon draws, by the name of its artwork
/// (`daemon/assets/icons/NAME-32.png` and `NAME-64.png`): the eight moods,
/// then the states without one.
pub const ICON_NAMES: [&str; 11] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
    "idle",
    "paused",
    "no_mic",
];

/// A RAVDESS clip and what the current model makes of it on its own.
#[derive(Debug, Clone)]
pub struct Clip {
    pub path: PathBuf,
    pub emotion: String,
    pub confidence: f64,
}

/// The two clips, of different emotions, that the current model classifies
/// with the highest confidence (from `serctl analyze --json` over actors 1–3).
/// The strongest clip of each predicted emotion competes; the top two win.
pub fn two_distinct_clips(env: &TestEnv) -> (Clip, Clip) {
    let mut args = vec!["analyze".to_string(), "--json".to_string()];
    for actor in 1..=3 {
        let dir = ravdess_dir().join(format!("Actor_{actor:02}"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (set SER_RAVDESS)", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        files.sort();
        args.extend(files.iter().map(|p| p.to_string_lossy().into_owned()));
    }
    let (_ok, out, err) = env.run_serctl(&args);
    let mut best: Vec<Clip> = Vec::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let (Some(emotion), Some(conf)) = (v["emotion"].as_str(), v["confidence"].as_f64()) else {
            continue;
        };
        let clip = Clip {
            path: PathBuf::from(v["path"].as_str().unwrap()),
            emotion: emotion.to_string(),
            confidence: conf,
        };
        match best.iter_mut().find(|c| c.emotion == clip.emotion) {
            Some(c) if c.confidence >= clip.confidence => {}
            Some(c) => *c = clip,
            None => best.push(clip),
        }
    }
    best.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    assert!(
        best.len() >= 2,
        "the model gave fewer than two distinct emotions over actors 1-3: {best:?}\n{err}"
    );
    (best[0].clone(), best[1].clone())
}

/// One piece of a test recording.
pub enum Part<'a> {
    Silence(f32),
    Clip(&'a Path),
}

/// Writes the parts, in order, as one 16 kHz mono WAV in `dir`; clips are
/// padded to whole VAD frames.
pub fn build_wav(dir: &Path, name: &str, parts: &[Part]) -> PathBuf {
    let path = dir.join(name);
    let samples = parts.iter().flat_map(|part| match part {
        Part::Silence(s) => wav::silence(*s),
        Part::Clip(p) => wav::read_frame_padded(p),
    });
    wav::write_mono16(&path, samples);
    path
}

/// The config every UI test starts from: a 2 s mood half-life, so 10 s of
/// silence lets a new emotion take over the mood (stale only after 20 s).
pub fn config(min_confidence: f64, min_interval_s: u64, notify_enabled: bool) -> String {
    format!(
        "[mood]\nhalf_life_s = 2\n\n[notifications]\nenabled = {notify_enabled}\n\
         min_confidence = {min_confidence:.3}\nmin_interval_s = {min_interval_s}\ntimeout_ms = 400\n"
    )
}

/// The standard recording: `lead` s of silence, clip A, 10 s silence, clip B twice, 8 s silence.
pub fn a_then_b(dir: &Path, a: &Clip, b: &Clip, lead: f32) -> PathBuf {
    build_wav(
        dir,
        "a_then_b.wav",
        &[
            Part::Silence(lead),
            Part::Clip(&a.path),
            Part::Silence(10.0),
            Part::Clip(&b.path),
            Part::Silence(0.5),
            Part::Clip(&b.path),
            Part::Silence(8.0),
        ],
    )
}

/// Runs `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One notification from `dunstctl history`, reduced to its string fields.
#[derive(Debug, Clone)]
pub struct Shown {
    pub summary: String,
    pub body: String,
    pub appname: String,
    pub category: String,
    pub icon_path: String,
    pub id: i64,
}

/// Every closed notification dunst remembers, oldest first.
pub fn dunst_history(rig: &Rig) -> Vec<Shown> {
    let out = rig.run("dunstctl", &["history"]);
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("dunstctl history: {e}: {out}"));
    let field = |n: &Value, k: &str| n[k]["data"].as_str().unwrap_or_default().to_string();
    let mut all: Vec<Shown> = v["data"][0]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|n| Shown {
            summary: field(n, "summary"),
            body: field(n, "body"),
            appname: field(n, "appname"),
            category: field(n, "category"),
            icon_path: field(n, "icon_path"),
            id: n["id"]["data"].as_i64().unwrap_or_default(),
        })
        .collect();
    all.sort_by_key(|n| n.id);
    all
}

/// Waits until dunst shows and queues nothing (closed notifications reach the history).
pub fn wait_dunst_idle(rig: &Rig) {
    wait_for(
        Duration::from_secs(30),
        "dunst to close its notifications",
        || {
            let n = |what: &str| {
                rig.run("dunstctl", &["count", what])
                    .trim()
                    .parse::<u32>()
                    .unwrap_or(1)
            };
            (n("displayed") == 0 && n("waiting") == 0).then_some(())
        },
    );
}

/// The notifications a daemon of `env` sent (its icons live in the env's runtime dir).
pub fn notifications_of(rig: &Rig, env: &TestEnv) -> Vec<Shown> {
    let prefix = env.var("XDG_RUNTIME_DIR").unwrap().to_string();
    dunst_history(rig)
        .into_iter()
        .filter(|n| n.icon_path.starts_with(&prefix))
        .collect()
}

/// The committed artwork for an icon name (`calm`, `idle`, ...) at 32 px.
pub fn artwork(name: &str) -> PathBuf {
    workspace_root().join(format!("daemon/assets/icons/{name}-32.png"))
}

/// The emoji `serctl` / the protocol use for a label.
pub fn emoji(label: &str) -> &'static str {
    let e: ser_ctl::protocol::Emotion = label.parse().unwrap();
    e.emoji()
}

/// "Calm" for "calm".
pub fn title(label: &str) -> &'static str {
    let e: ser_ctl::protocol::Emotion = label.parse().unwrap();
    e.title()
}
