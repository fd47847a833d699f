//! Soak: a long recording (RAVDESS clips with silences, looped) through
//! `--input file:` at max pace. Memory flat, no descriptor growth, and every
//! utterance accounted for: events received == history lines == expected.
//!
//! `soak_short` (5 min of audio) always runs; `soak_one_hour` is ignored by
//! default: `SER_SOAK_SECONDS=3600 cargo test -p ser-e2e --test hardening_soak -- --ignored --nocapture`.

mod hardening_common;

use std::path::PathBuf;
use std::time::Duration;

use hardening_common::{build_input, client, clips, history_lines, subscriber};
use ser_e2e::{fd_count, proc_kib, TestEnv};
use serde_json::json;

/// How many utterances the daemon's recogniser finds in each clip alone.
fn segments_per_clip(env: &TestEnv, clips: &[PathBuf]) -> Vec<usize> {
    let mut c = client(env);
    clips
        .iter()
        .enumerate()
        .map(|(i, clip)| {
            let r = c.request(
                50 + i as u64,
                "analyze",
                json!({ "path": clip }),
                Duration::from_secs(120),
            );
            assert_eq!(r["type"], "analysis", "{r}");
            r["data"]["segments"].as_array().unwrap().len()
        })
        .collect()
}

fn soak(seconds: f64) {
    let env = TestEnv::without_rig();
    let tmp = tempfile::tempdir().unwrap(); // the long WAV never lands in the repo
    let clips = clips();
    let (input, n_clips) = build_input(tmp.path(), &clips, 1.0, seconds);
    // A short-lived daemon to learn the per-clip segment counts first.
    let expected = {
        let arg = format!("file:{}", clips[0].display());
        let mut probe = env.spawn_serd(["--input", &arg, "--no-tray", "--no-notify"]);
        probe.wait_for_socket(Duration::from_secs(60));
        let per = segments_per_clip(&env, &clips);
        assert!(probe.terminate(Duration::from_secs(30)).success());
        std::fs::remove_dir_all(env.data_dir()).ok();
        (0..n_clips).map(|i| per[i % per.len()]).sum::<usize>()
    };

    let mut serd = env.spawn_serd_on_file(&input, "max", &["--exit-after-input"]);
    let pid = serd.pid();
    let mut sub = subscriber(&env, &["utterance"]);
    let first = sub.read_until_type("utterance", Duration::from_secs(120));
    assert_eq!(first["data"]["seq"], 1, "{first}");
    let (rss_start, fds_start) = (proc_kib(pid, "VmRSS"), fd_count(pid));
    let mut events = 1usize;
    let (mut rss_end, mut fds_end, mut hwm) = (rss_start, fds_start, 0);
    loop {
        match sub.try_read_line(Duration::from_secs(300)) {
            Ok(Some(line)) => {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                match v["type"].as_str() {
                    Some("utterance") => {
                        events += 1;
                        assert_eq!(v["data"]["seq"], events as u64, "gap: {v}");
                        if events + 2 == expected {
                            // Near the end, while the daemon still runs.
                            rss_end = proc_kib(pid, "VmRSS");
                            fds_end = fd_count(pid);
                            hwm = proc_kib(pid, "VmHWM");
                        }
                    }
                    Some("lagged") => panic!("the subscriber lagged: {v}"),
                    _ => {}
                }
            }
            Ok(None) => break, // --exit-after-input: the daemon closed the connection
            Err(e) => panic!("no event for 300 s ({events} so far): {e}\n{}", serd.logs()),
        }
    }
    let status = serd.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "{}", serd.logs());
    let lines = history_lines(&env);
    eprintln!(
        "soak {seconds:.0} s of audio, {n_clips} clips: {events} events, {} history lines, {expected} expected; \
         VmRSS start {rss_start} KiB, end {rss_end} KiB, VmHWM {hwm} KiB; fds {fds_start} -> {fds_end}",
        lines.len()
    );
    assert_eq!(events, expected, "events vs expected");
    assert_eq!(lines.len(), expected, "history lines vs expected");
    assert!(fds_end <= fds_start, "fds grew: {fds_start} -> {fds_end}");
    // Flat: no more than 32 MiB of growth, whatever the length of the run.
    assert!(
        rss_end <= rss_start + 32 * 1024,
        "VmRSS grew: {rss_start} -> {rss_end} KiB"
    );
}

#[test]
fn soak_short() {
    soak(300.0);
}

#[test]
#[ignore = "an hour of audio: SER_SOAK_SECONDS=3600 cargo test -p ser-e2e --test hardening_soak -- --ignored"]
fn soak_one_hour() {
    let s = std::env::var("SER_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600.0);
    soak(s);
}
