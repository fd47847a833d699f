//! Where the daemon's socket and lock live. Clients and the daemon both call
//! [`runtime_dir`] / [`socket_path`], so they always agree.
//!
//! Order, as in MPD's client documentation:
//! 1. `$SER_SOCKET`, if set and non-empty (the socket's full path);
//! 2. `$XDG_RUNTIME_DIR/ser/serd.sock`, when `XDG_RUNTIME_DIR` is an absolute path;
//! 3. `/tmp/ser-$UID/serd.sock` (fallback for sessions without a runtime dir;
//!    the daemon creates the directory with mode 0700 and refuses one owned by
//!    another user).
//!
//! The lock file is `serd.lock` in the same directory as the socket.

use std::path::PathBuf;

/// Environment variable that overrides the socket path.
pub const SOCKET_ENV: &str = "SER_SOCKET";

/// File name of the socket inside [`runtime_dir`].
pub const SOCKET_NAME: &str = "serd.sock";

/// File name of the single-instance lock inside [`runtime_dir`].
pub const LOCK_NAME: &str = "serd.lock";

/// The current user's numeric id.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The directory holding the socket and the lock.
pub fn runtime_dir() -> PathBuf {
    if let Some(sock) = env_path(SOCKET_ENV) {
        if let Some(parent) = sock.parent() {
            if !parent.as_os_str().is_empty() {
                return parent.to_path_buf();
            }
        }
    }
    match env_path("XDG_RUNTIME_DIR") {
        Some(dir) if dir.is_absolute() => dir.join("ser"),
        _ => PathBuf::from(format!("/tmp/ser-{}", uid())),
    }
}

/// The path of the daemon's socket.
pub fn socket_path() -> PathBuf {
    env_path(SOCKET_ENV).unwrap_or_else(|| runtime_dir().join(SOCKET_NAME))
}

/// The path of the daemon's single-instance lock file.
pub fn lock_path() -> PathBuf {
    runtime_dir().join(LOCK_NAME)
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
