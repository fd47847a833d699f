//! `serd`'s command line.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::audio::file::Pace;

/// serd: the ser speech-emotion daemon.
#[derive(Debug, Parser)]
#[command(
    name = "serd",
    version,
    about = "Listen to the microphone and recognise the emotion in speech, live.",
    long_about = "serd listens to the microphone, cuts the audio into utterances with a voice \
activity detector, classifies each one into one of eight emotions (neutral, calm, happy, sad, \
angry, fearful, disgust, surprised) and publishes the results on a local socket (read them \
with `serctl`), in the tray and as desktop notifications. No audio is ever written to disk.\n\n\
serd runs in the foreground and logs to stderr (set RUST_LOG or use -v), which suits a \
systemd user service. It stops cleanly on SIGTERM or SIGINT after finishing the utterance in \
hand, and re-reads its configuration on SIGHUP.",
    after_long_help = "FILES:\n  \
  config   $XDG_CONFIG_HOME/ser/config.toml (see --print-config)\n  \
  socket   $SER_SOCKET, else $XDG_RUNTIME_DIR/ser/serd.sock, else /tmp/ser-$UID/serd.sock\n  \
  history  $XDG_DATA_HOME/ser/history.jsonl\n\n\
EXIT STATUS:\n  \
  0  stopped cleanly (signal, `serctl shutdown`, tray Quit, end of --exit-after-input)\n  \
  1  fatal error (socket, model, unreadable input file)\n  \
  2  another serd is already running for this socket\n  \
  3  the configuration file is invalid\n\n\
EXAMPLES:\n  \
  serd                                   listen to the default microphone\n  \
  serd --device 'pulse'                  listen to a named device (see `serctl devices`)\n  \
  serd --input file:talk.wav --no-tray   run the live pipeline on a recording\n  \
  serd --print-config > ~/.config/ser/config.toml"
)]
pub struct Cli {
    /// Capture from this input device instead of the system default.
    ///
    /// Use a name as listed by `serctl devices`. Overrides `[audio] device`.
    #[arg(long, value_name = "NAME", conflicts_with = "input")]
    pub device: Option<String>,

    /// Read audio from a file instead of a device: `file:PATH`.
    ///
    /// The file (WAV, FLAC, MP3, OGG...) goes through exactly the live
    /// pipeline (ring, resampler, voice detection, classifier). When it ends
    /// the daemon keeps running, idle, unless --exit-after-input is given.
    #[arg(long, value_name = "file:PATH", value_parser = parse_input)]
    pub input: Option<PathBuf>,

    /// How fast --input is fed: `realtime` (like a microphone) or `max`.
    #[arg(long, value_enum, default_value_t = Pace::Realtime, requires = "input")]
    pub pace: Pace,

    /// Exit (status 0) once the --input file has been fully processed.
    #[arg(long, requires = "input")]
    pub exit_after_input: bool,

    /// Do not show a tray icon.
    #[arg(long)]
    pub no_tray: bool,

    /// Do not show desktop notifications (can be turned on later with `serctl notify on`).
    #[arg(long)]
    pub no_notify: bool,

    /// Read the configuration from PATH instead of $XDG_CONFIG_HOME/ser/config.toml.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Use this ONNX model instead of the embedded one. Overrides `[model] path`.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// Print the effective configuration (defaults included) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,

    /// More log output (-v: debug, -vv: trace). RUST_LOG takes precedence.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

fn parse_input(s: &str) -> Result<PathBuf, String> {
    match s.strip_prefix("file:") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(format!("expected file:PATH, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn input_needs_the_file_prefix() {
        let c = Cli::try_parse_from([
            "serd",
            "--input",
            "file:/x.wav",
            "--pace",
            "max",
            "--exit-after-input",
        ])
        .unwrap();
        assert_eq!(c.input, Some(PathBuf::from("/x.wav")));
        assert_eq!(c.pace, Pace::Max);
        assert!(Cli::try_parse_from(["serd", "--input", "/x.wav"]).is_err());
        assert!(Cli::try_parse_from(["serd", "--exit-after-input"]).is_err());
    }
}
