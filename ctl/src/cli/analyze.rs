//! `serctl analyze`: classify audio files offline, in parallel, without the daemon.

use std::path::PathBuf;

use anyhow::{bail, Result};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Audio files and directories (searched recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print one JSON report per file and per line (JSON Lines).
    #[arg(long)]
    pub json: bool,

    /// Use this ONNX model instead of the embedded one.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// Analyse this many files at once (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
}

pub fn run(_a: &Args) -> Result<u8> {
    bail!("analyze is not available in this build yet")
}
