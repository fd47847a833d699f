//! serctl against the real daemon: every command on a daemon fed from a
//! RAVDESS clip, the daemon-down path, `watch` across a daemon restart, and
//! the Python and socat examples of the README.
//!
//! The daemon runs with `--input file:... --no-tray --no-notify`, so no rig
//! (display, bus, sound server) is needed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ser_ctl::protocol::{Ack, Device, Mood, MoodStatus, Utterance};
use ser_e2e::{ravdess_clip, workspace_root, DaemonProcess, TestEnv};
use serde_json::Value;

/// Generous bound for a daemon to get through a few seconds of audio on a
/// busy 2-core machine (a deadline for waiting, not a performance check).
const PATIENCE: Duration = Duration::from_secs(90);

fn angry_clip() -> PathBuf {
    ravdess_clip(1, 5, 2, 1, 1)
}

/// Writes `lead` s of silence, then `clip` (if any), then 1 s of silence.
fn wav(dir: &Path, name: &str, lead: f32, clip: Option<&Path>) -> PathBuf {
    use ser_e2e::wav::{read_mono16, write_mono16, RATE};
    let mut samples = vec![0i16; (lead * RATE as f32) as usize];
    if let Some(c) = clip {
        samples.extend(read_mono16(c));
    }
    samples.extend(vec![0i16; RATE as usize]);
    let path = dir.join(name);
    write_mono16(&path, samples);
    path
}

fn serd(env: &TestEnv, input: &Path, pace: &str) -> DaemonProcess {
    env.spawn_serd_on_file(input, pace, &[])
}

fn serctl(env: &TestEnv, args: &[&str]) -> Output {
    env.serctl().args(args).output().expect("cannot run serctl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs serctl, expects exit 0, returns stdout.
fn ok(env: &TestEnv, args: &[&str]) -> String {
    let out = serctl(env, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "serctl {args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(env: &TestEnv, args: &[&str]) -> Value {
    let out = ok(env, args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("serctl {args:?}: {e}\n{out}"))
}

/// Polls `serctl status --json` until `done` holds.
fn wait_status(env: &TestEnv, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let s = json(env, &["status", "--json"]);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "waited in vain for {what}: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lines of a child's pipe, readable with a deadline.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(r: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx, seen: vec![] }
    }

    /// The first line (from now on) for which `want` holds.
    fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {what}; got:\n{}", self.seen.join("\n")),
            }
        }
    }
}

