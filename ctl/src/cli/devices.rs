//! `serctl devices`: the input devices serd can open.

use anyhow::{Context, Result};

use super::{exit_code, output, style, Conn};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Also list the ALSA plugins that are no capture source (rate
    /// converters, `null`, up/down-mixers, output-only PCMs).
    #[arg(long)]
    pub all: bool,
    /// Print a JSON array of `{"name","description","default","in_use"}` objects.
    #[arg(long)]
    pub json: bool,
}

pub fn run(conn: &Conn, a: &Args) -> Result<u8> {
    let devices = conn
        .connect(a.json)?
        .devices(a.all)
        .context("listing input devices")?
        .devices;
    if a.json {
        output::json(&devices)?;
        return Ok(exit_code::OK);
    }
    if devices.is_empty() {
        output::line("no input devices found")?;
    }
    // names in a column, padded before styling so the column holds in colour too
    let width = devices
        .iter()
        .map(|d| d.name.chars().count())
        .max()
        .unwrap_or(0);
    for d in &devices {
        let mark = if d.in_use { "*" } else { " " };
        let padded = format!("{:width$}", d.name);
        let name = if d.in_use {
            style::bold(&padded)
        } else {
            padded
        };
        let mut about = d.description.clone().unwrap_or_default();
        if d.default {
            about = if about.is_empty() {
                "(default)".into()
            } else {
                format!("{about} (default)")
            };
        }
        let line = format!("{mark} {name}  {}", style::dim(&about));
        output::line(line.trim_end())?;
    }
    Ok(exit_code::OK)
}
