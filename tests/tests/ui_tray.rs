//! The tray icon of the real `serd` in the rig's real tray host
//! (`gtk-sni-tray-standalone` under Xvfb): the item's properties read over
//! D-Bus, the icon's pixels on a screenshot of the virtual screen (matched
//! against the committed artwork), and the menu driven over D-Bus
//! (`com.canonical.dbusmenu`) with its effect read back from `serctl status`.
//! Also: an XEmbed-only tray (`trayer`) shows the icon and `tray: true`;
//! without a usable display the daemon runs and reports `tray: false`.

mod ui_common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use ser_e2e::{mic_lock, Rig, TestEnv, TrayHost};
use serde_json::{json, Value};
use ui_common::*;

const ITEM_PATH: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_ser";
const MENU_PATH: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_ser/Menu";
/// Where a tray host draws its icons: a strip along one edge of the screen,
/// icons from the left.
struct Bar {
    /// ImageMagick gravity of the strip.
    gravity: &'static str,
    height: u32,
}
/// The rig's SNI bar: `gtk-sni-tray-standalone --bottom --size 40 --color '#303030'`.
const SNI_BAR: Bar = Bar {
    gravity: "SouthWest",
    height: 40,
};
/// The rig's XEmbed tray: `trayer --edge top --align left --height 48`.
const XEMBED_BAR: Bar = Bar {
    gravity: "NorthWest",
    height: 48,
};

fn output(rig: &Rig, program: &str, args: &[&str]) -> Output {
    rig.command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn busctl_json(rig: &Rig, args: &[&str]) -> Value {
    let mut all = vec!["--user", "--json=short"];
    all.extend_from_slice(args);
    let out = rig.run("busctl", &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("busctl {args:?}: {e}: {out}"))
}

/// The bus name of the tray item registered by process `pid`, if any, and how
/// many items are registered in all.
fn our_item(rig: &Rig, pid: u32) -> (Option<String>, usize) {
    let v = busctl_json(
        rig,
        &[
            "get-property",
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
            "RegisteredStatusNotifierItems",
        ],
    );
    let items: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let ours = items.iter().find(|name| {
        let bus = name.split('/').next().unwrap_or(name);
        let out = output(rig, "busctl", &["--user", "status", bus]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == format!("PID={pid}"))
    });
    (
        ours.map(|n| n.split('/').next().unwrap().to_string()),
        items.len(),
    )
}

fn prop(rig: &Rig, bus: &str, name: &str) -> String {
    let v = busctl_json(
        rig,
        &[
            "get-property",
            bus,
            ITEM_PATH,
            "org.kde.StatusNotifierItem",
            name,
        ],
    );
    v["data"].as_str().unwrap_or_default().to_string()
}

/// The labels (with their dbusmenu ids) of the item's menu, top level.
fn menu(rig: &Rig, bus: &str) -> Vec<(i64, String, Value)> {
    let v = busctl_json(
        rig,
        &[
            "call",
            bus,
            MENU_PATH,
            "com.canonical.dbusmenu",
            "GetLayout",
            "iias",
            "--",
            "0",
            "-1",
            "0",
        ],
    );
    v["data"][1][2]
        .as_array()
        .unwrap()
        .iter()
        .map(|child| {
            let node = &child["data"];
            let props = node[1].clone();
            let label = props["label"]["data"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (node[0].as_i64().unwrap(), label, props)
        })
        .collect()
}

fn click(rig: &Rig, bus: &str, label_prefix: &str) {
    let items = menu(rig, bus);
    let (id, _, _) = items
        .iter()
        .find(|(_, l, _)| l.starts_with(label_prefix))
        .unwrap_or_else(|| panic!("no menu item {label_prefix:?} in {items:?}"));
    rig.run(
        "busctl",
        &[
            "--user",
            "call",
            bus,
            MENU_PATH,
            "com.canonical.dbusmenu",
            "Event",
            "isvu",
            &id.to_string(),
            "clicked",
            "s",
            "",
            "0",
        ],
    );
}

/// Which committed icon the tray bar shows at its left end: the screenshot's
/// icon area is compared (RMSE) with every artwork PNG scaled to the same box
/// over the bar's colour (read off the bar, right of the icons). `None` while
/// nothing is drawn.
fn icon_on_screen(rig: &Rig, dir: &Path, bar: &Bar) -> Option<(String, f64)> {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    rig.run("import", &["-window", "root", &p("shot.png")]);
    rig.run(
        "convert",
        &[
            &p("shot.png"),
            "-gravity",
            bar.gravity,
            "-crop",
            &format!("120x{}+0+0", bar.height),
            "+repage",
            &p("bar.png"),
        ],
    );
    let bar_colour = rig.run(
        "convert",
        &[&p("bar.png"), "-format", "#%[hex:p{119,1}]", "info:"],
    );
    let bar_colour = bar_colour.trim();
    // bounding box of whatever is not the bar's background
    let bbox = rig.run(
        "convert",
        &[&p("bar.png"), "-fuzz", "6%", "-format", "%@", "info:"],
    );
    let (size, _) = bbox.trim().split_once('+')?;
    let (w, h) = size.split_once('x')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    if w < 8 || h < 8 || w > 80 {
        return None;
    }
    rig.run(
        "convert",
        &[
            &p("bar.png"),
            "-crop",
            bbox.trim(),
            "+repage",
            &p("icon.png"),
        ],
    );
    let mut best: Option<(String, f64)> = None;
    for name in ICON_NAMES {
        let cand = p(&format!("cand-{name}.png"));
        rig.run(
            "convert",
            &[
                // the artwork over the bar's colour, trimmed like the screen crop,
                // stretched to its box
                "-size",
                "32x32",
                &format!("xc:{bar_colour}"),
                &artwork(name).to_string_lossy(),
                "-composite",
                "-fuzz",
                "6%",
                "-trim",
                "+repage",
                "-resize",
                &format!("{w}x{h}!"),
                &cand,
            ],
        );
        let out = output(
            rig,
            "compare",
            &["-metric", "RMSE", &p("icon.png"), &cand, "null:"],
        );
        // "1234.5 (0.0188)" on stderr; exit status 1 just means "different"
        let text = String::from_utf8_lossy(&out.stderr);
        let score: f64 = text
            .split_once('(')
            .and_then(|(_, r)| r.trim_end().trim_end_matches(')').parse().ok())
            .unwrap_or_else(|| panic!("compare said: {text}"));
        if best.as_ref().is_none_or(|(_, s)| score < *s) {
            best = Some((name.to_string(), score));
        }
    }
    best
}

/// Waits until the screen shows `name` as the best match, clearly.
fn wait_icon(rig: &Rig, dir: &Path, bar: &Bar, name: &str) {
    let mut last = None;
    let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            Duration::from_secs(30),
            &format!("the {name} icon on screen"),
            || {
                last = icon_on_screen(rig, dir, bar);
                last.as_ref()
                    .filter(|(n, s)| n == name && *s < 0.15)
                    .map(|_| ())
            },
        )
    }));
    if seen.is_err() {
        let keep = std::env::temp_dir().join(format!("ser-ui-tray-{name}.png"));
        let _ = std::fs::copy(dir.join("shot.png"), &keep);
        panic!(
            "the tray never showed the {name} icon; last best match {last:?}; screenshot kept at {}",
            keep.display()
        );
    }
}

