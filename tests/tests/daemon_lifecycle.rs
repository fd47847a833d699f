//! The daemon as a process: single instance, socket permissions, stale
//! sockets, signals, exit codes, configuration errors.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use ser_e2e::TestEnv;
use serde_json::json;

/// A long silent WAV: keeps a file-input daemon running without any sound server.
fn silence(env: &TestEnv) -> PathBuf {
    let path = env.root().join("silence.wav");
    ser_e2e::wav::write_mono16(&path, std::iter::repeat_n(0i16, 16_000 * 600));
    path
}

fn args(wav: &std::path::Path) -> Vec<String> {
    vec![
        "--input".into(),
        format!("file:{}", wav.display()),
        "--no-tray".into(),
        "--no-notify".into(),
    ]
}

#[test]
fn a_second_daemon_is_refused_and_the_socket_is_private() {
    let env = TestEnv::without_rig();
    let wav = silence(&env);
    let mut first = env.spawn_serd(args(&wav));
    first.wait_for_socket(Duration::from_secs(60));

    let sock = env.socket();
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(sock.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    let mut second = env.spawn_serd(args(&wav));
    let status = second.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{}", second.logs());
    assert!(
        second
            .stderr()
            .contains(&format!("serd is already running (pid {})", first.pid())),
        "{}",
        second.logs()
    );
    // The first one is untouched.
    let mut c = env.connect();
    assert_eq!(
        c.read_msg(Duration::from_secs(10))["data"]["pid"],
        first.pid()
    );
    let st = c.request(1, "status", json!({}), Duration::from_secs(10));
    assert_eq!(st["data"]["state"], "listening", "{st}");
    assert!(
        first.terminate(Duration::from_secs(30)).success(),
        "{}",
        first.logs()
    );
    assert!(!sock.exists());
}

#[test]
fn a_stale_socket_after_kill_9_is_replaced() {
    let env = TestEnv::without_rig();
    let wav = silence(&env);
    let mut first = env.spawn_serd(args(&wav));
    first.wait_for_socket(Duration::from_secs(60));
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(30));
    assert!(
        env.socket().exists(),
        "kill -9 leaves the socket file behind"
    );

    let mut second = env.spawn_serd(args(&wav));
    second.wait_for_socket(Duration::from_secs(60));
    let mut c = env.connect();
    let hello = c.read_msg(Duration::from_secs(10));
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["data"]["pid"], second.pid());
    assert_eq!(hello["data"]["protocol"], 1);
    assert!(
        second.terminate(Duration::from_secs(30)).success(),
        "{}",
        second.logs()
    );
}

#[test]
fn sigint_and_shutdown_request_exit_zero() {
    let env = TestEnv::without_rig();
    let wav = silence(&env);
    let mut serd = env.spawn_serd(args(&wav));
    serd.wait_for_socket(Duration::from_secs(60));
    serd.signal(libc::SIGINT);
    assert_eq!(
        serd.wait_exit(Duration::from_secs(30)).code(),
        Some(0),
        "{}",
        serd.logs()
    );

    let mut serd = env.spawn_serd(args(&wav));
    serd.wait_for_socket(Duration::from_secs(60));
    let mut sub = env.connect();
    sub.read_msg(Duration::from_secs(10));
    sub.request(
        1,
        "subscribe",
        json!({"topics": ["state"]}),
        Duration::from_secs(10),
    );
    let mut c = env.connect();
    c.read_msg(Duration::from_secs(10));
    let r = c.request(1, "shutdown", json!({}), Duration::from_secs(10));
    assert_eq!(r["type"], "ok", "{r}");
    assert_eq!(
        serd.wait_exit(Duration::from_secs(30)).code(),
        Some(0),
        "{}",
        serd.logs()
    );
    // The subscriber heard about it before the connection closed.
    let mut saw_stopping = false;
    while let Ok(Some(line)) = sub.try_read_line(Duration::from_secs(5)) {
        saw_stopping |= line.contains("\"stopping\"");
    }
    assert!(saw_stopping, "{}", serd.logs());
}

#[test]
fn invalid_config_exits_3_naming_the_key_and_reload_keeps_the_old_one() {
    let env = TestEnv::without_rig();
    let wav = silence(&env);
    let cfg = env.write_config("[mood]\nhalf_life_s = \"soon\"\n");
    let mut serd = env.spawn_serd(args(&wav));
    let status = serd.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(3), "{}", serd.logs());
    let err = serd.stderr();
    assert!(
        err.contains("mood.half_life_s") && err.contains(&cfg.display().to_string()),
        "{err}"
    );

    env.write_config("[mood]\nhalf_life_s = 20\n");
    let mut serd = env.spawn_serd(args(&wav));
    serd.wait_for_socket(Duration::from_secs(60));
    let mut c = env.connect();
    c.read_msg(Duration::from_secs(10));
    assert_eq!(
        c.request(1, "mood", json!({}), Duration::from_secs(10))["data"]["half_life_s"],
        20.0
    );
    env.write_config("[history]\nkeep_files = \"many\"\n");
    let r = c.request(2, "reload", json!({}), Duration::from_secs(10));
    assert_eq!(r["data"]["code"], "invalid_config", "{r}");
    assert!(
        r["data"]["message"]
            .as_str()
            .unwrap()
            .contains("history.keep_files"),
        "{r}"
    );
    env.write_config("[mood]\nhalf_life_s = 45\n");
    serd.signal(libc::SIGHUP);
    let mut reloaded = false;
    for i in 0..100 {
        let m = c.request(10 + i, "mood", json!({}), Duration::from_secs(10));
        if m["data"]["half_life_s"] == 45.0 {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(reloaded, "SIGHUP reloads the config\n{}", serd.logs());
    assert!(serd.terminate(Duration::from_secs(30)).success());
}

#[test]
fn print_config_prints_every_section_with_defaults() {
    let env = TestEnv::without_rig();
    let out = env
        .command(ser_e2e::bin("serd"))
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for s in [
        "[audio]",
        "[vad]",
        "[mood]",
        "[history]",
        "[notifications]",
        "[tray]",
        "[model]",
        "half_life_s = 60.0",
    ] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
}
