//! Helpers for ser's end-to-end tests: the real binaries, the RAVDESS clips, the
//! headless test rig (X server, session bus, PulseAudio, dunst, tray host) and an
//! isolated environment per test with its own daemon.
//!
//! A typical test:
//!
//! ```no_run
//! use std::time::Duration;
//! use ser_e2e::{ravdess_clip, Rig, TestEnv};
//!
//! let rig = Rig::get();                       // starts tests/rig/start.sh if needed
//! let env = TestEnv::new();                   // temp HOME / XDG_* / socket
//! let clip = ravdess_clip(1, 5, 2, 1, 1);     // Actor_01, angry, strong
//! let mut serd = env.spawn_serd(["--input", &format!("file:{}", clip.display()),
//!                                "--pace", "max", "--no-tray", "--no-notify"]);
//! serd.wait_for_socket(Duration::from_secs(30));
//! let mut conn = env.connect();
//! let hello = conn.read_msg(Duration::from_secs(5));
//! assert_eq!(hello["type"], "hello");
//! # let _ = rig;
//! ```
//!
//! Tests that play into the shared virtual microphone, switch the tray host or read
//! the notification server's history must hold [`mic_lock`] for their whole duration
//! (the lock is a file lock, so it also serialises separate test binaries).
//!
//! Build the binaries first (`cargo build --release --workspace`); the helpers look for
//! them next to the test executable, or in `$SER_BIN_DIR`.

mod conn;
mod daemon;
mod paths;
mod process;
mod rig;
mod testenv;
pub mod wav;

pub use conn::RawConn;
pub use daemon::DaemonProcess;
pub use paths::{bin, ravdess_clip, ravdess_clip_for, ravdess_dir, workspace_root};
pub use process::{fd_count, proc_kib};
pub use rig::{mic_lock, MicLock, Rig, TrayHost, Unplugged};
pub use testenv::TestEnv;
