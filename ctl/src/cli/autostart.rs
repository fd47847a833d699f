//! `serctl autostart enable|disable|status`: start serd with the session.
//!
//! Two mechanisms, as espanso's `service register`:
//! * **systemd**: a user unit `$XDG_CONFIG_HOME/systemd/user/serd.service`,
//!   filled from the template compiled in (`packaging/serd.service`) with
//!   `ExecStart` pointing at the resolved serd, then
//!   `systemctl --user daemon-reload` and `systemctl --user enable serd.service`;
//! * **xdg**: a desktop entry `$XDG_CONFIG_HOME/autostart/serd.desktop`
//!   (`packaging/serd.desktop`), for sessions without systemd.
//!
//! systemd is used when user sessions are available (`systemctl --user
//! is-system-running` or `show-environment` succeeds), unless `--mechanism`
//! says otherwise. Every action is idempotent.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::Serialize;

use super::{exit_code, output, style};

const UNIT_TEMPLATE: &str = include_str!("../../../packaging/serd.service");
const DESKTOP_TEMPLATE: &str = include_str!("../../../packaging/serd.desktop");
const UNIT_NAME: &str = "serd.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Install and enable autostart.
    Enable,
    /// Disable and remove autostart.
    Disable,
    /// Show whether autostart is set up, and whether it still points at serd.
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// A systemd user unit.
    Systemd,
    /// An XDG autostart desktop entry.
    Xdg,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// What to do.
    #[arg(value_enum)]
    pub action: Action,

    /// Use this mechanism instead of choosing (systemd when available, else xdg).
    #[arg(long, value_enum)]
    pub mechanism: Option<Mechanism>,

    /// The serd to start (default: the serd next to serctl, else the one on PATH).
    #[arg(long, value_name = "PATH")]
    pub serd: Option<PathBuf>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The state of one mechanism.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mechanism: Mechanism,
    /// The unit file or desktop entry.
    pub path: PathBuf,
    /// The file exists.
    pub installed: bool,
    /// Autostart is on: for systemd, `systemctl --user is-enabled` says so;
    /// for xdg, the entry exists and is not hidden or disabled.
    pub enabled: bool,
    /// The program the file starts.
    pub exec: Option<PathBuf>,
    /// That program exists and is executable.
    pub exec_ok: bool,
}

/// Where the files go.
#[derive(Debug, Clone)]
struct Places {
    unit: PathBuf,
    desktop: PathBuf,
}

impl Places {
    fn find() -> Result<Places> {
        let dirs = directories::BaseDirs::new()
            .context("cannot find the home directory (is HOME set?)")?;
        let config = dirs.config_dir();
        Ok(Places {
            unit: config.join("systemd/user").join(UNIT_NAME),
            desktop: config.join("autostart/serd.desktop"),
        })
    }
}

pub fn run(a: &Args) -> Result<u8> {
    let places = Places::find()?;
    let mechanism = match a.mechanism {
        Some(m) => m,
        None if systemd_available() => Mechanism::Systemd,
        None => Mechanism::Xdg,
    };
    match a.action {
        Action::Enable => {
            let serd = match &a.serd {
                Some(p) => absolute(p)?,
                None => find_serd()?,
            };
            let message = match mechanism {
                Mechanism::Systemd => enable_systemd(&places, &serd)?,
                Mechanism::Xdg => enable_xdg(&places, &serd)?,
            };
            finish(a.json, &report(&places, mechanism), &message)
        }
        Action::Disable => {
            let message = match mechanism {
                Mechanism::Systemd => disable_systemd(&places)?,
                Mechanism::Xdg => disable_xdg(&places)?,
            };
            finish(a.json, &report(&places, mechanism), &message)
        }
        Action::Status => status(a, &places),
    }
}

fn finish(json: bool, r: &Report, message: &str) -> Result<u8> {
    if json {
        output::json(r)?;
    } else {
        output::line(message)?;
    }
    Ok(exit_code::OK)
}

