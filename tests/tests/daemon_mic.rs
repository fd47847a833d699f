//! serd on the real sound server (PulseAudio with the rig's virtual mic):
//! speech played into the mic becomes events; removing the source puts the
//! daemon in `no_device`; restoring it brings it back to `listening`; a quiet
//! talker is heard.

use std::time::{Duration, Instant};

use ser_e2e::{mic_lock, ravdess_clip, DaemonProcess, RawConn, Rig, TestEnv};
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

/// Start serd on the rig's mic (no tray, no notifications), subscribe a
/// connection to `topics` (state among them) and wait until it is listening.
fn listening_serd(env: &TestEnv, topics: &[&str]) -> (DaemonProcess, RawConn) {
    listening_serd_with(env, topics, &[])
}

/// [`listening_serd`] with more `serd` arguments.
fn listening_serd_with(env: &TestEnv, topics: &[&str], args: &[&str]) -> (DaemonProcess, RawConn) {
    let mut serd = env.spawn_serd(["--no-tray", "--no-notify"].iter().chain(args));
    serd.wait_for_socket(Duration::from_secs(60));
    let mut sub = env.connect();
    sub.read_msg(Duration::from_secs(10));
    let r = sub.request(
        1,
        "subscribe",
        json!({ "topics": topics }),
        Duration::from_secs(10),
    );
    assert_eq!(r["type"], "subscribed", "{r}");
    wait_state(&mut sub, "listening", Duration::from_secs(60));
    (serd, sub)
}

/// `serctl ARGS --json`, parsed.
fn serctl_json(env: &TestEnv, args: &[&str]) -> Value {
    let (ok, out, err) = env.run_serctl(args.iter().chain(&["--json"]));
    assert!(ok, "serctl {args:?} failed: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("serctl {args:?}: {e}\n{out}"))
}

fn names(devices: &Value) -> Vec<&str> {
    devices
        .as_array()
        .expect("a JSON array of devices")
        .iter()
        .map(|d| d["name"].as_str().expect("every device has a name"))
        .collect()
}

#[test]
fn devices_are_listed_by_the_name_device_takes_and_a_named_device_is_captured() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    let (mut serd, mut sub) =
        listening_serd_with(&env, &["utterance", "state"], &["--device", "pulse"]);

    // Listed by the ALSA PCM name, described in words; the PCM that serd opened is in use.
    let devices = serctl_json(&env, &["devices"]);
    let listed = names(&devices);
    assert!(
        listed.contains(&"default") && listed.contains(&"pulse"),
        "{devices}"
    );
    for d in devices.as_array().unwrap() {
        assert_eq!(
            d["in_use"],
            d["name"] == "pulse",
            "only pulse is in use: {devices}"
        );
        assert_eq!(d["default"], d["name"] == "default", "{devices}");
    }
    let pulse = &devices.as_array().unwrap()[listed.iter().position(|n| *n == "pulse").unwrap()];
    assert!(
        pulse["description"]
            .as_str()
            .is_some_and(|t| t.contains("PulseAudio")),
        "{pulse}"
    );
    // ALSA's plugins that are no capture source only with --all.
    for plugin in ["null", "samplerate", "speexrate", "upmix", "vdownmix"] {
        assert!(!listed.contains(&plugin), "{plugin} listed: {devices}");
    }
    let all = serctl_json(&env, &["devices", "--all"]);
    assert!(
        names(&all).contains(&"null"),
        "--all lists ALSA's null PCM: {all}"
    );
    assert!(names(&all).len() > listed.len());
    let human = {
        let (ok, out, err) = env.run_serctl(["devices"]);
        assert!(ok, "{err}");
        out
    };
    let line = human
        .lines()
        .find(|l| l.starts_with('*'))
        .expect("a line marked in use");
    assert!(
        line.contains("pulse") && line.contains("PulseAudio"),
        "{human}"
    );

    // What is heard comes through the named device.
    rig.play_into_mic(&ravdess_clip(1, 5, 2, 1, 1));
    sub.read_until_type("utterance", Duration::from_secs(60));
    assert_eq!(serctl_json(&env, &["status"])["device"], "pulse");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );

    // A description still finds its device; an unknown name is reported with the names to use.
    let (mut serd, _sub) =
        listening_serd_with(&env, &["state"], &["--device", "PulseAudio Sound Server"]);
    assert_eq!(serctl_json(&env, &["status"])["device"], "pulse");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
    let mut serd = env.spawn_serd(["--no-tray", "--no-notify", "--device", "no-such-mic"]);
    serd.wait_for_socket(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let s = serctl_json(&env, &["status"]);
        // (`no_device` with the reason "starting" comes first)
        let tried = s["device_error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-mic"));
        if tried || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["state"], "no_device", "{status}");
    let why = status["device_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("no-such-mic") && why.contains("pulse"),
        "{status}"
    );
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}

