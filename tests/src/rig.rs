//! The headless test rig (`tests/rig/*.sh`): what it exposes to child processes, the
//! shared virtual microphone and the lock that serialises tests using it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::paths::workspace_root;

/// How long starting the rig may take before a test gives up (it takes ~1 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running test rig, described by `$RIG_RUN/env` (default `/tmp/ser-rig`).
#[derive(Debug, Clone)]
pub struct Rig {
    run_dir: PathBuf,
    vars: BTreeMap<String, String>,
}

/// The tray host modes of `tests/rig/tray.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayHost {
    /// `gtk-sni-tray-standalone --watcher`: a StatusNotifierWatcher plus a bar drawing the icons.
    Sni,
    /// `status-notifier-watcher`: the D-Bus watcher only; nothing is drawn.
    Watcher,
    /// `trayer`: an XEmbed system tray and no watcher.
    Xembed,
    /// No tray host at all.
    None,
}

impl TrayHost {
    /// The name `tray.sh` / `start.sh` take.
    pub fn name(self) -> &'static str {
        match self {
            TrayHost::Sni => "sni",
            TrayHost::Watcher => "watcher",
            TrayHost::Xembed => "xembed",
            TrayHost::None => "none",
        }
    }
}

static START: Mutex<()> = Mutex::new(());

impl Rig {
    /// The rig's run directory: `$RIG_RUN`, default `/tmp/ser-rig`.
    pub fn run_dir_from_env() -> PathBuf {
        std::env::var_os("RIG_RUN")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/ser-rig"))
    }

