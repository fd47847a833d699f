//! Request handling: parsing a line into a request, and one module per
//! command (`<cmd>.rs`), dispatched by a single `match` (as in pueue).
//!
//! Error mapping: a line that is not a JSON object (or not UTF-8) is
//! `malformed`; a missing or unknown `cmd` is `unknown_command`; a known
//! command with missing or ill-typed arguments is `invalid_argument`.

mod analyze;
mod clear_history;
mod devices;
mod history;
mod mood;
mod pause;
mod reload;
mod resume;
mod set_notifications;
mod shutdown;
mod status;
mod subscribe;

use ser_ctl::protocol::{ErrorCode, ErrorReply, Message, Request, RequestEnvelope, Topic};

use crate::core::{Core, StopReason};

/// What the connection does with a handled request.
#[derive(Debug)]
pub enum Outcome {
    Reply(Message),
    /// Start (or replace) this connection's subscription.
    Subscribe(Vec<Topic>),
    /// Reply, then stop the daemon.
    ReplyThenStop(Message, StopReason),
}

pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
    ErrorReply {
        code,
        message: message.into(),
    }
}

/// Parses one request line (without its newline) into a request. Returns the
/// request's id (when one could be read) and the request or the error reply.
/// Pure and total: any bytes give `Ok` or an error, never a panic (fuzzed by
/// `fuzz/` and `tests/tests/hardening_fuzz.rs`).
pub fn parse_line(line: &[u8]) -> (Option<u64>, Result<RequestEnvelope, ErrorReply>) {
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            let what = if std::str::from_utf8(line).is_err() {
                "request is not valid UTF-8".to_string()
            } else {
                format!("request is not valid JSON: {e}")
            };
            return (None, Err(error(ErrorCode::Malformed, what)));
        }
    };
    let Some(obj) = value.as_object() else {
        return (
            None,
            Err(error(ErrorCode::Malformed, "request must be a JSON object")),
        );
    };
    let id = obj.get("id").and_then(|v| v.as_u64());
    if obj
        .get("id")
        .is_some_and(|v| !v.is_null() && v.as_u64().is_none())
    {
        return (
            None,
            Err(error(
                ErrorCode::InvalidArgument,
                "`id` must be a non-negative integer",
            )),
        );
    }
    let cmd = match obj.get("cmd") {
        None => return (id, Err(error(ErrorCode::UnknownCommand, "missing `cmd`"))),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return (
                id,
                Err(error(ErrorCode::UnknownCommand, "`cmd` must be a string")),
            )
        }
    };
    if !Request::NAMES.contains(&cmd.as_str()) {
        return (
            id,
            Err(error(
                ErrorCode::UnknownCommand,
                format!(
                    "unknown command {cmd:?} (known: {})",
                    Request::NAMES.join(", ")
                ),
            )),
        );
    }
    match serde_json::from_value::<RequestEnvelope>(value) {
        Ok(env) => (id, Ok(env)),
        Err(e) => (
            id,
            Err(error(
                ErrorCode::InvalidArgument,
                format!("bad arguments for `{cmd}`: {e}"),
            )),
        ),
    }
}

/// Parses one request line and handles it. Returns the request's id (when
/// one could be read) and the outcome.
pub fn handle_line(core: &Core, line: &[u8]) -> (Option<u64>, Result<Outcome, ErrorReply>) {
    let (id, env) = parse_line(line);
    let env = match env {
        Ok(env) => env,
        Err(e) => return (id, Err(e)),
    };
    let cmd = env.request.name();
    if core.is_stopping() {
        return (
            id,
            Err(error(ErrorCode::ShuttingDown, "serd is shutting down")),
        );
    }
    tracing::debug!(cmd, "request");
    (id, dispatch(core, env.request))
}

fn dispatch(core: &Core, req: Request) -> Result<Outcome, ErrorReply> {
    let reply = match req {
        Request::Status => status::handle(core),
        Request::Mood => mood::handle(core),
        Request::History { since, limit } => history::handle(core, since, limit)?,
        Request::ClearHistory => clear_history::handle(core)?,
        Request::Pause => pause::handle(core),
        Request::Resume => resume::handle(core),
        Request::Subscribe { topics } => return Ok(subscribe::handle(topics)),
        Request::Devices { all } => devices::handle(core, all),
        Request::SetNotifications { enabled } => set_notifications::handle(core, enabled)?,
        Request::Analyze { path } => analyze::handle(core, &path)?,
        Request::Reload => reload::handle(core)?,
        Request::Shutdown => return Ok(shutdown::handle()),
    };
    Ok(Outcome::Reply(reply))
}
