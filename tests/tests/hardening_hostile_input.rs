//! `analyze` on paths that are not audio files: devices, a FIFO (nobody
//! writing), a directory, a missing file, a 10 GB sparse file, a socket.
//! Each is refused with `analysis_failed`, promptly, and the daemon serves on.

mod hardening_common;

use std::time::Duration;

use hardening_common::client;
use ser_e2e::TestEnv;
use serde_json::json;

#[test]
fn analyze_refuses_devices_fifos_dirs_missing_and_huge_files() {
    let env = TestEnv::without_rig();
    let silent = env.root().join("silence.wav");
    ser_e2e::wav::write_mono16(&silent, vec![0i16; 16_000]);
    let arg = format!("file:{}", silent.display());
    let mut serd = env.spawn_serd(["--input", &arg, "--no-tray", "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(60));
    let mut c = client(&env);

    let fifo = env.root().join("fifo");
    let cpath = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    let sparse = env.root().join("sparse.wav");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let junk = env.root().join("junk.wav");
    std::fs::write(&junk, b"RIFF\x00\x00\x00\x00WAVEfmt garbage").unwrap();
    let cases = [
        ("/dev/zero".into(), "device"),
        ("/dev/urandom".into(), "device"),
        ("/dev/null".into(), "device"),
        (fifo, "FIFO"),
        (env.root().to_path_buf(), "directory"),
        (env.root().join("missing.wav"), ""),
        (env.socket(), "socket"),
        (sparse, ""),
        (junk, ""),
    ];
    for (i, (path, word)) in cases.iter().enumerate() {
        let r = c.request(
            100 + i as u64,
            "analyze",
            json!({ "path": path }),
            Duration::from_secs(120),
        );
        assert_eq!(r["type"], "error", "{}: {r}", path.display());
        assert_eq!(
            r["data"]["code"],
            "analysis_failed",
            "{}: {r}",
            path.display()
        );
        let msg = r["data"]["message"].as_str().unwrap();
        assert!(msg.contains(word), "{}: {msg}", path.display());
    }
    // A relative path is an argument error, and the daemon still answers.
    let r = c.request(
        200,
        "analyze",
        json!({"path": "x.wav"}),
        Duration::from_secs(30),
    );
    assert_eq!(r["data"]["code"], "invalid_argument", "{r}");
    let r = c.request(
        201,
        "analyze",
        json!({ "path": silent }),
        Duration::from_secs(120),
    );
    assert_eq!(r["type"], "analysis", "{r}");
    assert!(r["data"]["emotion"].is_null(), "{r}");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}