/// Kills a child we started (by its own handle) if it is still running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_command_against_a_file_fed_daemon() {
    let env = TestEnv::without_rig();
    let clip = angry_clip();
    let mut daemon = serd(&env, &clip, "max");
    let status = wait_status(&env, "one utterance", |s| {
        s["utterances"].as_u64() >= Some(1)
    });

    // status, human and JSON; `serctl` alone is `serctl status`.
    assert_eq!(status["running"], true);
    assert_eq!(status["socket"], env.socket().to_str().unwrap());
    assert!(
        status["device"].as_str().unwrap().starts_with("file:"),
        "{status}"
    );
    assert_eq!(status["pid"].as_u64(), Some(u64::from(daemon.pid())));
    let human = ok(&env, &[]);
    assert!(human.starts_with("serd "), "{human}");
    assert!(human.contains(&format!("pid {}", daemon.pid())), "{human}");
    assert!(human.contains("utterances:"), "{human}");
    assert_eq!(human, ok(&env, &["status"]));

    // mood: the JSON is the protocol's Mood, the line agrees with it.
    let mood: Mood = serde_json::from_value(json(&env, &["mood", "--json"])).unwrap();
    assert_eq!(mood.status, MoodStatus::Current);
    let emotion = mood.emotion.expect("a current mood has an emotion");
    let line = ok(&env, &["mood"]);
    assert!(line.starts_with(emotion.emoji()), "{line} vs {mood:?}");
    assert!(line.contains(emotion.label()), "{line}");
    assert!(
        line.trim_end().ends_with("ago)") || line.contains("just now"),
        "{line}"
    );

    // history: JSON Lines of utterances; the human form ends with a summary.
    let hist = ok(&env, &["history", "--json"]);
    let entries: Vec<Utterance> = hist
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(entries.len() as u64, status["utterances"].as_u64().unwrap());
    for u in &entries {
        let sum: f32 = u.probs.0.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "probs sum to {sum}");
    }
    let human = ok(&env, &["history", "--since", "1h"]);
    let summary = human.lines().last().unwrap();
    assert!(summary.contains("utterance"), "{human}");
    assert!(summary.contains(entries[0].emotion.label()), "{summary}");
    assert_eq!(ok(&env, &["history", "--limit", "0", "--json"]), "");

    // devices: a JSON array of the protocol's Device.
    let _: Vec<Device> = serde_json::from_value(json(&env, &["devices", "--json"])).unwrap();

    // notifications: off, read back; on is refused, since this serd runs
    // with --no-tray --no-notify and nothing could show them (exit 4, one line).
    assert_eq!(ok(&env, &["notifications", "off"]).trim(), "off");
    assert_eq!(ok(&env, &["notifications"]).trim(), "off");
    assert_eq!(json(&env, &["status", "--json"])["notifications"], false);
    let out = serctl(&env, &["notifications", "on"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("without a desktop"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(json(&env, &["status", "--json"])["notifications"], false);

    // pause / resume, with the state read back.
    let ack: Ack = serde_json::from_value(json(&env, &["pause", "--json"])).unwrap();
    assert_eq!(ack.state.map(|s| s.label()), Some("paused"));
    assert_eq!(json(&env, &["status", "--json"])["state"], "paused");
    assert!(ok(&env, &["resume"]).starts_with("serd: "));
    assert_ne!(json(&env, &["status", "--json"])["state"], "paused");

    // reload without a configuration file: the defaults, accepted.
    assert!(ok(&env, &["reload"]).contains("reloaded"));
    // reload of an invalid file: the daemon refuses, exit 4, one line.
    env.write_config("this is = = not toml\n");
    let out = serctl(&env, &["reload"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("serctl: "), "{err}");
    assert!(err.contains("invalid_config"), "{err}");
    std::fs::remove_file(env.config_dir().join("config.toml")).unwrap();

    // history --clear empties it.
    assert!(ok(&env, &["history", "--clear"]).contains("cleared"));
    assert_eq!(ok(&env, &["history", "--json"]), "");

    // stop: the daemon exits and serctl waits for it.
    assert_eq!(ok(&env, &["stop"]).trim(), "serd: stopped");
    let exit = daemon.wait_exit(PATIENCE);
    assert!(exit.success(), "{exit}\n{}", daemon.logs());

    // Now it is down: exit 3 and a hint, or nothing at all with --quiet.
    let out = serctl(&env, &["mood"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("is it running?"));
    let out = serctl(&env, &["mood", "--quiet"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
    let out = serctl(&env, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["running"], false);
}

#[test]
fn every_daemon_command_says_how_to_start_serd_when_it_is_down() {
    let env = TestEnv::without_rig();
    for args in [
        &[][..],
        &["status"],
        &["mood"],
        &["watch"],
        &["history"],
        &["history", "--clear"],
        &["pause"],
        &["resume"],
        &["stop"],
        &["reload"],
        &["notifications", "off"],
        &["devices", "--json"],
    ] {
        let out = serctl(&env, args);
        assert_eq!(out.status.code(), Some(3), "serctl {args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "serctl {args:?}: {err}");
        assert!(err.starts_with("serctl: "), "{err}");
        assert!(err.contains(env.socket().to_str().unwrap()), "{err}");
        assert!(err.contains("systemctl --user start serd"), "{err}");
        assert!(!err.contains("os error"), "{err}");
    }
}

#[test]
fn watch_reconnects_when_the_daemon_restarts() {
    let env = TestEnv::without_rig();
    // First daemon: silence only, so no utterance before the restart.
    let quiet = wav(env.root(), "quiet.wav", 1.0, None);
    let mut first = serd(&env, &quiet, "max");

    let mut watch = Reaped(
        env.serctl()
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = Lines::of(watch.0.stdout.take().unwrap());
    let mut err = Lines::of(watch.0.stderr.take().unwrap());
    // Subscribed: the current state comes first.
    let line = out.wait_for("a state event", |l| l.contains(r#""type":"state""#));
    let _: Value = serde_json::from_str(&line).unwrap();

    first.terminate(PATIENCE);
    err.wait_for("the restart notice", |l| {
        l == "serctl: serd went away; reconnecting…"
    });

    // Second daemon, same socket: speech after a pause, paced like a
    // microphone, so watch has reconnected before the utterance is heard.
    let speech = wav(env.root(), "speech.wav", 4.0, Some(&angry_clip()));
    let second = serd(&env, &speech, "realtime");
    let back = err.wait_for("the reconnect notice", |l| {
        l.starts_with("serctl: reconnected")
    });
    assert!(back.contains(&format!("pid {}", second.pid())), "{back}");
    let line = out.wait_for("an utterance event", |l| {
        l.contains(r#""type":"utterance""#)
    });
    let v: Value = serde_json::from_str(&line).unwrap();
    let u: Utterance = serde_json::from_value(v["data"].clone()).unwrap();
    assert_eq!(u.seq, 1, "numbered by the new daemon");
    assert!(watch.0.try_wait().unwrap().is_none(), "watch keeps running");
}

#[test]
fn the_python_and_socat_examples_print_utterances() {
    let env = TestEnv::without_rig();
    let speech = wav(env.root(), "speech.wav", 4.0, Some(&angry_clip()));
    let mut daemon = serd(&env, &speech, "realtime");
    let examples = workspace_root().join("ctl/examples");

    let mut python = Reaped(
        env.command("python3")
            .arg(examples.join("subscribe.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed for this test"),
    );
    let mut py_out = Lines::of(python.0.stdout.take().unwrap());
    let socat_available = std::process::Command::new("socat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        socat_available,
        "socat is needed for this test (apt-get install socat)"
    );
    let mut socat = Reaped(
        env.command("sh")
            .arg(examples.join("subscribe.sh"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut sh_out = Lines::of(socat.0.stdout.take().unwrap());

    let line = sh_out.wait_for("an utterance event", |l| {
        l.contains(r#""type":"utterance""#)
    });
    let v: Value = serde_json::from_str(&line).unwrap();
    let u: Utterance = serde_json::from_value(v["data"].clone()).unwrap();
    let printed = py_out.wait_for("an utterance", |l| !l.trim().is_empty());
    // The same utterance, as the script formats it ("😠 angry 83%").
    let prefix = format!("{} {} ", u.emoji, u.emotion.label());
    assert!(printed.starts_with(&prefix), "{printed:?} vs {line}");
    assert!(printed.ends_with('%'), "{printed:?}");

    // When serd stops, both examples end by themselves.
    ok(&env, &["stop"]);
    daemon.wait_exit(PATIENCE);
    assert!(wait_exit(&mut python.0, "subscribe.py").success());
    assert!(wait_exit(&mut socat.0, "subscribe.sh").success());
}
