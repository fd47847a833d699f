//! `serctl completions` and `serctl man`: generated from the same clap
//! definitions as the parser, so they never drift from it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use super::{exit_code, Cli};

#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ManArgs {
    /// Write serctl.1 and serctl-COMMAND.1 pages into this directory
    /// (created if missing) instead of printing serctl.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn completions(a: &CompletionsArgs) -> Result<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "serctl", &mut buf);
    super::output::raw(&buf)?;
    Ok(exit_code::OK)
}

pub fn man(a: &ManArgs) -> Result<u8> {
    let cmd = Cli::command();
    match &a.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            eprintln!("serctl: manual pages written to {}", dir.display());
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .context("rendering the manual page")?;
            super::output::raw(&buf)?;
        }
    }
    Ok(exit_code::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_command() {
        let dir = tempfile::tempdir().unwrap();
        man(&ManArgs {
            out: Some(dir.path().join("man1")),
        })
        .unwrap();
        let main = std::fs::read_to_string(dir.path().join("man1/serctl.1")).unwrap();
        assert!(main.contains("EXIT STATUS"), "exit codes in the man page");
        for sub in ["status", "mood", "watch", "analyze", "autostart"] {
            let page = dir.path().join(format!("man1/serctl-{sub}.1"));
            assert!(page.exists(), "{} missing", page.display());
        }
    }

    #[test]
    fn completions_name_the_commands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "serctl", &mut buf);
            let text = String::from_utf8(buf).unwrap();
            assert!(text.contains("autostart"), "{shell}: {text}");
            assert!(text.contains("analyze"), "{shell}");
        }
    }
}
