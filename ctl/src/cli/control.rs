//! `pause`, `resume`, `stop`, `reload`, `notifications`: one request each.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ser_ctl::protocol::Ack;

use super::{exit_code, output, Conn};

/// Options shared by the one-shot control commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct JsonArgs {
    /// Print the daemon's reply as JSON (`{"message":...,"state":...}`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct NotificationsArgs {
    /// `on` or `off`; without it, print the current setting.
    #[arg(value_parser = ["on", "off"])]
    pub setting: Option<String>,

    /// Print JSON: `{"notifications":true}`.
    #[arg(long)]
    pub json: bool,
}

fn show(ack: &Ack, json: bool) -> Result<u8> {
    if json {
        output::json(ack)?;
    } else {
        output::line(format!("serd: {}", ack.message))?;
    }
    Ok(exit_code::OK)
}

pub fn pause(conn: &Conn, a: &JsonArgs) -> Result<u8> {
    let ack = conn.connect(a.json)?.pause().context("pausing serd")?;
    show(&ack, a.json)
}

pub fn resume(conn: &Conn, a: &JsonArgs) -> Result<u8> {
    let ack = conn.connect(a.json)?.resume().context("resuming serd")?;
    show(&ack, a.json)
}

pub fn reload(conn: &Conn, a: &JsonArgs) -> Result<u8> {
    let ack = conn
        .connect(a.json)?
        .reload()
        .context("reloading the configuration")?;
    show(&ack, a.json)
}

/// Asks serd to exit, then waits (up to the timeout) until it no longer accepts connections.
pub fn stop(conn: &Conn, a: &JsonArgs) -> Result<u8> {
    let ack = conn.connect(a.json)?.shutdown().context("stopping serd")?;
    let deadline = Instant::now() + conn.timeout;
    loop {
        match conn.connect(true) {
            Err(e) if e.is_unreachable() => break,
            _ if Instant::now() >= deadline => {
                eprintln!(
                    "serctl: serd accepted the request but still answers after {}",
                    super::style::span(conn.timeout)
                );
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    if a.json {
        output::json(&ack)?;
    } else {
        output::line("serd: stopped")?;
    }
    Ok(exit_code::OK)
}

pub fn notifications(conn: &Conn, a: &NotificationsArgs) -> Result<u8> {
    let mut client = conn.connect(a.json)?;
    let enabled = match a.setting.as_deref() {
        Some(s) => {
            let on = s == "on";
            client
                .set_notifications(on)
                .context("changing the notification setting")?;
            on
        }
        None => {
            client
                .status()
                .context("asking serd for its status")?
                .notifications
        }
    };
    if a.json {
        output::json(&serde_json::json!({ "notifications": enabled }))?;
    } else {
        output::line(if enabled { "on" } else { "off" })?;
    }
    Ok(exit_code::OK)
}
