//! serd on the real sound server (PulseAudio with the rig's virtual mic):
//! speech played into the mic becomes events; removing the source puts the
//! daemon in `no_device`; restoring it brings it back to `listening`.

use std::time::{Duration, Instant};

use ser_e2e::{mic_lock, ravdess_clip, RawConn, Rig, TestEnv};
use serde_json::{json, Value};

fn wait_state(conn: &mut RawConn, want: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = conn.read_until_type("state", left);
        if msg["data"]["state"] == want {
            return msg;
        }
    }
}

#[test]
fn mic_speech_becomes_events_and_unplugging_is_survived() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    let mut serd = env.spawn_serd(["--no-tray", "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(60));
    let mut sub = env.connect();
    sub.read_msg(Duration::from_secs(10));
    let r = sub.request(
        1,
        "subscribe",
        json!({"topics": ["utterance", "state"]}),
        Duration::from_secs(10),
    );
    assert_eq!(r["type"], "subscribed");
    wait_state(&mut sub, "listening", Duration::from_secs(60));

    rig.play_into_mic(&ravdess_clip(1, 5, 2, 1, 1));
    let ev = sub.read_until_type("utterance", Duration::from_secs(60));
    assert_eq!(ev["data"]["seq"], 1, "{ev}");
    assert!(ev["data"]["duration_s"].as_f64().unwrap() > 1.0, "{ev}");

    let mut ctl = env.connect();
    ctl.read_msg(Duration::from_secs(10));
    let devices = ctl.request(2, "devices", json!({}), Duration::from_secs(30));
    let list = devices["data"]["devices"].as_array().unwrap();
    assert!(list.iter().any(|d| d["in_use"] == true), "{devices}");

    let unplugged = rig.unplug_mic();
    let st = wait_state(&mut sub, "no_device", Duration::from_secs(60));
    assert!(
        st["data"]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{st}"
    );
    let status = ctl.request(3, "status", json!({}), Duration::from_secs(10));
    assert_eq!(status["data"]["state"], "no_device");
    assert!(status["data"]["device_error"].is_string(), "{status}");

    unplugged.replug();
    wait_state(&mut sub, "listening", Duration::from_secs(90));
    rig.play_into_mic(&ravdess_clip(2, 4, 2, 2, 1));
    let ev = sub.read_until_type("utterance", Duration::from_secs(60));
    assert_eq!(ev["data"]["seq"], 2, "{ev}");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}

#[test]
fn pause_closes_the_input_and_resume_reopens_it() {
    let _rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    let mut serd = env.spawn_serd(["--no-tray", "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(60));
    let mut sub = env.connect();
    sub.read_msg(Duration::from_secs(10));
    sub.request(
        1,
        "subscribe",
        json!({"topics": ["state"]}),
        Duration::from_secs(10),
    );
    wait_state(&mut sub, "listening", Duration::from_secs(60));
    let mut ctl = env.connect();
    ctl.read_msg(Duration::from_secs(10));
    let r = ctl.request(2, "pause", json!({}), Duration::from_secs(10));
    assert_eq!(r["data"]["state"], "paused", "{r}");
    wait_state(&mut sub, "paused", Duration::from_secs(10));
    let r = ctl.request(3, "resume", json!({}), Duration::from_secs(30));
    assert_eq!(r["type"], "ok", "{r}");
    wait_state(&mut sub, "listening", Duration::from_secs(60));
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}
