//! Helpers shared by the hardening tests (not a test target itself).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use ser_e2e::{ravdess_clip, wav, RawConn, TestEnv};
use serde_json::{json, Value};

use ser_e2e::wav::RATE;

/// Eight different RAVDESS clips (one per emotion, various actors).
pub fn clips() -> Vec<PathBuf> {
    (1..=8u8)
        .map(|e| ravdess_clip(1 + (e % 4), e, if e == 1 { 1 } else { 2 }, 1 + e % 2, 1))
        .collect()
}

/// A WAV in `dir`: `lead` s of silence, then `clips` cycled until at least
/// `min_seconds` of audio, each clip followed by `gap` s of silence. Returns
/// the path and how many clips it holds. Written in the temp dir only.
pub fn build_input(dir: &Path, clips: &[PathBuf], gap: f32, min_seconds: f64) -> (PathBuf, usize) {
    let loaded: Vec<Vec<i16>> = clips.iter().map(|c| wav::read_frame_padded(c)).collect();
    let gap = wav::silence(gap);
    let (mut written, mut n) = (0usize, 0usize);
    while (written as f64) / f64::from(RATE) < min_seconds {
        written += loaded[n % loaded.len()].len() + gap.len();
        n += 1;
    }
    let path = dir.join("input.wav");
    // Streamed: an hour of soak input is never held in memory at once.
    let body = (0..n).flat_map(|i| loaded[i % loaded.len()].iter().chain(&gap).copied());
    wav::write_mono16(&path, wav::silence(1.0).into_iter().chain(body));
    (path, n)
}

/// A connection that has read `hello` and subscribed to `topics`.
pub fn subscriber(env: &TestEnv, topics: &[&str]) -> RawConn {
    let mut c = env.connect();
    let hello = c.read_msg(Duration::from_secs(30));
    assert_eq!(hello["type"], "hello", "{hello}");
    let r = c.request(
        1,
        "subscribe",
        json!({ "topics": topics }),
        Duration::from_secs(30),
    );
    assert_eq!(r["type"], "subscribed", "{r}");
    c
}

/// A connection that has read `hello`.
pub fn client(env: &TestEnv) -> RawConn {
    let mut c = env.connect();
    let hello = c.read_msg(Duration::from_secs(30));
    assert_eq!(hello["type"], "hello", "{hello}");
    c
}

/// Waits for a `state` event with `state == want` (other messages are skipped).
pub fn wait_state(conn: &mut RawConn, want: &str, timeout: Duration) -> Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let msg = conn.read_until_type("state", left);
        if msg["data"]["state"] == want {
            return msg;
        }
    }
}

/// The history lines of `env` (current file), as raw strings.
pub fn history_lines(env: &TestEnv) -> Vec<String> {
    let p = env.data_dir().join("history.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every entry of the daemon's `history` reply.
pub fn history_entries(conn: &mut RawConn, id: u64) -> Vec<Value> {
    let r = conn.request(id, "history", json!({}), Duration::from_secs(60));
    assert_eq!(r["type"], "history", "{r}");
    r["data"]["entries"].as_array().unwrap().clone()
}
