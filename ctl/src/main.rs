//! `serctl`: the command-line client of serd, and an offline analyser.
//!
//! Errors are printed as one line, `serctl: {error:#}`, and mapped to the
//! exit codes of [`cli::exit_code`]. A closed stdout (`serctl ... | head`)
//! ends the program quietly with status 0.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::from(cli::exit_code::OK),
        Err(e) => {
            eprintln!("serctl: {e:#}");
            ExitCode::from(cli::exit_code_for(&e))
        }
    }
}
