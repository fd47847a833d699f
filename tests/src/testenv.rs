//! An isolated environment per test: its own HOME, XDG directories and daemon socket.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::conn::RawConn;
use crate::daemon::DaemonProcess;
use crate::paths::bin;
use crate::rig::Rig;

/// A temp dir holding `home/`, `config/`, `data/`, `state/`, `cache/` and `run/`
/// (mode 0700), used as HOME and XDG_* for every command made with
/// [`TestEnv::command`]. The daemon socket is `run/ser/serd.sock` (`SER_SOCKET`), so
/// tests running in parallel never share a daemon. The rig's display, session bus and
/// sound server are passed on (`PULSE_SERVER` reaches PulseAudio without the rig's
/// `XDG_RUNTIME_DIR`). Everything is deleted on drop; call [`TestEnv::keep`] to keep it.
#[derive(Debug)]
pub struct TestEnv {
    dir: TempDir,
    vars: BTreeMap<String, String>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A new environment connected to the rig ([`Rig::get`] starts it if needed).
    pub fn new() -> TestEnv {
        Self::with_rig(Some(&Rig::get()))
    }

    /// A new environment with no rig at all: no DISPLAY, no session bus, no sound
    /// server (for tests of the daemon's behaviour without a desktop).
    pub fn without_rig() -> TestEnv {
        Self::with_rig(None)
    }

    fn with_rig(rig: Option<&Rig>) -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("ser-e2e-")
            .tempdir()
            .expect("cannot create a temp dir");
        let mut vars = BTreeMap::new();
        for (var, sub) in [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_RUNTIME_DIR", "run"),
        ] {
            let path = dir.path().join(sub);
            fs::create_dir_all(&path).expect("cannot create a test dir");
            vars.insert(var.to_string(), path.to_string_lossy().into_owned());
        }
        fs::set_permissions(dir.path().join("run"), fs::Permissions::from_mode(0o700))
            .expect("chmod run/");
        let socket = dir.path().join("run/ser/serd.sock");
        vars.insert("SER_SOCKET".into(), socket.to_string_lossy().into_owned());
        vars.insert("NO_COLOR".into(), "1".into());
        vars.insert("RUST_BACKTRACE".into(), "1".into());
        if let Some(rig) = rig {
            for name in [
                "DISPLAY",
                "DBUS_SESSION_BUS_ADDRESS",
                "PULSE_SERVER",
                "NO_AT_BRIDGE",
                "RIG_RUN",
            ] {
                vars.insert(name.into(), rig.var(name).to_string());
            }
        }
        TestEnv { dir, vars }
    }

    /// The temp dir's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `$XDG_CONFIG_HOME/ser`, where the daemon reads `config.toml`.
    pub fn config_dir(&self) -> PathBuf {
        self.path_of("XDG_CONFIG_HOME").join("ser")
    }

    /// `$XDG_DATA_HOME/ser`, where the daemon keeps `history.jsonl`.
    pub fn data_dir(&self) -> PathBuf {
        self.path_of("XDG_DATA_HOME").join("ser")
    }

    /// The daemon's socket path (`SER_SOCKET`).
    pub fn socket(&self) -> PathBuf {
        self.path_of("SER_SOCKET")
    }

    /// Writes `$XDG_CONFIG_HOME/ser/config.toml` and returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let dir = self.config_dir();
        fs::create_dir_all(&dir).expect("create config dir");
        let path = dir.join("config.toml");
        fs::write(&path, toml).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// The value of one variable of this environment.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Sets (or overrides) a variable for every later command.
    pub fn set_var(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_string(), value.into());
    }

    /// Removes a variable for every later command (e.g. `DISPLAY`).
    pub fn remove_var(&mut self, name: &str) {
        self.vars.remove(name);
    }

    /// All variables this environment sets.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    fn path_of(&self, var: &str) -> PathBuf {
        PathBuf::from(
            self.var(var)
                .unwrap_or_else(|| panic!("{var} is not set in this TestEnv")),
        )
    }

    /// A command for `program` (a path, e.g. from [`bin`]) with a clean environment:
    /// only PATH, LANG and this environment's variables. Its cwd is the temp dir.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("LANG", "C.UTF-8")
            .envs(&self.vars)
            .current_dir(self.root())
            .stdin(Stdio::null());
        cmd
    }

    /// `serctl` (the workspace build) with this environment.
    pub fn serctl(&self) -> Command {
        self.command(bin("serctl"))
    }

    /// Runs `serctl args...`, returns (success, stdout, stderr).
    pub fn run_serctl<I, S>(&self, args: I) -> (bool, String, String)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self
            .serctl()
            .args(args)
            .output()
            .expect("cannot run serctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts the workspace `serd` with `args` in this environment. Its stdout and
    /// stderr go to files in the temp dir (shown by [`DaemonProcess::logs`]); it is
    /// killed when the returned handle is dropped.
    pub fn spawn_serd<I, S>(&self, args: I) -> DaemonProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.spawn_daemon(bin("serd"), args)
    }

    /// The workspace `serd` headless (`--no-tray --no-notify`) with a WAV file
    /// for a microphone (`--input file:INPUT --pace PACE`, `PACE` `max` or
    /// `realtime`) and `extra` arguments, once its socket answers (60 s at
    /// most).
    pub fn spawn_serd_on_file(&self, input: &Path, pace: &str, extra: &[&str]) -> DaemonProcess {
        let input = format!("file:{}", input.display());
        let mut args = vec![
            "--input",
            &input,
            "--pace",
            pace,
            "--no-tray",
            "--no-notify",
        ];
        args.extend_from_slice(extra);
        let mut serd = self.spawn_serd(args);
        serd.wait_for_socket(std::time::Duration::from_secs(60));
        serd
    }

    /// Like [`TestEnv::spawn_serd`] for another daemon binary (e.g. the installed
    /// `/usr/bin/serd`).
    pub fn spawn_daemon<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> DaemonProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        DaemonProcess::spawn(self.command(program), args, self.root(), self.socket())
    }

    /// Connects to this environment's daemon socket (see [`RawConn`]).
    pub fn connect(&self) -> RawConn {
        RawConn::connect(&self.socket())
    }

    /// Keeps the temp dir after the test (for debugging) and returns its path.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}
