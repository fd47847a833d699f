//! A raw JSON-Lines connection to the daemon socket, independent of `ser_ctl::client`,
//! so tests check the wire format itself.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// One client connection: write lines, read messages (one JSON object per line).
#[derive(Debug)]
pub struct RawConn {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl RawConn {
    /// Connects to `socket`; panics with the path on failure.
    pub fn connect(socket: &Path) -> RawConn {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        RawConn {
            stream,
            pending: Vec::new(),
        }
    }

    /// Writes `line` plus a newline, as is (it may be invalid JSON on purpose).
    pub fn send_line(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to the daemon socket");
    }

    /// Writes a JSON value as one line.
    pub fn send(&mut self, msg: &Value) {
        self.send_line(&msg.to_string());
    }

    /// Sends `{"id":id,"cmd":cmd, ...extra}` and returns the reply carrying that id,
    /// skipping pushed events (messages without an `id`) that arrive before it.
    pub fn request(&mut self, id: u64, cmd: &str, extra: Value, timeout: Duration) -> Value {
        let mut msg = serde_json::json!({ "id": id, "cmd": cmd });
        if let (Some(obj), Value::Object(more)) = (msg.as_object_mut(), extra) {
            obj.extend(more);
        }
        self.send(&msg);
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self.read_msg(left);
            if reply.get("id").and_then(Value::as_u64) == Some(id) {
                return reply;
            }
        }
    }

    /// The next line, parsed as JSON. Panics on timeout, EOF or invalid JSON.
    pub fn read_msg(&mut self, timeout: Duration) -> Value {
        match self.try_read_line(timeout) {
            Ok(Some(line)) => serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("the daemon sent a line that is not JSON ({e}): {line:?}")
            }),
            Ok(None) => panic!("the daemon closed the connection"),
            Err(e) => panic!("no message from the daemon: {e}"),
        }
    }

    /// Reads messages until one has `"type": ty`, returning it (others are skipped).
    pub fn read_until_type(&mut self, ty: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.read_msg(left);
            if msg.get("type").and_then(Value::as_str) == Some(ty) {
                return msg;
            }
        }
    }

    /// The next raw line without its newline: `Ok(None)` at EOF, `Err(TimedOut)` when
    /// no complete line arrived within `timeout`.
    pub fn try_read_line(&mut self, timeout: Duration) -> std::io::Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                return Ok(Some(
                    String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    format!("timed out after {timeout:?}"),
                ));
            }
            self.stream.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the daemon closed the connection within `timeout` (any data read
    /// meanwhile is discarded).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_read_line(left) {
                Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(e) if e.kind() == ErrorKind::TimedOut => return false,
                Err(_) => return true, // reset by peer
            }
        }
    }

    /// The underlying stream (e.g. to shut down one direction).
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}
