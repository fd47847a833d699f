//! `serctl autostart` with the XDG mechanism forced, in a temporary HOME.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn entry(&self) -> PathBuf {
        self.config().join("autostart/serd.desktop")
    }

    /// A stand-in serd executable (autostart only records its path).
    fn fake_serd(&self) -> PathBuf {
        let p = self.dir.path().join("bin/serd");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn serctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_serctl"))
            .args(args)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.config())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn status_json(home: &Home) -> serde_json::Value {
    let out = ok(&home.serctl(&["autostart", "status", "--mechanism", "xdg", "--json"]));
    serde_json::from_str(out.trim()).unwrap()
}

fn exec_line(entry: &Path) -> String {
    std::fs::read_to_string(entry)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Exec="))
        .unwrap()
        .to_string()
}

#[test]
fn enable_status_disable_round_trip() {
    let home = Home::new();
    let serd = home.fake_serd();
    let serd_s = serd.to_str().unwrap();

    let s = status_json(&home);
    assert_eq!(s["enabled"], false);
    assert_eq!(s["mechanisms"][0]["installed"], false);

    for round in 0..2 {
        let out = ok(&home.serctl(&[
            "autostart",
            "enable",
            "--mechanism",
            "xdg",
            "--serd",
            serd_s,
        ]));
        let expect = if round == 0 {
            "autostart enabled"
        } else {
            "already enabled"
        };
        assert!(out.contains(expect), "{out}");
        assert!(home.entry().is_file());
        assert_eq!(exec_line(&home.entry()), format!("Exec={serd_s}"));
    }
    let entry = std::fs::read_to_string(home.entry()).unwrap();
    assert!(entry.starts_with("[Desktop Entry]"), "{entry}");

    let s = status_json(&home);
    assert_eq!(s["enabled"], true);
    let m = &s["mechanisms"][0];
    assert_eq!(m["mechanism"], "xdg");
    assert_eq!(m["path"], home.entry().to_str().unwrap());
    assert_eq!(m["exec"], serd_s);
    assert_eq!(m["exec_ok"], true);
    let human = ok(&home.serctl(&["autostart", "status", "--mechanism", "xdg"]));
    assert!(
        human.contains("autostart: on (XDG autostart entry)"),
        "{human}"
    );

    for round in 0..2 {
        let out = ok(&home.serctl(&["autostart", "disable", "--mechanism", "xdg"]));
        let expect = if round == 0 {
            "autostart disabled"
        } else {
            "already disabled"
        };
        assert!(out.contains(expect), "{out}");
        assert!(!home.entry().exists());
    }
    assert_eq!(status_json(&home)["enabled"], false);
}

#[test]
fn status_notices_a_serd_that_is_gone() {
    let home = Home::new();
    let serd = home.fake_serd();
    ok(&home.serctl(&[
        "autostart",
        "enable",
        "--mechanism",
        "xdg",
        "--serd",
        serd.to_str().unwrap(),
    ]));
    std::fs::remove_file(&serd).unwrap();
    let s = status_json(&home);
    assert_eq!(s["mechanisms"][0]["exec_ok"], false);
    let human = ok(&home.serctl(&["autostart", "status", "--mechanism", "xdg"]));
    assert!(human.contains("MISSING"), "{human}");
    assert!(human.contains("serctl autostart enable"), "{human}");
}

#[test]
fn enable_without_serd_path_finds_one_or_says_how() {
    let home = Home::new();
    let out = Command::new(env!("CARGO_BIN_EXE_serctl"))
        .args(["autostart", "enable", "--mechanism", "xdg"])
        .env("HOME", home.dir.path())
        .env("XDG_CONFIG_HOME", home.config())
        .env("PATH", home.dir.path().join("bin")) // holds no serd yet
        .output()
        .unwrap();
    let beside = Path::new(env!("CARGO_BIN_EXE_serctl")).with_file_name("serd");
    if beside.exists() {
        // serd was built next to serctl: that is the one recorded.
        ok(&out);
        assert_eq!(
            exec_line(&home.entry()),
            format!("Exec={}", beside.display())
        );
    } else {
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot find serd"), "{err}");
        assert!(err.contains("--serd"), "{err}");
        // With serd on PATH, it is found there.
        let serd = home.fake_serd();
        let out = Command::new(env!("CARGO_BIN_EXE_serctl"))
            .args(["autostart", "enable", "--mechanism", "xdg"])
            .env("HOME", home.dir.path())
            .env("XDG_CONFIG_HOME", home.config())
            .env("PATH", serd.parent().unwrap())
            .output()
            .unwrap();
        ok(&out);
        assert_eq!(exec_line(&home.entry()), format!("Exec={}", serd.display()));
    }
}

#[test]
fn a_bad_serd_path_is_refused() {
    let home = Home::new();
    let out = home.serctl(&[
        "autostart",
        "enable",
        "--mechanism",
        "xdg",
        "--serd",
        "/nonexistent/serd",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("serctl: "), "{err}");
    assert!(
        err.contains("/nonexistent/serd is not an executable file"),
        "{err}"
    );
    assert!(!home.entry().exists());
}
