//! Desktop notifications from the real `serd` to the rig's real notification
//! server (dunst), read back with `dunstctl history`: one per mood change, with
//! the emoji summary and icon; rate limiting; and every off switch (config,
//! `--no-notify`, `set_notifications` over the socket).
//!
//! Each daemon plays a recording at real-time pace: silence, clip A, 10 s of
//! silence, clip B twice. A and B are the two clips of different emotions the
//! current model is most confident about (chosen here with `serctl analyze`),
//! and the mood's half-life is 2 s, so the mood goes A then B.

mod ui_common;

use std::time::Duration;

use ser_e2e::{mic_lock, Rig, TestEnv};
use serde_json::json;
use ui_common::*;

/// How a daemon run is set up.
enum Switch {
    /// Notifications on, `min_interval_s` as given.
    On { min_interval_s: u64 },
    /// `[notifications] enabled = false`.
    ConfigOff,
    /// `--no-notify`.
    Flag,
    /// Off over the socket before any speech, back on once the mood is A.
    Socket,
}

struct Run {
    env: TestEnv,
    name: &'static str,
    logs: String,
}

fn run(switch: Switch, name: &'static str, a: &Clip, b: &Clip) -> Run {
    let env = TestEnv::new();
    // Below both clips' own confidence, so only the emotion change matters.
    let min_conf = 0.75 * a.confidence.min(b.confidence);
    let (interval, enabled) = match switch {
        Switch::On { min_interval_s } => (min_interval_s, true),
        Switch::ConfigOff => (0, false),
        Switch::Flag | Switch::Socket => (0, true),
    };
    env.write_config(&config(min_conf, interval, enabled));
    let wav = a_then_b(env.root(), a, b, 3.0);
    let input = format!("file:{}", wav.display());
    let mut args = vec!["--input", &input, "--exit-after-input", "--no-tray"];
    if matches!(switch, Switch::Flag) {
        args.push("--no-notify");
    }
    let mut serd = env.spawn_serd(&args);
    serd.wait_for_socket(Duration::from_secs(30));
    if matches!(switch, Switch::Socket) {
        let mut conn = env.connect();
        conn.read_until_type("hello", Duration::from_secs(5));
        let r = conn.request(
            1,
            "set_notifications",
            json!({"enabled": false}),
            Duration::from_secs(5),
        );
        assert_ne!(r["type"], "error", "{r}");
        let r = conn.request(2, "status", json!({}), Duration::from_secs(5));
        assert_eq!(r["data"]["notifications"], false, "{r}");
        conn.request(
            3,
            "subscribe",
            json!({"topics": ["mood"]}),
            Duration::from_secs(5),
        );
        // wait for the mood to settle on A (the notification for it is off) ...
        loop {
            let m = conn.read_until_type("mood", Duration::from_secs(60));
            if m["data"]["emotion"].as_str() == Some(&a.emotion) {
                break;
            }
        }
        // ... then switch back on: B must be announced.
        let r = conn.request(
            4,
            "set_notifications",
            json!({"enabled": true}),
            Duration::from_secs(5),
        );
        assert_ne!(r["type"], "error", "{r}");
    }
    let status = serd.wait_exit(Duration::from_secs(120));
    assert!(
        status.success(),
        "{name}: serd failed: {status}\n{}",
        serd.logs()
    );
    Run {
        env,
        name,
        logs: serd.logs(),
    }
}

