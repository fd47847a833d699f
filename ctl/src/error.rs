//! Errors of the client library.
//!
//! Every variant says what was being done and, where there is one, what to do
//! about it, so a program can print an [`Error`] to a person as it is
//! (`serctl` prints `serctl: {error}`). The messages never end in a raw OS
//! error such as "(os error 111)".

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::ErrorCode;

/// The hint appended whenever the daemon cannot be reached.
pub const START_HINT: &str = "Start it with `serd` or `systemctl --user start serd`";

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while talking to `serd`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing listens on the socket: the file is missing, or it is a
    /// leftover of a daemon that is gone.
    #[error("cannot connect to serd at {}: is it running? {START_HINT}", socket.display())]
    NotRunning {
        /// The socket that was tried.
        socket: PathBuf,
    },

    /// The socket (or its directory) belongs to someone else.
    #[error(
        "permission denied connecting to serd at {}: the socket belongs to another user or has the wrong mode; \
         run serctl as the user who runs serd, or point SER_SOCKET at your own daemon",
        socket.display()
    )]
    PermissionDenied {
        /// The socket that was tried.
        socket: PathBuf,
    },

    /// The daemon sent something this client cannot make sense of.
    #[error("unexpected data from serd at {} while {doing}: {detail} (is serd the same version as this client?)", socket.display())]
    Protocol {
        /// The socket of the connection.
        socket: PathBuf,
        /// What the client was doing, e.g. "reading the greeting".
        doing: String,
        /// What was wrong.
        detail: String,
    },

    /// The daemon answered a request with an `error` reply.
    #[error("serd refused `{command}`: {message} [{code}]")]
    Daemon {
        /// The `cmd` of the refused request.
        command: String,
        /// The stable error code (see `PROTOCOL.md`).
        code: ErrorCode,
        /// The daemon's explanation.
        message: String,
    },

    /// The daemon did not answer in time.
    #[error(
        "serd at {} did not answer within {} while {doing}; it may be hung: check `journalctl --user -u serd` or restart it",
        socket.display(), humanize(*after)
    )]
    Timeout {
        /// The socket of the connection.
        socket: PathBuf,
        /// What the client was doing.
        doing: String,
        /// How long it waited.
        after: Duration,
    },

    /// The daemon closed the connection (it stopped or restarted).
    #[error("serd at {} closed the connection while {doing}; it may have stopped or restarted", socket.display())]
    Disconnected {
        /// The socket of the connection.
        socket: PathBuf,
        /// What the client was doing.
        doing: String,
    },

    /// Any other I/O failure on the connection.
    #[error("I/O error talking to serd at {} while {doing}: {}", socket.display(), plain(source))]
    Io {
        /// The socket of the connection.
        socket: PathBuf,
        /// What the client was doing.
        doing: String,
        /// The underlying error (its text is already part of this message).
        source: io::Error,
    },
}

impl Error {
    /// True when the daemon could not be reached at all (not running, or not ours).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::NotRunning { .. } | Error::PermissionDenied { .. }
        )
    }

    /// True when the connection is gone and a new one is needed (the daemon
    /// stopped, restarted or is unreachable).
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Error::NotRunning { .. } | Error::Disconnected { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::NotConnected
            ),
            _ => false,
        }
    }

    /// The daemon's error code, for [`Error::Daemon`].
    pub fn daemon_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Daemon { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Classifies an I/O error from connecting to `socket`.
    pub(crate) fn from_connect(socket: PathBuf, e: io::Error, timeout: Duration) -> Error {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                Error::NotRunning { socket }
            }
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { socket },
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout {
                socket,
                doing: "connecting".into(),
                after: timeout,
            },
            _ => Error::Io {
                socket,
                doing: "connecting".into(),
                source: e,
            },
        }
    }
}

/// An I/O error's text without the trailing " (os error N)".
pub(crate) fn plain(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn humanize(d: Duration) -> Humanized {
    Humanized(d)
}

struct Humanized(Duration);

impl fmt::Display for Humanized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 == 0 {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_running_says_how_to_start() {
        let e = Error::from_connect(
            "/run/user/1/ser/serd.sock".into(),
            io::Error::from(io::ErrorKind::ConnectionRefused),
            Duration::from_secs(1),
        );
        let s = e.to_string();
        assert!(s.contains("/run/user/1/ser/serd.sock"), "{s}");
        assert!(s.contains("systemctl --user start serd"), "{s}");
        assert!(e.is_unreachable());
        assert!(e.is_connection_lost());
    }

    #[test]
    fn io_errors_hide_the_os_error_number() {
        let e = Error::Io {
            socket: "/s".into(),
            doing: "sending `mood`".into(),
            source: io::Error::from_raw_os_error(libc::EPIPE),
        };
        let s = e.to_string();
        assert!(!s.contains("os error"), "{s}");
        assert!(s.contains("sending `mood`"), "{s}");
        assert!(e.is_connection_lost());
    }

    #[test]
    fn timeouts_read_like_people_write() {
        let e = Error::Timeout {
            socket: "/s".into(),
            doing: "waiting for the reply to `status`".into(),
            after: Duration::from_millis(2500),
        };
        assert!(e.to_string().contains("within 2.5 s"), "{e}");
        assert!(!e.is_connection_lost());
    }
}