    /// The running rig, or a freshly started one (`tests/rig/start.sh`, tray host `sni`)
    /// when none is ready or its sound or X server does not answer (a broken rig is
    /// restarted). Starting is serialised between threads and processes.
    pub fn get() -> Rig {
        let run_dir = Self::run_dir_from_env();
        if let Some(rig) = Self::running(&run_dir) {
            return rig;
        }
        let _guard = START.lock().unwrap_or_else(|e| e.into_inner());
        let _flock = FileLock::exclusive(&start_lock_path(&run_dir));
        if let Some(rig) = Self::running(&run_dir) {
            return rig;
        }
        let script = workspace_root().join("tests/rig/start.sh");
        let log = sibling(&run_dir, "start.log");
        let out =
            File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out.try_clone().expect("dup log file");
        // Output goes to a file, not a pipe: the daemons it starts keep their fds.
        let status = Command::new("bash")
            .arg(&script)
            .env("RIG_RUN", &run_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.success(),
            "{} failed ({status}):\n{log_text}",
            script.display()
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(rig) = Self::running(&run_dir) {
                return rig;
            }
            assert!(
                Instant::now() < deadline,
                "the test rig in {} did not become ready:\n{log_text}",
                run_dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The rig in `run_dir` if it is ready and its sound and X servers answer.
    fn running(run_dir: &Path) -> Option<Rig> {
        if !run_dir.join("ready").exists() {
            return None;
        }
        let vars = parse_env_file(&std::fs::read_to_string(run_dir.join("env")).ok()?);
        let rig = Rig {
            run_dir: run_dir.to_path_buf(),
            vars,
        };
        // The sound server and the X server (dunst and the tray host die with it).
        let answers = |program: &str, arg: &str| {
            rig.command(program)
                .arg(arg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        (answers("pactl", "info") && answers("xdpyinfo", "-queryExtensions")).then_some(rig)
    }

    /// `$RIG_RUN`: where the rig keeps its sockets, pid files and logs.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The variables a child process needs to reach the rig: `XDG_RUNTIME_DIR`,
    /// `DISPLAY`, `DBUS_SESSION_BUS_ADDRESS`, `PULSE_SERVER`, `NO_AT_BRIDGE`, `RIG_RUN`.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// One of [`Rig::vars`], e.g. `rig.var("DISPLAY")`.
    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{} has no {name}", self.run_dir.join("env").display()))
    }

    /// Sets [`Rig::vars`] on `cmd` (the rig's own `XDG_RUNTIME_DIR` included).
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.envs(&self.vars)
    }

    /// A command for a rig tool (`pactl`, `busctl --user`, `dunstctl`, `import`...)
    /// with the rig's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.apply(&mut cmd);
        cmd
    }

    /// Runs a rig tool and returns its stdout; panics with its stderr on failure.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Plays a WAV file into the virtual speaker `virtspk`, whose monitor is the
    /// default source `virtmic`; returns when it has played (real-time pace).
    /// Hold [`mic_lock`] around it.
    pub fn play_into_mic(&self, wav: &Path) {
        assert!(wav.is_file(), "no such audio file: {}", wav.display());
        self.run("paplay", &["--device=virtspk", &wav.to_string_lossy()]);
    }

    /// Removes every PulseAudio source (virtmic, fifomic and virtspk with its monitor)
    /// until the returned guard is dropped (or [`Unplugged::replug`] is called), for
    /// "no microphone" tests. Hold [`mic_lock`] around it.
    pub fn unplug_mic(&self) -> Unplugged {
        self.mic_script("unplug");
        Unplugged {
            rig: Some(self.clone()),
        }
    }

    /// Whether the virtual mic is present (`tests/rig/mic.sh status`).
    pub fn mic_plugged(&self) -> bool {
        self.mic_script("status").trim() == "plugged"
    }

    fn mic_script(&self, action: &str) -> String {
        let script = workspace_root().join("tests/rig/mic.sh");
        self.run("bash", &[&script.to_string_lossy(), action])
    }

    /// Replaces the tray host (`tests/rig/tray.sh`). The rig starts with [`TrayHost::Sni`];
    /// a test that switches must hold [`mic_lock`] and should switch back when done.
    pub fn set_tray_host(&self, host: TrayHost) {
        let script = workspace_root().join("tests/rig/tray.sh");
        self.run("bash", &[&script.to_string_lossy(), host.name()]);
    }

    /// The current tray host mode, as recorded by `tray.sh`.
    pub fn tray_host(&self) -> String {
        std::fs::read_to_string(self.run_dir.join("trayhost.mode"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The tray host's deaths so far, one line each (`tray.sh` restarts a host that
    /// dies and records it in `$RIG_RUN/trayhost.deaths`, keeping the dead host's log;
    /// indented lines there are remarks and are left out).
    pub fn tray_host_deaths(&self) -> Vec<String> {
        std::fs::read_to_string(self.run_dir.join("trayhost.deaths"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with(' '))
            .map(str::to_string)
            .collect()
    }

    /// The pid of the process that owns `org.kde.StatusNotifierWatcher` on the
    /// rig's bus now (the tray host), if any.
    pub fn watcher_pid(&self) -> Option<i32> {
        let out = self
            .command("busctl")
            .args(["--user", "status", "org.kde.StatusNotifierWatcher"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("PID=")?.trim().parse().ok())
    }

    /// Waits up to `timeout` for a StatusNotifierWatcher (a tray host that died is
    /// back within a second or two); true when one is there.
    pub fn wait_for_watcher(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.watcher_pid().is_some() {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Restores the virtual microphone on drop. See [`Rig::unplug_mic`].
#[derive(Debug)]
pub struct Unplugged {
    rig: Option<Rig>,
}

impl Unplugged {
    /// Plugs the virtual mic back in now.
    pub fn replug(mut self) {
        if let Some(rig) = self.rig.take() {
            rig.mic_script("plug");
        }
    }
}

impl Drop for Unplugged {
    fn drop(&mut self) {
        if let Some(rig) = self.rig.take() {
            // No panic in drop: a failure shows up in the next test's checks.
            let script = workspace_root().join("tests/rig/mic.sh");
            let _ = rig.command("bash").arg(script).arg("plug").status();
        }
    }
}

/// Held while a test uses the shared virtual mic, the tray host or the notification
/// server. Released on drop.
#[derive(Debug)]
pub struct MicLock {
    _lock: FileLock,
}

/// Takes the rig-wide lock (`$RIG_RUN.mic.lock`, an exclusive `flock`), waiting for
/// other tests — in this process or another — to release it.
pub fn mic_lock() -> MicLock {
    let run_dir = Rig::run_dir_from_env();
    MicLock {
        _lock: FileLock::exclusive(&sibling(&run_dir, "mic.lock")),
    }
}

fn start_lock_path(run_dir: &Path) -> PathBuf {
    sibling(run_dir, "start.lock")
}

/// `<run_dir>.<suffix>`: beside the run dir, so start.sh can recreate the dir freely.
fn sibling(run_dir: &Path, suffix: &str) -> PathBuf {
    let mut name = run_dir.as_os_str().to_os_string();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// An exclusive `flock` on a file; each call opens its own file description, so it
/// also excludes other threads of the same process.
#[derive(Debug)]
struct FileLock {
    file: File,
}

impl FileLock {
    fn exclusive(path: &Path) -> FileLock {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open lock file {}: {e}", path.display()));
        loop {
            // SAFETY: flock on a valid, open descriptor.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return FileLock { file };
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                panic!("cannot lock {}: {err}", path.display());
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor we own; closing it would release it as well.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Parses `export NAME=value` lines.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_become_variables() {
        let vars = parse_env_file(
            "export DISPLAY=:99\nexport PULSE_SERVER=unix:/tmp/r/pulse/native\n# comment\n",
        );
        assert_eq!(vars["DISPLAY"], ":99");
        assert_eq!(vars["PULSE_SERVER"], "unix:/tmp/r/pulse/native");
        assert_eq!(vars.len(), 2);
    }
}
