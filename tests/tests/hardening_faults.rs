//! Faults: the microphone vanishing mid-utterance (five times in a row) and
//! `kill -9` while the history is being written.

mod hardening_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hardening_common::{
    build_input, client, clips, history_entries, history_lines, subscriber, wait_state,
};
use ser_e2e::{mic_lock, ravdess_clip, Rig, TestEnv};
use serde_json::Value;

#[test]
fn mic_unplugged_mid_utterance_five_times_is_survived_each_time() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    let mut serd = env.spawn_serd(["--no-tray", "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(60));
    let mut sub = subscriber(&env, &["utterance", "state"]);
    wait_state(&mut sub, "listening", Duration::from_secs(60));
    let clip = ravdess_clip(1, 5, 2, 1, 1);
    let mut seen = 0u64;
    for round in 1..=5 {
        // Start speaking, then pull the mic while the utterance is in progress.
        let mut player = rig
            .command("paplay")
            .args(["--device=virtspk"])
            .arg(&clip)
            .spawn()
            .expect("paplay");
        std::thread::sleep(Duration::from_millis(1200));
        let unplugged = rig.unplug_mic();
        let _ = player.wait();
        let st = wait_state(&mut sub, "no_device", Duration::from_secs(60));
        assert!(
            st["data"]["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "round {round}: {st}"
        );
        assert!(
            serd.try_wait().is_none(),
            "round {round}: serd died\n{}",
            serd.logs()
        );
        unplugged.replug();
        wait_state(&mut sub, "listening", Duration::from_secs(90));
        // Results resume: a whole clip gives an utterance with a later seq.
        rig.play_into_mic(&clip);
        let ev = sub.read_until_type("utterance", Duration::from_secs(60));
        let seq = ev["data"]["seq"].as_u64().unwrap();
        assert!(seq > seen, "round {round}: seq {seq} after {seen}: {ev}");
        assert!(ev["data"]["duration_s"].as_f64().unwrap() > 1.0, "{ev}");
        seen = seq;
    }
    let mut ctl = client(&env);
    let status = ctl.request(9, "status", serde_json::json!({}), Duration::from_secs(10));
    assert_eq!(status["data"]["state"], "listening", "{status}");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}

#[test]
fn kill_9_while_writing_history_loses_nothing_earlier_and_restarts_at_once() {
    let env = TestEnv::without_rig();
    let (input, clips_in) = build_input(env.root(), &clips(), 0.6, 240.0);
    let mut serd = env.spawn_serd_on_file(&input, "max", &[]);
    let mut sub = subscriber(&env, &["utterance"]);
    // A "random" moment: after 3..=17 events, from the clock.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let kill_after = 3 + (nanos % 15) as usize;
    assert!(kill_after < clips_in);
    let mut received: Vec<Value> = Vec::new();
    while received.len() < kill_after {
        let ev = sub.read_until_type("utterance", Duration::from_secs(120));
        received.push(ev["data"].clone());
    }
    serd.signal(libc::SIGKILL);
    let status = serd.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    // Events that were in flight when the kill landed are kept too.
    while let Ok(Some(line)) = sub.try_read_line(Duration::from_millis(200)) {
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["type"] == "utterance" {
            received.push(v["data"].clone());
        }
    }
    assert!(
        env.socket().exists(),
        "the killed daemon leaves its socket behind"
    );

    // The file on disk: every line but possibly the last one is whole.
    let lines = history_lines(&env);
    for (i, l) in lines.iter().enumerate() {
        if serde_json::from_str::<Value>(l).is_err() {
            assert_eq!(
                i + 1,
                lines.len(),
                "line {} of {} is torn: {l}",
                i + 1,
                lines.len()
            );
        }
    }

    // Restart at once: no stale lock or socket in the way.
    let mut serd2 = env.spawn_serd(["--no-tray", "--no-notify"]);
    serd2.wait_for_socket(Duration::from_secs(60));
    assert!(serd2.try_wait().is_none(), "{}", serd2.logs());
    let mut ctl = client(&env);
    let entries = history_entries(&mut ctl, 2);
    assert!(
        entries.len() + 1 >= lines.len(),
        "{} entries for {} lines",
        entries.len(),
        lines.len()
    );
    for ev in &received {
        assert!(
            entries.iter().any(|e| e == ev),
            "event seen by a subscriber is missing from the history: {ev}"
        );
    }
    // Nothing earlier lost: the entries are the first run's seq 1..=n, in order.
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(
        serd2.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd2.logs()
    );
}
