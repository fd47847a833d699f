//! `serd --input file:` runs RAVDESS clips through the live pipeline: one
//! utterance event per clip, with the emotion the recogniser gives the clip
//! on its own, all of them in the history.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ser_e2e::{proc_kib, ravdess_clip, wav, DaemonProcess, RawConn, TestEnv};
use serde_json::{json, Value};

/// `lead` s of silence, then each clip (padded to whole VAD frames) followed by `gap` s of silence.
fn build_input(dir: &Path, clips: &[PathBuf], lead: f32, gap: f32) -> PathBuf {
    let mut all = wav::silence(lead);
    for c in clips {
        all.extend(wav::read_frame_padded(c));
        all.extend(wav::silence(gap));
    }
    let path = dir.join("clips.wav");
    wav::write_mono16(&path, all);
    path
}

fn clips() -> Vec<PathBuf> {
    vec![
        ravdess_clip(1, 5, 2, 1, 1), // angry, strong
        ravdess_clip(2, 4, 2, 2, 1), // sad, strong
        ravdess_clip(3, 3, 2, 1, 2), // happy, strong
    ]
}

/// The emotion the daemon's recogniser gives the clip as a file of its own.
fn expected_emotion(conn: &mut ser_e2e::RawConn, clip: &Path) -> Value {
    let r = conn.request(
        90,
        "analyze",
        json!({ "path": clip }),
        Duration::from_secs(120),
    );
    assert_eq!(r["type"], "analysis", "{r}");
    let segs = r["data"]["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 1, "the clip alone should be one utterance: {r}");
    segs[0]["emotion"].clone()
}

/// serd fed `input` at `pace`, and a client subscribed to its utterance
/// and state events.
fn serd_on_file(env: &TestEnv, input: &Path, pace: &str) -> (DaemonProcess, RawConn) {
    let serd = env.spawn_serd_on_file(input, pace, &[]);
    let mut sub = env.connect();
    assert_eq!(sub.read_msg(Duration::from_secs(10))["type"], "hello");
    let r = sub.request(
        1,
        "subscribe",
        json!({"topics": ["utterance", "state"]}),
        Duration::from_secs(10),
    );
    assert_eq!(r["type"], "subscribed", "{r}");
    (serd, sub)
}

/// The utterance events until the input is exhausted and at least `n` came,
/// plus any that arrive within 3 s more.
fn utterances_of_the_file(sub: &mut RawConn, serd: &DaemonProcess, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    let mut exhausted = false;
    while !exhausted || events.len() < n {
        let line = sub.try_read_line(Duration::from_secs(120));
        let Ok(Some(line)) = line else {
            panic!("no event: {line:?}; got {events:?}\n{}", serd.logs())
        };
        let msg: Value = serde_json::from_str(&line).unwrap();
        match msg["type"].as_str() {
            Some("utterance") => events.push(msg["data"].clone()),
            Some("state") if msg["data"]["reason"] == "input exhausted" => exhausted = true,
            _ => {}
        }
    }
    // Anything more would arrive promptly; give it a moment to show up.
    while let Ok(Some(line)) = sub.try_read_line(Duration::from_secs(3)) {
        let msg: Value = serde_json::from_str(&line).unwrap();
        if msg["type"] == "utterance" {
            events.push(msg["data"].clone());
        }
    }
    events
}

#[test]
fn file_input_gives_one_event_per_clip_with_the_offline_emotion() {
    let env = TestEnv::without_rig();
    let clips = clips();
    let input = build_input(env.root(), &clips, 3.0, 2.0);
    let (mut serd, mut sub) = serd_on_file(&env, &input, "realtime");
    let events = utterances_of_the_file(&mut sub, &serd, clips.len());
    assert_eq!(
        events.len(),
        clips.len(),
        "one utterance per clip: {events:#?}\n{}",
        serd.logs()
    );

    let mut ctl = env.connect();
    ctl.read_msg(Duration::from_secs(10));
    for (i, (ev, clip)) in events.iter().zip(&clips).enumerate() {
        assert_eq!(ev["seq"], i as u64 + 1);
        let dur = ev["duration_s"].as_f64().unwrap();
        assert!(
            (1.0..6.0).contains(&dur),
            "duration {dur} for {}",
            clip.display()
        );
        assert_eq!(
            ev["emotion"],
            expected_emotion(&mut ctl, clip),
            "clip {}",
            clip.display()
        );
        assert!(!ev["emoji"].as_str().unwrap().is_empty());
    }
    // Starts are in order and about 2 s of silence plus a clip apart.
    let starts: Vec<chrono::DateTime<chrono::Utc>> = events
        .iter()
        .map(|e| e["start"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");

    let status = ctl.request(2, "status", json!({}), Duration::from_secs(10));
    assert_eq!(status["data"]["state"], "listening", "{status}");
    assert_eq!(
        status["data"]["device"],
        format!("file:{}", input.display())
    );
    assert_eq!(status["data"]["utterances"], clips.len() as u64);

    let hist = ctl.request(3, "history", json!({}), Duration::from_secs(10));
    assert_eq!(
        hist["data"]["entries"].as_array().unwrap(),
        &events,
        "history holds exactly the events"
    );
    let file = std::fs::read_to_string(env.data_dir().join("history.jsonl")).unwrap();
    assert_eq!(file.lines().count(), clips.len());

    let mood = ctl.request(4, "mood", json!({}), Duration::from_secs(10));
    assert_eq!(mood["data"]["status"], "current");
    assert_eq!(mood["data"]["utterances"], clips.len() as u64);

    // The real serd binary carries ser's kernel choice for symbolic lengths
    // (ser_models::kernels: a registration the linker could drop).
    assert!(
        serd.stderr().contains(r#"kernels="ser-symbolic-length""#),
        "{}",
        serd.logs()
    );

    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}

#[test]
fn exit_after_input_stops_cleanly_once_everything_is_published() {
    let env = TestEnv::without_rig();
    let clips = clips();
    let input = build_input(env.root(), &clips[..2], 0.5, 1.0);
    let mut serd = env.spawn_serd([
        "--input",
        &format!("file:{}", input.display()),
        "--pace",
        "max",
        "--exit-after-input",
        "--no-tray",
        "--no-notify",
    ]);
    let status = serd.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "{status}\n{}", serd.logs());
    let file = std::fs::read_to_string(env.data_dir().join("history.jsonl")).unwrap();
    assert_eq!(file.lines().count(), 2, "{file}\n{}", serd.logs());
    assert!(!env.socket().exists(), "socket removed on exit");
}

#[test]
fn a_long_file_is_decoded_as_it_is_fed_not_held_in_memory() {
    // 30 min of audio, then a clip: 110 MiB as decoded f32 samples, more than
    // serd's whole footprint (about 50 MiB), so a serd that decoded the file
    // up front would peak well above the bound below.
    let env = TestEnv::without_rig();
    let clip = clips().remove(0);
    let input = build_input(env.root(), std::slice::from_ref(&clip), 1800.0, 1.0);
    let (mut serd, mut sub) = serd_on_file(&env, &input, "max");
    let events = utterances_of_the_file(&mut sub, &serd, 1);
    // the clip at the very end was heard: the whole file went through
    assert_eq!(events.len(), 1, "{events:#?}\n{}", serd.logs());
    let dur = events[0]["duration_s"].as_f64().unwrap();
    assert!((1.0..6.0).contains(&dur), "{:?}", events[0]);
    let peak = proc_kib(serd.pid(), "VmHWM");
    assert!(
        peak < 100 * 1024,
        "serd peaked at {peak} KiB resident for a 30 min file\n{}",
        serd.logs()
    );
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}
