//! `serctl devices`: the input devices serd can open.

use anyhow::{Context, Result};

use super::{exit_code, output, style, Conn};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print a JSON array of `{"name","default","in_use"}` objects.
    #[arg(long)]
    pub json: bool,
}

pub fn run(conn: &Conn, a: &Args) -> Result<u8> {
    let devices = conn
        .connect(a.json)?
        .devices()
        .context("listing input devices")?
        .devices;
    if a.json {
        output::json(&devices)?;
        return Ok(exit_code::OK);
    }
    if devices.is_empty() {
        output::line("no input devices found")?;
    }
    for d in &devices {
        let mark = if d.in_use { "*" } else { " " };
        let default = if d.default { " (default)" } else { "" };
        let name = if d.in_use {
            style::bold(&d.name)
        } else {
            d.name.clone()
        };
        output::line(format!("{mark} {name}{}", style::dim(default)))?;
    }
    Ok(exit_code::OK)
}
