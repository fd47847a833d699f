//! A daemon process started by a test: killed on drop, logs kept for failure messages.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A running daemon (`serd`). Dropping it kills it (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct DaemonProcess {
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    socket: PathBuf,
    exit: Option<ExitStatus>,
}

impl DaemonProcess {
    pub(crate) fn spawn<I, S>(
        mut cmd: Command,
        args: I,
        log_dir: &Path,
        socket: PathBuf,
    ) -> DaemonProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stdout_path = log_dir.join(format!("daemon-{n}.stdout"));
        let stderr_path = log_dir.join(format!("daemon-{n}.stderr"));
        let out = File::create(&stdout_path).expect("create daemon stdout file");
        let err = File::create(&stderr_path).expect("create daemon stderr file");
        cmd.args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        DaemonProcess {
            child: Some(child),
            stdout_path,
            stderr_path,
            socket,
            exit: None,
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Everything the daemon wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// stdout and stderr, labelled, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "--- serd stdout ---\n{}--- serd stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// Waits until the socket accepts connections. Panics (with the daemon's logs)
    /// when the daemon exits first or `timeout` passes.
    pub fn wait_for_socket(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.try_wait() {
                panic!(
                    "serd exited ({status}) before its socket {} appeared\n{}",
                    self.socket.display(),
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "serd's socket {} did not appear within {timeout:?}\n{}",
                    self.socket.display(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status if the daemon has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                self.exit = child.try_wait().expect("wait for serd");
            }
        }
        self.exit
    }

    /// Waits for the daemon to exit by itself; panics with its logs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!("serd did not exit within {timeout:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the daemon.
    pub fn signal(&self, signal: libc::c_int) {
        if self.exit.is_none() {
            // SAFETY: kill(2) with our own child's pid; the child is not reaped yet.
            unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        }
    }

    /// SIGTERM, then waits for the exit (panics with the logs after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(timeout)
    }

    /// The socket path this daemon was started with.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.exit.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
