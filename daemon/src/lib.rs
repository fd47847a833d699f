//! `serd`, the ser daemon, as a library: the binary (`main.rs`) is glue, and
//! tests and the benchmark drive the same code.
//!
//! Threads (see docs/ARCHITECTURE.md): capture or file input → ring →
//! pipeline (resample + VAD) → classifier → [`core::Core::publish`] → socket
//! subscribers, UI, mood, history.

pub mod audio;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod engine;
pub mod fuzzing;
pub mod history;
pub mod lock;
pub mod mood;
pub mod pipeline;
pub mod server;
pub mod ui;
pub mod vad;
pub mod wait;

/// Process exit codes of `serd`.
pub mod exit_code {
    /// Clean exit (signal, `shutdown` request, tray Quit, end of `--exit-after-input`).
    pub const OK: i32 = 0;
    /// Any other fatal error (socket, model, I/O).
    pub const FAILURE: i32 = 1;
    /// Another serd already runs for this socket.
    pub const ALREADY_RUNNING: i32 = 2;
    /// The configuration file is invalid.
    pub const INVALID_CONFIG: i32 = 3;
}