fn status(a: &Args, places: &Places) -> Result<u8> {
    let reports: Vec<Report> = match a.mechanism {
        Some(m) => vec![report(places, m)],
        None => [Mechanism::Systemd, Mechanism::Xdg]
            .into_iter()
            .map(|m| report(places, m))
            .filter(|r| r.installed)
            .collect(),
    };
    if a.json {
        #[derive(Serialize)]
        struct StatusJson<'a> {
            enabled: bool,
            mechanisms: &'a [Report],
        }
        output::json(&StatusJson {
            enabled: reports.iter().any(|r| r.enabled),
            mechanisms: &reports,
        })?;
        return Ok(exit_code::OK);
    }
    if reports.iter().all(|r| !r.installed) {
        output::line("autostart: off (enable it with `serctl autostart enable`)")?;
        return Ok(exit_code::OK);
    }
    for r in &reports {
        let name = match r.mechanism {
            Mechanism::Systemd => "systemd user unit",
            Mechanism::Xdg => "XDG autostart entry",
        };
        let state = if r.enabled {
            style::bold("on")
        } else {
            "off".into()
        };
        output::line(format!("autostart: {state} ({name})"))?;
        output::line(format!("  file: {}", r.path.display()))?;
        match &r.exec {
            Some(exec) if r.exec_ok => output::line(format!("  runs: {}", exec.display()))?,
            Some(exec) => output::line(format!(
                "  runs: {} — MISSING: that serd no longer exists; run `serctl autostart enable` again",
                exec.display()
            ))?,
            None => output::line(
                "  runs: nothing (no Exec line); run `serctl autostart enable` again",
            )?,
        }
    }
    Ok(exit_code::OK)
}

fn report(places: &Places, mechanism: Mechanism) -> Report {
    let path = match mechanism {
        Mechanism::Systemd => places.unit.clone(),
        Mechanism::Xdg => places.desktop.clone(),
    };
    let text = std::fs::read_to_string(&path).ok();
    let installed = text.is_some();
    let key = match mechanism {
        Mechanism::Systemd => "ExecStart",
        Mechanism::Xdg => "Exec",
    };
    let exec = text
        .as_deref()
        .and_then(|t| value_of(t, key))
        .map(|v| PathBuf::from(first_word(&v)));
    let exec_ok = exec.as_deref().is_some_and(is_executable);
    let enabled = match (mechanism, &text) {
        (_, None) => false,
        (Mechanism::Systemd, Some(_)) => systemctl(&["is-enabled", UNIT_NAME])
            .map(|(ok, out)| ok && out.trim() == "enabled")
            .unwrap_or(false),
        (Mechanism::Xdg, Some(t)) => {
            value_of(t, "Hidden").as_deref() != Some("true")
                && value_of(t, "X-GNOME-Autostart-enabled").as_deref() != Some("false")
        }
    };
    Report {
        mechanism,
        path,
        installed,
        enabled,
        exec,
        exec_ok,
    }
}

fn enable_systemd(places: &Places, serd: &Path) -> Result<String> {
    if !systemd_available() {
        bail!(
            "systemd user sessions are not available here (`systemctl --user` does not answer); \
             use `serctl autostart enable --mechanism xdg`"
        );
    }
    let changed = write_if_changed(&places.unit, &fill(UNIT_TEMPLATE, "ExecStart", serd))?;
    run_systemctl(&["daemon-reload"])?;
    run_systemctl(&["enable", UNIT_NAME])?;
    Ok(format!(
        "autostart {} (systemd user unit {}, runs {}); start it now with `systemctl --user start serd`",
        if changed { "enabled" } else { "already enabled" },
        places.unit.display(),
        serd.display()
    ))
}

