//! `serctl status` (and `serctl` alone): is serd running, and what is it doing?

use std::path::PathBuf;

use anyhow::{Context, Result};
use ser_ctl::protocol::Status;
use serde::Serialize;

use super::{exit_code, output, style, Conn};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print JSON: `{"running":true,"socket":...}` plus the daemon's status
    /// fields (PROTOCOL.md, `status`); `{"running":false,...}` when serd is
    /// not running.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    running: bool,
    socket: &'a PathBuf,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    status: Option<&'a Status>,
}

pub fn run(conn: &Conn, a: &Args) -> Result<u8> {
    let status = match conn.connect(a.json).and_then(|mut c| c.status()) {
        Ok(s) => s,
        Err(e) if e.is_unreachable() && a.json => {
            output::json(&StatusJson {
                running: false,
                socket: &conn.socket,
                status: None,
            })?;
            return Ok(exit_code::DAEMON_UNREACHABLE);
        }
        Err(e) => return Err(e).context("asking serd for its status"),
    };
    if a.json {
        output::json(&StatusJson {
            running: true,
            socket: &conn.socket,
            status: Some(&status),
        })?;
        return Ok(exit_code::OK);
    }
    let s = &status;
    output::line(format!(
        "serd {} (pid {}): {}",
        s.daemon,
        s.pid,
        style::bold(style::state(s.state))
    ))?;
    let device = match (&s.device, &s.device_error) {
        (Some(d), _) => d.clone(),
        (None, Some(err)) => format!("none ({err})"),
        (None, None) => "none".into(),
    };
    let on = |b: bool| if b { "on" } else { "off" };
    let rows = [
        ("device", device),
        ("model", s.model.clone()),
        (
            "uptime",
            format!(
                "{} (since {})",
                style::span(std::time::Duration::from_secs_f64(s.uptime_s.max(0.0))),
                style::date_time(s.started)
            ),
        ),
        ("utterances", s.utterances.to_string()),
        ("overruns", s.overruns.to_string()),
        (
            "clients",
            format!("{} ({} subscribed)", s.clients, s.subscribers),
        ),
        ("notifications", on(s.notifications).into()),
        ("tray", on(s.tray).into()),
        ("history", s.history_path.display().to_string()),
        ("socket", conn.socket.display().to_string()),
    ];
    for (k, v) in rows {
        output::line(format!("  {:<14}{v}", style::dim(format!("{k}:"))))?;
    }
    Ok(exit_code::OK)
}
