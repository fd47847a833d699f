//! Single-instance lock: an exclusive `flock` on `serd.lock` beside the socket.
//!
//! The kernel releases a `flock` when its file descriptor is closed, which
//! happens on *any* exit of the process, `kill -9` included, so a crashed
//! daemon never leaves a stale lock behind (the same scheme as espanso's
//! `lock.rs`). The holder writes its pid into the file so that a second
//! daemon can say who is running.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("serd is already running (pid {})", .pid.map_or_else(|| "unknown".to_string(), |p| p.to_string()))]
    Held { pid: Option<u32> },
    #[error("cannot open the lock file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A held instance lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock at `path` without waiting, and records our pid in it.
    pub fn acquire(path: &Path) -> Result<InstanceLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        // SAFETY: flock on a valid, owned descriptor; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    pid: text.trim().parse().ok(),
                });
            }
            return Err(io(err));
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(InstanceLock {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Empty the pid so a reader never sees a stale one; the kernel drops the lock on close.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serd.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        // flock locks belong to the open file description, so a second open in
        // the same process conflicts exactly as another process would.
        match InstanceLock::acquire(&path) {
            Err(LockError::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        let msg = InstanceLock::acquire(&path).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("serd is already running (pid {})", std::process::id())
        );
        drop(first);
        let again = InstanceLock::acquire(&path).unwrap();
        assert_eq!(again.path(), path);
    }

    #[test]
    fn unopenable_lock_names_the_file() {
        let err = InstanceLock::acquire(Path::new("/nonexistent-dir/serd.lock")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/serd.lock"),
            "{err}"
        );
    }
}