fn disable_systemd(places: &Places) -> Result<String> {
    if !places.unit.exists() {
        return Ok(format!(
            "autostart already disabled (no {})",
            places.unit.display()
        ));
    }
    if systemd_available() {
        run_systemctl(&["disable", UNIT_NAME])?;
    }
    remove(&places.unit)?;
    if systemd_available() {
        run_systemctl(&["daemon-reload"])?;
    }
    Ok(format!(
        "autostart disabled (removed {}); a running serd keeps running: `serctl stop` ends it",
        places.unit.display()
    ))
}

fn enable_xdg(places: &Places, serd: &Path) -> Result<String> {
    let changed = write_if_changed(&places.desktop, &fill(DESKTOP_TEMPLATE, "Exec", serd))?;
    Ok(format!(
        "autostart {} (XDG autostart entry {}, runs {}); serd starts with your next desktop session",
        if changed { "enabled" } else { "already enabled" },
        places.desktop.display(),
        serd.display()
    ))
}

fn disable_xdg(places: &Places) -> Result<String> {
    if !places.desktop.exists() {
        return Ok(format!(
            "autostart already disabled (no {})",
            places.desktop.display()
        ));
    }
    remove(&places.desktop)?;
    Ok(format!(
        "autostart disabled (removed {})",
        places.desktop.display()
    ))
}

/// The template with its `key=` line pointing at `exec`.
fn fill(template: &str, key: &str, exec: &Path) -> String {
    let value = quote(exec);
    let prefix = format!("{key}=");
    let mut out = String::with_capacity(template.len() + 64);
    for line in template.lines() {
        if line.starts_with(&prefix) {
            out.push_str(&prefix);
            out.push_str(&value);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A path as a command word: quoted when it contains spaces (both systemd
/// and the desktop entry specification accept double quotes).
fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains(char::is_whitespace) || s.contains('"') {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s
    }
}

/// The first command word of an `Exec`/`ExecStart` value (unquoted; systemd
/// prefixes such as `-` or `@` removed).
fn first_word(v: &str) -> String {
    let v = v.trim().trim_start_matches(['-', '@', ':', '+', '!']);
    if let Some(rest) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => break,
                c => out.push(c),
            }
        }
        out
    } else {
        v.split_whitespace().next().unwrap_or("").to_string()
    }
}

/// The value of the first `key=value` line.
fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn write_if_changed(path: &Path, content: &str) -> Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// True when systemd user sessions are available.
pub fn systemd_available() -> bool {
    let ok = |args: &[&str]| systemctl(args).is_some_and(|(ok, _)| ok);
    ok(&["is-system-running"]) || ok(&["show-environment"])
}

/// Runs `systemctl --user ARGS`; `None` when systemctl cannot be run.
fn systemctl(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn run_systemctl(args: &[&str]) -> Result<()> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running systemctl (is systemd installed?)")?;
    if !out.status.success() {
        bail!(
            "`systemctl --user {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The serd next to this serctl, else the first on PATH.
fn find_serd() -> Result<PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        let beside = exe.with_file_name("serd");
        if is_executable(&beside) {
            return Ok(beside);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("serd");
            if dir.is_absolute() && is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    bail!("cannot find serd next to serctl or on PATH; install it, or name it with --serd PATH")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    if !is_executable(&abs) {
        bail!("{} is not an executable file", abs.display());
    }
    Ok(abs)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_the_resolved_path() {
        let unit = fill(UNIT_TEMPLATE, "ExecStart", Path::new("/opt/ser bin/serd"));
        let exec = value_of(&unit, "ExecStart").unwrap();
        assert_eq!(exec, "\"/opt/ser bin/serd\"");
        assert_eq!(first_word(&exec), "/opt/ser bin/serd");
        assert!(
            unit.contains("[Install]"),
            "the rest of the template is kept"
        );
        let desktop = fill(DESKTOP_TEMPLATE, "Exec", Path::new("/usr/local/bin/serd"));
        assert_eq!(
            value_of(&desktop, "Exec").as_deref(),
            Some("/usr/local/bin/serd")
        );
        assert_eq!(first_word("-/usr/bin/serd --no-tray"), "/usr/bin/serd");
    }
}
