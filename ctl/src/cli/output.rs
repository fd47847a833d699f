//! Writing to stdout: every write goes through here so that a closed pipe
//! (`serctl history | head`) ends the program quietly instead of panicking.

use std::io::{self, Write};

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes one line to stdout and flushes it (so `watch` output streams).
pub fn line(text: impl AsRef<str>) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_ref().as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// Writes `value` as one line of JSON to stdout.
pub fn json<T: Serialize>(value: &T) -> Result<()> {
    line(serde_json::to_string(value).context("encoding JSON")?)
}

/// Writes bytes to stdout as they are.
pub fn raw(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing to stdout")
}
