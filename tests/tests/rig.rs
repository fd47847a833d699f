//! Checks of the test rig itself: the real sound server, notification server and tray
//! host that the other end-to-end tests rely on.

use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ser_e2e::{mic_lock, ravdess_clip, Rig, TestEnv};

/// Peak absolute sample of raw s16le audio.
fn peak(raw: &[u8]) -> i32 {
    raw.chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])).abs())
        .max()
        .unwrap_or(0)
}

/// Records `virtmic` (raw s16le 16 kHz mono): waits until the recorder delivers data,
/// runs `play`, then keeps recording `after` more bytes than were captured before
/// `play` started, so a slow start or a capture lag under load cannot cut the clip.
fn record_mic_while(rig: &Rig, after: usize, play: impl FnOnce()) -> Vec<u8> {
    let mut rec = rig
        .command("parec")
        .args([
            "--device=virtmic",
            "--format=s16le",
            "--rate=16000",
            "--channels=1",
            "--raw",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start parec");
    let mut out = rec.stdout.take().expect("parec stdout");
    let buf = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let buf = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    };
    let len = || buf.lock().unwrap().len();
    let wait_for = |bytes: usize, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while len() < bytes {
            assert!(
                Instant::now() < deadline,
                "parec delivered only {} bytes, waiting for {what}",
                len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(3200, "its first 100 ms");
    let before = len();
    play();
    wait_for(before + after, "the end of the clip");
    let _ = rec.kill();
    let _ = rec.wait();
    reader.join().expect("reader thread");
    let raw = buf.lock().unwrap().clone();
    raw
}

#[test]
fn pulseaudio_has_the_virtual_devices() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let sources = rig.run("pactl", &["list", "short", "sources"]);
    for name in ["virtmic", "virtspk.monitor", "fifomic"] {
        assert!(
            sources.lines().any(|l| l.split('\t').nth(1) == Some(name)),
            "no source {name} in:\n{sources}"
        );
    }
    let info = rig.run("pactl", &["info"]);
    assert!(info.contains("Default Source: virtmic"), "{info}");
    assert!(info.contains("Default Sink: virtspk"), "{info}");
}

#[test]
fn a_clip_played_into_virtspk_is_heard_on_virtmic() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let clip = ravdess_clip(1, 5, 2, 1, 1);
    let reader = hound::WavReader::open(&clip).expect("open the RAVDESS clip");
    let clip_bytes = reader.len() as usize * 2;
    let clip_peak = reader
        .into_samples::<i16>()
        .map(|s| i32::from(s.expect("sample")).abs())
        .max()
        .unwrap_or(0);
    assert!(
        clip_peak > 1000,
        "the clip itself is near-silent: {clip_peak}"
    );

    let quiet = record_mic_while(&rig, 8000, || {});
    assert_eq!(peak(&quiet), 0, "virtmic is not silent while nothing plays");

    let raw = record_mic_while(&rig, clip_bytes + 8000, || rig.play_into_mic(&clip));
    // The loudest sample comes through unchanged: the clip passes the sink and the
    // remap source untouched (16 kHz mono s16 end to end), so its peak comes through.
    assert_eq!(
        peak(&raw),
        clip_peak,
        "the capture does not carry the clip's samples"
    );
}

#[test]
fn unplugging_the_mic_removes_every_source_and_the_guard_restores_them() {
    let rig = Rig::get();
    let _lock = mic_lock();
    assert!(rig.mic_plugged());
    {
        let _unplugged = rig.unplug_mic();
        assert!(!rig.mic_plugged());
        let sources = rig.run("pactl", &["list", "short", "sources"]);
        assert_eq!(sources.trim(), "", "sources left after unplug:\n{sources}");
        let rec = rig
            .command("parec")
            .args(["--device=virtmic", "--raw"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run parec");
        assert!(!rec.success(), "parec could record from an unplugged mic");
    }
    assert!(rig.mic_plugged(), "the guard did not plug the mic back in");
    let info = rig.run("pactl", &["info"]);
    assert!(info.contains("Default Source: virtmic"), "{info}");
}

#[test]
fn dunst_answers_and_records_a_notification() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let info = rig.run(
        "busctl",
        &[
            "--user",
            "call",
            "org.freedesktop.Notifications",
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications",
            "GetServerInformation",
        ],
    );
    assert!(info.contains("\"dunst\""), "{info}");
    // Send one notification (1 ms timeout), then find it in the history by its id.
    let reply = rig.run(
        "busctl",
        &[
            "--user",
            "call",
            "org.freedesktop.Notifications",
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications",
            "Notify",
            "susssasa{sv}i",
            "ser-e2e",
            "0",
            "",
            "rig check",
            "body text",
            "0",
            "0",
            "1",
        ],
    );
    let id: u64 = reply
        .trim()
        .trim_start_matches("u ")
        .parse()
        .expect("Notify returns an id");
    let mut found = false;
    for _ in 0..100 {
        let history = rig.run("dunstctl", &["history"]);
        let json: serde_json::Value =
            serde_json::from_str(&history).expect("dunstctl history is JSON");
        found = json["data"][0]
            .as_array()
            .expect("history list")
            .iter()
            .any(|n| n["id"]["data"].as_u64() == Some(id) && n["summary"]["data"] == "rig check");
        if found {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(found, "notification {id} never reached dunst's history");
}

#[test]
fn a_status_notifier_watcher_is_on_the_bus() {
    let rig = Rig::get();
    let _lock = mic_lock();
    assert_eq!(rig.tray_host(), "sni");
    // The host may have died on a D-Bus race and be restarting (tray.sh supervises it
    // and records deaths); a watcher must be back within seconds.
    assert!(
        rig.wait_for_watcher(Duration::from_secs(10)),
        "no StatusNotifierWatcher on the bus; tray host deaths: {:?}",
        rig.tray_host_deaths()
    );
    let reply = rig.run(
        "busctl",
        &[
            "--user",
            "get-property",
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
            "IsStatusNotifierHostRegistered",
        ],
    );
    assert_eq!(reply.trim(), "b true");
}

#[test]
fn test_env_isolates_home_and_socket_but_reaches_the_rig() {
    let a = TestEnv::new();
    let b = TestEnv::new();
    assert_ne!(a.socket(), b.socket());
    assert!(a.socket().starts_with(a.root()));
    let out = a
        .command("sh")
        .args([
            "-c",
            "echo $HOME; echo $XDG_CONFIG_HOME; pactl info >/dev/null && echo pulse-ok",
        ])
        .output()
        .expect("run sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], a.root().join("home").to_string_lossy());
    assert_eq!(lines[1], a.root().join("config").to_string_lossy());
    assert_eq!(
        lines.get(2),
        Some(&"pulse-ok"),
        "pactl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_tray_host_that_dies_is_restarted_and_its_death_recorded() {
    let rig = Rig::get();
    let _lock = mic_lock();
    assert!(
        rig.wait_for_watcher(Duration::from_secs(10)),
        "no watcher to start with"
    );
    let before = rig.tray_host_deaths().len();
    let pid = rig.watcher_pid().expect("the watcher's owner has a pid");
    // SAFETY: kill(2) on a pid the rig's bus names as the watcher's owner.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.tray_host_deaths().len() == before {
        assert!(
            Instant::now() < deadline,
            "the death of {pid} was never recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deaths = rig.tray_host_deaths();
    assert!(
        deaths[before].contains("exit 137"),
        "a SIGKILL reads as exit 137: {deaths:?}"
    );
    // Say so beside it, for whoever reads the deaths after a CI run.
    std::fs::OpenOptions::new()
        .append(true)
        .open(rig.run_dir().join("trayhost.deaths"))
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, b"  (that one was the rig test's own SIGKILL)\n")
        })
        .expect("annotate trayhost.deaths");
    assert!(
        rig.wait_for_watcher(Duration::from_secs(10)),
        "the tray host was not restarted"
    );
    let new = rig.watcher_pid().expect("a watcher after the restart");
    assert_ne!(new, pid, "the same host");
}
