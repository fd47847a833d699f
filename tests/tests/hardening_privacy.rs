//! Privacy: no audio reaches the disk, the logs or the history. A run on file
//! input leaves only the history (result fields only), the socket and the
//! lock under the daemon's XDG directories; `serctl history --clear` deletes
//! the history end to end.

mod hardening_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hardening_common::{build_input, client, clips, history_lines};
use ser_e2e::TestEnv;
use serde_json::{json, Value};

fn files_under(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out
}

#[test]
fn only_history_socket_and_lock_appear_and_history_clear_works() {
    let env = TestEnv::without_rig();
    let outside = tempfile::tempdir().unwrap(); // the input lives outside the daemon's dirs
    let (input, n) = build_input(outside.path(), &clips()[..4], 0.8, 20.0);
    let before = files_under(env.root());
    let mut serd = env.spawn_serd_on_file(&input, "max", &["-vv"]);
    let mut c = client(&env);
    // Wait until every clip is in.
    let mut entries = Vec::new();
    for _ in 0..600 {
        let r = c.request(1, "history", json!({}), Duration::from_secs(30));
        entries = r["data"]["entries"].as_array().unwrap().clone();
        if entries.len() >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(entries.len(), n);
    let during = files_under(env.root());
    let new: Vec<_> = during
        .difference(&before)
        .map(|p| p.display().to_string())
        .collect();
    let allowed = |p: &str| {
        p == "data/ser/history.jsonl"
            || p == "run/ser/serd.sock"
            || p == "run/ser/serd.lock"
            || (p.starts_with("daemon-") && (p.ends_with(".stdout") || p.ends_with(".stderr")))
        // the test's own capture of serd's output
    };
    assert!(new.iter().all(|p| allowed(p)), "unexpected files: {new:?}");

    // History lines hold exactly the result fields.
    let keys: BTreeSet<&str> = [
        "seq",
        "start",
        "duration_s",
        "emotion",
        "emoji",
        "confidence",
        "probs",
        "model",
    ]
    .into();
    let lines = history_lines(&env);
    assert_eq!(lines.len(), n);
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        let got: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(got, keys, "{l}");
        assert!(l.len() < 1024, "{l}");
    }
    // The logs (even at -vv) are short text lines, no sample dumps.
    let logs = serd.logs();
    assert!(logs.lines().all(|l| l.len() < 2048), "a very long log line");
    assert!(logs.len() < 64 * n * 1024, "{} bytes of logs", logs.len());

    // serctl history --clear, end to end.
    let (ok, out, err) = env.run_serctl(["history", "--clear"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("history cleared"), "{out}");
    assert!(!env.data_dir().join("history.jsonl").exists());
    let (ok, out, err) = env.run_serctl(["history", "--json"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "", "history after --clear: {out}");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
    let after = files_under(env.root());
    let left: Vec<_> = after
        .difference(&before)
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        left.iter()
            .all(|p| allowed(p) && p != "run/ser/serd.sock" && p != "data/ser/history.jsonl"),
        "left behind: {left:?}"
    );
}
