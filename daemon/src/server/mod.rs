//! The local socket server: JSON Lines over a Unix-domain socket file.
//!
//! * The socket lives at `ser_ctl::paths::socket_path()`; its directory is
//!   created with mode 0700 and refused when another user owns it; the socket
//!   itself is created with mode 0600. The caller holds the instance lock, so
//!   a socket file left by a dead daemon is stale and is replaced.
//! * Each accepted connection's peer uid is checked (`SO_PEERCRED`); a
//!   connection from another user is closed at once.
//! * A thread per connection (small stacks) reads requests; a subscribed
//!   connection gets a second thread that writes its events
//!   ([`subscribers`]). Writes time out ([`ServerOptions::write_timeout`]),
//!   so a stalled client never blocks anyone but itself, and is dropped.
//! * Protocol handling (one module per command) is in [`handlers`].

pub mod conn;
pub mod handlers;
pub mod subscribers;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use interprocess::local_socket::traits::{Listener as _, Stream as _, StreamCommon as _};
use interprocess::local_socket::{GenericFilePath, Listener, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

use crate::core::Core;

/// Tunables of the server (defaults are what `serd` uses).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A write that makes no progress for this long drops the client.
    pub write_timeout: Duration,
    /// Connections beyond this many are refused.
    pub max_clients: usize,
    /// Stack size of each connection thread.
    pub stack_size: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            write_timeout: Duration::from_secs(10),
            max_clients: 1024,
            stack_size: 256 * 1024,
        }
    }
}

/// Errors setting the socket up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create the runtime directory {}: {source}", .path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("the runtime directory {} belongs to uid {owner}, not to us (uid {ours}); refusing to use it", .path.display())]
    ForeignDir {
        path: PathBuf,
        owner: u32,
        ours: u32,
    },
    #[error("{} exists and is not a directory", .path.display())]
    NotADir { path: PathBuf },
    #[error("cannot listen on {}: {source}", .path.display())]
    Bind { path: PathBuf, source: io::Error },
}

/// Creates `dir` with mode 0700 if missing; refuses one owned by another user.
pub fn prepare_runtime_dir(dir: &Path) -> Result<(), ServerError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) => {
            let m = if m.file_type().is_symlink() {
                std::fs::metadata(dir).map_err(|source| ServerError::CreateDir {
                    path: dir.into(),
                    source,
                })?
            } else {
                m
            };
            if !m.is_dir() {
                return Err(ServerError::NotADir { path: dir.into() });
            }
            let ours = ser_ctl::paths::uid();
            if m.uid() != ours {
                return Err(ServerError::ForeignDir {
                    path: dir.into(),
                    owner: m.uid(),
                    ours,
                });
            }
            if m.permissions().mode() & 0o022 != 0 {
                tracing::warn!(dir = %dir.display(), "the runtime directory is writable by others");
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| ServerError::CreateDir {
                path: dir.into(),
                source,
            }),
        Err(source) => Err(ServerError::CreateDir {
            path: dir.into(),
            source,
        }),
    }
}

/// Binds the socket file at `path` (mode 0600), replacing a stale one.
/// Only call this while holding the instance lock.
pub fn bind(path: &Path) -> Result<Listener, ServerError> {
    let err = |source| ServerError::Bind {
        path: path.into(),
        source,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(err)?;
    ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .try_overwrite(true)
        .create_sync()
        .map_err(err)
}

struct Registry {
    conns: Mutex<HashMap<u64, UnixStream>>,
    next: AtomicU64,
}

/// A running server; [`Server::stop`] ends it.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    registry: Arc<Registry>,
    core: Arc<Core>,
}

impl Server {
    /// Starts accepting on `listener` (bound at `path`).
    pub fn start(
        listener: Listener,
        path: PathBuf,
        core: Arc<Core>,
        opts: ServerOptions,
    ) -> io::Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let registry = Arc::new(Registry {
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        });
        let accept = {
            let (stop, registry, core) = (stop.clone(), registry.clone(), core.clone());
            std::thread::Builder::new()
                .name("server".into())
                .spawn(move || accept_loop(listener, stop, registry, core, opts))?
        };
        tracing::info!(socket = %path.display(), "listening");
        Ok(Server {
            path,
            stop,
            accept: Some(accept),
            registry,
            core,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, lets subscribers flush their last events (bounded),
    /// closes every connection and removes the socket file.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        if let Ok(name) = self.path.as_path().to_fs_name::<GenericFilePath>() {
            let _ = interprocess::local_socket::Stream::connect(name);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        self.core.subscribers.close_all();
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.core.subscribers.count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let conns: Vec<UnixStream> = lock(&self.registry.conns).drain().map(|(_, s)| s).collect();
        for s in conns {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(
    listener: Listener,
    stop: Arc<AtomicBool>,
    registry: Arc<Registry>,
    core: Arc<Core>,
    opts: ServerOptions,
) {
    let ours = ser_ctl::paths::uid();
    loop {
        let conn = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let euid = conn.peer_creds().ok().and_then(|c| c.euid());
        if euid != Some(ours) {
            tracing::warn!(peer_uid = ?euid, "refusing a connection from another user");
            continue;
        }
        let stream = match conn {
            interprocess::local_socket::Stream::UdSocket(s) => UnixStream::from(OwnedFd::from(s)),
        };
        let active = lock(&registry.conns).len();
        if active >= opts.max_clients {
            tracing::warn!("too many clients ({active}); refusing a connection");
            continue;
        }
        let id = registry.next.fetch_add(1, Ordering::Relaxed);
        match stream.try_clone() {
            Ok(clone) => {
                lock(&registry.conns).insert(id, clone);
            }
            Err(e) => {
                tracing::warn!("cannot clone a client socket: {e}");
                continue;
            }
        }
        let (core, registry2, opts2) = (core.clone(), registry.clone(), opts.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("client-{id}"))
            .stack_size(opts.stack_size)
            .spawn(move || {
                conn::serve(core, stream, &opts2);
                lock(&registry2.conns).remove(&id);
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a client thread: {e}");
            lock(&registry.conns).remove(&id);
        }
    }
    tracing::debug!("accept loop ended");
}