#[test]
fn notifications_follow_mood_changes_rate_limit_and_off_switches() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let picker = TestEnv::new();
    let (a, b) = two_distinct_clips(&picker);
    eprintln!("clip A: {a:?}\nclip B: {b:?}");

    // The daemons run side by side, their icons (and so their notifications)
    // in their own runtime dirs. dunst stacks identical notifications shown at
    // the same time into one, so each round has at most one daemon that
    // announces A at the start ("socket" announces only B, later).
    let round = |switches: Vec<(Switch, &'static str)>| -> Vec<Run> {
        std::thread::scope(|s| {
            let (a, b) = (&a, &b);
            let handles: Vec<_> = switches
                .into_iter()
                .map(|(sw, name)| s.spawn(move || run(sw, name, a, b)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    let mut runs = round(vec![
        (Switch::On { min_interval_s: 0 }, "both"),
        (Switch::ConfigOff, "config off"),
        (Switch::Flag, "--no-notify"),
    ]);
    wait_dunst_idle(&rig);
    runs.extend(round(vec![
        (
            Switch::On {
                min_interval_s: 3600,
            },
            "rate-limited",
        ),
        (Switch::Socket, "socket"),
    ]));
    wait_dunst_idle(&rig);

    let shown = |i: usize| {
        let n = notifications_of(&rig, &runs[i].env);
        eprintln!("{}: {n:#?}\n{}", runs[i].name, runs[i].logs);
        n
    };
    let summary = |c: &Clip| format!("{} {}", emoji(&c.emotion), title(&c.emotion));
    let icon = |run: &Run, c: &Clip| {
        format!(
            "{}/ser/icons/{}-64.png",
            run.env.var("XDG_RUNTIME_DIR").unwrap(),
            c.emotion
        )
    };

    // every run's notifications and logs are printed before any assertion
    let (both, off_config, off_flag, limited, socket) =
        (shown(0), shown(1), shown(2), shown(3), shown(4));

    // 1. both changes announced, in order, with the emoji, icon and context
    assert_eq!(both.len(), 2, "expected A then B: {both:#?}");
    assert_eq!(both[0].summary, summary(&a));
    assert_eq!(both[1].summary, summary(&b));
    assert_eq!(both[0].icon_path, icon(&runs[0], &a));
    assert_eq!(both[1].icon_path, icon(&runs[0], &b));
    for n in &both {
        assert_eq!(n.appname, "ser");
        assert_eq!(n.category, "presence");
        assert!(n.body.contains("% confident"), "{n:?}");
        let path = std::path::Path::new(&n.icon_path);
        assert!(path.is_file(), "{n:?}");
    }
    assert!(both[0].body.contains("first mood"), "{:?}", both[0]);
    let was = format!("was {} {} for", emoji(&a.emotion), a.emotion);
    assert!(both[1].body.contains(&was), "{:?} lacks {was:?}", both[1]);

    // 2. min_interval_s = 3600: only the first
    // (on a mismatch, everything the server kept, to tell a lost or merged
    // notification from one never sent)
    let all = || format!("all of dunst's history: {:#?}", dunst_history(&rig));
    assert_eq!(limited.len(), 1, "{limited:#?}\n{}", all());
    assert_eq!(limited[0].summary, summary(&a));

    // 3. the off switches
    assert!(off_config.is_empty(), "config enabled = false");
    assert!(off_flag.is_empty(), "--no-notify");
    assert_eq!(
        socket.len(),
        1,
        "off over the socket for A, on again for B: {socket:#?}\n{}",
        all()
    );
    assert_eq!(socket[0].summary, summary(&b));
}

#[test]
fn notify_icons_are_the_embedded_artwork() {
    // The daemon writes its icons once at start; they are byte-for-byte the
    // committed PNGs (the notification server gets a path to one of them).
    let _rig = Rig::get();
    let env = TestEnv::new();
    env.write_config("[notifications]\nenabled = true\n");
    let mut serd = env.spawn_serd(["--no-tray"]);
    serd.wait_for_socket(Duration::from_secs(30));
    let dir = std::path::PathBuf::from(env.var("XDG_RUNTIME_DIR").unwrap()).join("ser/icons");
    wait_for(Duration::from_secs(10), "the icons to be written", || {
        dir.join("no_mic-64.png").is_file().then_some(())
    });
    for name in ICON_NAMES {
        for size in [32, 64] {
            let file = format!("{name}-{size}.png");
            let written = std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let committed = std::fs::read(
                ser_e2e::workspace_root()
                    .join("daemon/assets/icons")
                    .join(&file),
            )
            .unwrap();
            assert!(
                written == committed,
                "{file} differs from the committed artwork"
            );
        }
    }
}