#[test]
fn mic_speech_becomes_events_and_unplugging_is_survived() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    let (mut serd, mut sub) = listening_serd(&env, &["utterance", "state"]);

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
    let (mut serd, mut sub) = listening_serd(&env, &["state"]);
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

/// `clip` scaled so its loudest 30 ms frame is at −60 dBFS (a quiet talker,
/// or a microphone with little gain), written as a 16-bit WAV under `dir`.
fn quiet_copy(clip: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let mut reader = hound::WavReader::open(clip).expect("read the RAVDESS clip");
    let spec = reader.spec();
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let x: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let loudest = x
        .chunks(480)
        .map(|f| (f.iter().map(|v| v * v).sum::<f32>() / f.len() as f32).sqrt())
        .fold(0.0, f32::max);
    let gain = 10f32.powf(-60.0 / 20.0) / loudest;
    let out = dir.join("quiet.wav");
    let mut w = hound::WavWriter::create(&out, spec).expect("write quiet.wav");
    for v in x {
        w.write_sample((v * gain * 32768.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
    out
}

/// Listen on the rig's mic with `config`, play `wav` into it, and return the
/// number of utterances the daemon classified from it. A loud clip played
/// afterwards must then come out as the next utterance: the pipeline was live.
fn utterances_heard(rig: &Rig, env: &TestEnv, config: &str, wav: &std::path::Path) -> u64 {
    env.write_config(config);
    let (mut serd, mut sub) = listening_serd(env, &["utterance", "state"]);
    rig.play_into_mic(wav);
    // An utterance is classified about 0.4 s (the hangover) after speech ends.
    std::thread::sleep(Duration::from_millis(1500));
    let mut ctl = env.connect();
    ctl.read_msg(Duration::from_secs(10));
    let status = ctl.request(2, "status", json!({}), Duration::from_secs(10));
    let heard = status["data"]["utterances"]
        .as_u64()
        .expect("status.utterances");
    rig.play_into_mic(&ravdess_clip(2, 5, 2, 1, 1));
    let mut last = json!(null);
    while last["data"]["seq"].as_u64() != Some(heard + 1) {
        last = sub.read_until_type("utterance", Duration::from_secs(60));
        assert!(
            last["data"]["seq"].as_u64().unwrap() <= heard + 1,
            "an utterance came out after the status: {last}"
        );
    }
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
    heard
}

#[test]
fn a_quiet_talker_is_heard() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    // Actor 01, calm, at a quiet talker's level.
    let quiet = quiet_copy(&ravdess_clip(1, 2, 1, 1, 1), env.root());
    // Control: the plain VAD does not hear it (so the rig carries the low level).
    let plain = utterances_heard(&rig, &env, "[vad]\nvad_agc = false\n", &quiet);
    assert_eq!(
        plain, 0,
        "the plain VAD heard the quiet clip: nothing left to test"
    );
    // The default (level-normalised VAD input) hears it, once.
    let heard = utterances_heard(&rig, &env, "", &quiet);
    assert_eq!(
        heard, 1,
        "utterances from the quiet clip with the default settings"
    );
}