fn same_pixels(rig: &Rig, a: &str, b: &Path) -> bool {
    let out = output(
        rig,
        "compare",
        &[
            "-metric",
            "AE",
            "-fuzz",
            "1%",
            a,
            &b.to_string_lossy(),
            "null:",
        ],
    );
    String::from_utf8_lossy(&out.stderr).trim() == "0"
}

fn status(env: &TestEnv) -> Value {
    let mut conn = env.connect();
    conn.read_until_type("hello", Duration::from_secs(5));
    let r = conn.request(1, "status", json!({}), Duration::from_secs(5));
    assert_eq!(r["type"], "status", "{r}");
    r["data"].clone()
}

#[test]
fn tray_icon_follows_the_mood_and_its_menu_acts() {
    let rig = Rig::get();
    let _lock = mic_lock();
    // A fresh host: gtk-sni-tray-standalone can keep drawing the icon of an
    // item that went away.
    rig.set_tray_host(TrayHost::Sni);
    let mut env = TestEnv::new();
    // "Open history" runs the desktop's opener, xdg-open: here one that notes its argument.
    let bin_dir = env.root().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let opened = env.root().join("opened.txt");
    let opener = bin_dir.join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set_var("PATH", path);
    let (a, b) = two_distinct_clips(&env);
    eprintln!("clip A: {a:?}\nclip B: {b:?}");
    env.write_config(&config(0.9, 0, false));
    let wav = a_then_b(env.root(), &a, &b, 15.0);
    let input = format!("file:{}", wav.display());
    let mut serd = env.spawn_serd(["--input", &input, "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(30));
    let shots = tempfile::tempdir().unwrap();
    let dir = shots.path();

    let bus = wait_for(
        Duration::from_secs(20),
        "serd's tray item on the watcher",
        || our_item(&rig, serd.pid()).0,
    );
    // The screen checks read the bar's first icon: wait until ours is alone
    // (a test elsewhere that runs serd without --no-tray adds an item for a while).
    wait_for(
        Duration::from_secs(120),
        "serd's item to be the only one on the watcher (run serd with --no-tray in other tests)",
        || (our_item(&rig, serd.pid()).1 == 1).then_some(()),
    );
    assert_eq!(status(&env)["tray"], true);

    // before speech: the idle icon, the state in words
    wait_for(Duration::from_secs(10), "the idle title", || {
        prop(&rig, &bus, "XAyatanaLabel")
            .contains("no speech heard yet")
            .then_some(())
    });
    wait_icon(&rig, dir, &SNI_BAR, "idle");

    for clip in [&a, &b] {
        let want = format!("{} {}, ", emoji(&clip.emotion), title(&clip.emotion));
        let label = wait_for(
            Duration::from_secs(60),
            &format!("the title {want:?}"),
            || {
                let l = prop(&rig, &bus, "XAyatanaLabel");
                l.starts_with(&want).then_some(l)
            },
        );
        assert!(label.ends_with(" ago)") && label.contains('%'), "{label}");
        // the menu first (quick), then the slower screen checks, all before
        // the next clip starts (the clips are 15 s apart)
        let items = menu(&rig, &bus);
        assert!(
            items[0].1.starts_with(&format!("Mood: {want}")),
            "{items:?}"
        );
        assert_eq!(items[0].2["enabled"]["data"], false, "{items:?}");
        // the PNG the host reads is the embedded artwork, pixel for pixel
        let icon_file = prop(&rig, &bus, "IconName");
        assert!(
            same_pixels(&rig, &icon_file, &artwork(&clip.emotion)),
            "{icon_file} is not the {} artwork",
            clip.emotion
        );
        wait_icon(&rig, dir, &SNI_BAR, &clip.emotion);
    }

    // the recent results, newest first, disabled
    let items = menu(&rig, &bus);
    let recent: Vec<_> = items
        .iter()
        .filter(|(_, l, _)| l.contains(':') && l.contains('%') && !l.starts_with("Mood"))
        .collect();
    assert!(recent.len() >= 2, "{items:?}");
    assert!(recent[0].1.contains(&b.emotion), "{items:?}");
    assert!(recent.last().unwrap().1.contains(&a.emotion), "{items:?}");

    // Pause / Resume
    click(&rig, &bus, "Pause listening");
    wait_for(Duration::from_secs(10), "state paused", || {
        (status(&env)["state"] == "paused").then_some(())
    });
    wait_icon(&rig, dir, &SNI_BAR, "paused");
    assert!(prop(&rig, &bus, "XAyatanaLabel").contains("paused"));
    click(&rig, &bus, "Resume listening");
    wait_for(Duration::from_secs(10), "state listening", || {
        (status(&env)["state"] == "listening").then_some(())
    });

    // Notifications check item: off (--no-notify) -> on -> off, and it follows the socket
    let check = |rig: &Rig| {
        menu(rig, &bus)
            .into_iter()
            .find(|(_, l, _)| l == "Notifications")
            .map(|(_, _, p)| p["toggle-state"]["data"].as_i64())
            .unwrap()
    };
    assert_eq!(check(&rig), Some(0));
    click(&rig, &bus, "Notifications");
    wait_for(Duration::from_secs(10), "notifications on", || {
        (status(&env)["notifications"] == true).then_some(())
    });
    assert_eq!(check(&rig), Some(1));
    env.run_serctl(["notifications", "off"]);
    wait_for(
        Duration::from_secs(10),
        "the check item to follow the socket",
        || (check(&rig) == Some(0)).then_some(()),
    );

    // Open history: the opener gets the history file
    click(&rig, &bus, "Open history");
    let history = status(&env)["history_path"].as_str().unwrap().to_string();
    let got = wait_for(Duration::from_secs(10), "xdg-open to be run", || {
        std::fs::read_to_string(&opened)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(got.trim(), history);

    // Quit
    click(&rig, &bus, "Quit ser");
    let st = serd.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "{st}\n{}", serd.logs());
    wait_for(Duration::from_secs(10), "the item to unregister", || {
        our_item(&rig, serd.pid()).0.is_none().then_some(())
    });
}

/// Puts the rig's usual tray host back when dropped (also when a test fails).
struct SniAgain<'a>(&'a Rig);

impl Drop for SniAgain<'_> {
    fn drop(&mut self) {
        self.0.set_tray_host(TrayHost::Sni);
    }
}

#[test]
fn an_xembed_tray_shows_the_icon_and_status_says_so() {
    // No StatusNotifierWatcher, only an XEmbed system tray (trayer, as i3bar or
    // an older panel would be): libayatana falls back to an XEmbed icon, and
    // serd must see that tray, lose it and find it again like an SNI host.
    let rig = Rig::get();
    let _lock = mic_lock();
    rig.set_tray_host(TrayHost::Xembed);
    let _sni_again = SniAgain(&rig);
    let env = TestEnv::new();
    let clip = ser_e2e::ravdess_clip(1, 5, 2, 1, 1);
    let input = format!("file:{}", clip.display());
    let mut serd = env.spawn_serd(["--input", &input, "--pace", "max", "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(30));
    let shots = tempfile::tempdir().unwrap();
    let dir = shots.path();

    wait_for(Duration::from_secs(20), "status to say tray: true", || {
        (status(&env)["tray"] == true).then_some(())
    });
    let (ok, out, err) = env.run_serctl(["pause"]);
    assert!(ok, "{out}{err}");
    wait_icon(&rig, dir, &XEMBED_BAR, "paused");
    let (ok, out, err) = env.run_serctl(["status"]);
    assert!(
        ok && out.contains("tray:") && out.contains(" on"),
        "{out}{err}"
    );

    // the tray goes away: status follows; it comes back: the icon is embedded again
    rig.set_tray_host(TrayHost::None);
    wait_for(Duration::from_secs(20), "status to say tray: false", || {
        (status(&env)["tray"] == false).then_some(())
    });
    rig.set_tray_host(TrayHost::Xembed);
    wait_for(
        Duration::from_secs(20),
        "status to say tray: true again",
        || (status(&env)["tray"] == true).then_some(()),
    );
    wait_icon(&rig, dir, &XEMBED_BAR, "paused");
    let logs = serd.logs();
    assert_eq!(
        logs.matches("XEmbed system tray found").count(),
        2,
        "{logs}"
    );
    assert!(serd.try_wait().is_none(), "serd exited:\n{logs}");
}

fn headless_status(mut env: TestEnv, display: Option<&str>) -> (Value, String, String) {
    match display {
        Some(d) => env.set_var("DISPLAY", d),
        None => env.remove_var("DISPLAY"),
    }
    let clip = ser_e2e::ravdess_clip(1, 5, 2, 1, 1);
    let input = format!("file:{}", clip.display());
    let mut serd = env.spawn_serd(["--input", &input, "--pace", "max"]);
    serd.wait_for_socket(Duration::from_secs(30));
    // the UI reports itself shortly after start; wait for its verdict to settle
    // by asking until the daemon has classified the clip (it keeps running)
    let st = wait_for(Duration::from_secs(30), "the clip to be classified", || {
        let s = status(&env);
        (s["utterances"].as_u64() >= Some(1)).then_some(s)
    });
    assert!(serd.try_wait().is_none(), "serd exited:\n{}", serd.logs());
    let (ok, out, err) = env.run_serctl(["status"]);
    assert!(ok, "{out}{err}");
    (st, out, serd.logs())
}

#[test]
fn without_a_display_the_daemon_runs_with_tray_false() {
    let (st, out, _) = headless_status(TestEnv::without_rig(), None);
    assert_eq!(st["tray"], false, "{st}");
    assert_eq!(st["state"], "listening", "{st}");
    assert!(out.contains("tray:") && out.contains("off"), "{out}");
}

#[test]
fn with_a_dead_display_gtk_fails_and_the_daemon_runs_with_tray_false() {
    // DISPLAY points at no X server: gtk::init fails inside the UI, which says
    // so once (TrayActive(false)) and keeps draining updates.
    let _rig = Rig::get();
    let (st, _, logs) = headless_status(TestEnv::new(), Some(":4917"));
    assert_eq!(st["tray"], false, "{st}");
    assert_eq!(
        logs.matches("no tray icon: GTK could not start").count(),
        1,
        "{logs}"
    );
}
