//! The `serctl` command line: definitions (clap derive) and dispatch. One
//! module per command; shared output helpers in [`style`] and [`output`].

pub mod analyze;
pub mod autostart;
pub mod control;
pub mod devices;
pub mod exit_code;
pub mod generate;
pub mod history;
pub mod mood;
pub mod output;
pub mod status;
pub mod style;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use ser_ctl::client::{Client, ClientOptions};
use ser_ctl::PROTOCOL_VERSION;

/// Control serd, the speech-emotion daemon, and analyse audio files offline.
///
/// Without a command, serctl shows the daemon's status. Every command that
/// talks to serd finds its socket at $SER_SOCKET, else
/// $XDG_RUNTIME_DIR/ser/serd.sock, else /tmp/ser-$UID/serd.sock (or --socket).
/// `serctl analyze` needs no daemon.
///
/// EXAMPLES:
///   serctl                        is serd running, and what is it doing?
///   serctl mood                   the current mood: 😠 angry 83% (12 s ago)
///   serctl watch                  one line per utterance, as it is heard
///   serctl history --since 2h     what was heard in the last two hours
///   serctl analyze clips/         classify audio files, no daemon needed
///   serctl autostart enable       start serd with the desktop session
#[derive(Debug, Parser)]
#[command(
    name = "serctl",
    version,
    verbatim_doc_comment,
    propagate_version = true,
    after_help = exit_code::TABLE,
    after_long_help = exit_code::TABLE
)]
pub struct Cli {
    /// Talk to the daemon on this socket instead of the default one.
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Give up on serd after this long without a reply (e.g. 500ms, 10s).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show whether serd runs and what it is doing (the default command).
    ///
    /// Shows the state (listening, paused, no_device), the input device, the
    /// model version, the uptime, how many utterances were classified, audio
    /// overruns, and connected clients. Exits with 3 when serd is not running.
    ///
    /// EXAMPLES:
    ///   serctl status
    ///   serctl status --json | jq .state
    #[command(verbatim_doc_comment)]
    Status(status::Args),

    /// Print the current mood: emoji, emotion, confidence, how long ago.
    ///
    /// The mood is a decaying, confidence-weighted average of recent
    /// utterances. When nothing was heard yet, or only long ago, serctl says so
    /// instead of guessing. Fast: one connection, one request (for status bars).
    ///
    /// EXAMPLES:
    ///   serctl mood                   😠 angry 83% (12 s ago)
    ///   serctl mood --json | jq -r .emotion
    ///   serctl mood --quiet || echo "no mood"
    #[command(verbatim_doc_comment)]
    Mood(mood::Args),

    /// Follow the daemon: one line per utterance as it is classified.
    ///
    /// Each line shows the local time, the emotion and its confidence, and
    /// bars for the three most likely emotions. State changes (paused, no
    /// device) are shown too. When serd stops or restarts, watch says so on
    /// stderr and reconnects, with a growing delay, until it is back.
    ///
    /// EXAMPLES:
    ///   serctl watch
    ///   serctl watch --topics utterance,mood,state
    ///   serctl watch --json | jq -c 'select(.type=="utterance") | .data.emotion'
    #[command(verbatim_doc_comment)]
    Watch(watch::Args),

    /// Show past utterances and the share of each emotion over that span.
    ///
    /// History is kept by serd on disk, so it spans daemon restarts.
    ///
    /// EXAMPLES:
    ///   serctl history                     the last 20 utterances
    ///   serctl history --since 2h          everything in the last two hours
    ///   serctl history --since 2025-06-01T09:00:00Z --limit 100
    ///   serctl history --json > history.jsonl
    ///   serctl history --clear
    #[command(verbatim_doc_comment)]
    History(history::Args),

    /// Pause listening: the microphone is closed until `serctl resume`.
    ///
    /// EXAMPLES:
    ///   serctl pause
    #[command(verbatim_doc_comment)]
    Pause(control::JsonArgs),

    /// Resume listening after `serctl pause`.
    ///
    /// EXAMPLES:
    ///   serctl resume
    #[command(verbatim_doc_comment)]
    Resume(control::JsonArgs),

    /// Stop the daemon, and wait until it is gone.
    ///
    /// serd finishes the utterance in hand, tells its subscribers, and exits.
    ///
    /// EXAMPLES:
    ///   serctl stop
    #[command(verbatim_doc_comment)]
    Stop(control::JsonArgs),

    /// Make serd re-read its configuration file.
    ///
    /// An invalid file is refused (exit status 4) and the old configuration
    /// stays in effect.
    ///
    /// EXAMPLES:
    ///   $EDITOR ~/.config/ser/config.toml && serctl reload
    #[command(verbatim_doc_comment)]
    Reload(control::JsonArgs),

    /// Turn desktop notifications on or off (until serd restarts), or show the setting.
    ///
    /// `on` is refused (exit status 4) when serd runs without a desktop
    /// session: no display, or started with --no-tray --no-notify.
    ///
    /// EXAMPLES:
    ///   serctl notifications off
    ///   serctl notifications          prints "on" or "off"
    #[command(alias = "notify", verbatim_doc_comment)]
    Notifications(control::NotificationsArgs),

    /// List the input devices serd can capture from; `*` marks the one in use.
    ///
    /// The first column is the name `serd --device NAME` and `[audio] device`
    /// take (for ALSA, the PCM name: default, pulse, sysdefault:CARD=...),
    /// the second what the sound system calls it. ALSA plugins that are no
    /// capture source (rate converters, null, up/down-mixers, output-only
    /// PCMs) are left out; --all lists them too.
    ///
    /// EXAMPLES:
    ///   serctl devices
    ///   serctl devices --all
    ///   serctl devices --json | jq -r '.[] | select(.in_use) | .name'
    #[command(verbatim_doc_comment)]
    Devices(devices::Args),

    /// Classify audio files offline (no daemon needed).
    ///
    /// Directories are searched recursively for audio files (wav, flac, mp3,
    /// ogg, oga); files named explicitly are tried whatever their extension.
    /// Each file is decoded, cut into utterances by the voice detector, and
    /// each utterance classified; the whole-file verdict is the
    /// duration-weighted mean. Files with no speech get no emotion, never a
    /// guess. Files are analysed in parallel on all cores.
    ///
    /// Bad files are reported on stderr (`serctl: PATH: problem`), the others
    /// are still analysed, and the exit status is 1.
    ///
    /// With --json, one JSON object per file and per line (JSON Lines); the
    /// schema is the `FileReport` of PROTOCOL.md.
    ///
    /// EXAMPLES:
    ///   serctl analyze clip.wav
    ///   serctl analyze --json recordings/ > report.jsonl
    ///   serctl analyze --model my.onnx --jobs 2 a.flac b.mp3
    #[command(verbatim_doc_comment)]
    Analyze(analyze::Args),

    /// Start serd with the desktop session (systemd user unit or XDG autostart).
    ///
    /// Uses a systemd user unit when systemd user sessions are available,
    /// else an XDG autostart entry. The unit's ExecStart points at the serd
    /// found next to serctl, else on PATH. `status` also checks that it still
    /// points at an existing serd.
    ///
    /// EXAMPLES:
    ///   serctl autostart enable
    ///   serctl autostart status
    ///   serctl autostart disable
    ///   serctl autostart enable --mechanism xdg
    #[command(verbatim_doc_comment)]
    Autostart(autostart::Args),

    /// Print a shell completion script.
    ///
    /// EXAMPLES:
    ///   serctl completions bash > ~/.local/share/bash-completion/completions/serctl
    ///   serctl completions zsh > ~/.zfunc/_serctl
    ///   serctl completions fish > ~/.config/fish/completions/serctl.fish
    #[command(verbatim_doc_comment)]
    Completions(generate::CompletionsArgs),

    /// Write manual pages: serctl.1 and one page per command.
    ///
    /// Without --out, prints serctl.1 to stdout.
    ///
    /// EXAMPLES:
    ///   serctl man | man -l -
    ///   serctl man --out ~/.local/share/man/man1
    #[command(verbatim_doc_comment)]
    Man(generate::ManArgs),
}

/// Parses `500ms`, `10s`, `2min`... (humantime).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 10s, 2min)"))
}

/// Global connection settings, shared by every command that talks to serd.
#[derive(Debug, Clone)]
pub struct Conn {
    pub socket: PathBuf,
    pub timeout: Duration,
}

impl Conn {
    pub fn from_cli(cli: &Cli) -> Conn {
        Conn {
            socket: cli
                .socket
                .clone()
                .unwrap_or_else(ser_ctl::paths::socket_path),
            timeout: cli.timeout,
        }
    }

    /// Connects, warning on stderr about a protocol mismatch unless `quiet`.
    pub fn connect(&self, quiet: bool) -> Result<Client, ser_ctl::Error> {
        let client = ClientOptions::default()
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .read_timeout(Some(self.timeout))
            .write_timeout(Some(self.timeout))
            .connect_to(&self.socket)?;
        if !quiet && !client.protocol_matches() {
            eprintln!(
                "serctl: warning: serd speaks protocol {}, serctl protocol {PROTOCOL_VERSION}; \
                 some commands may fail (update serctl or serd)",
                client.hello().protocol
            );
        }
        Ok(client)
    }
}

/// Runs the parsed command line; returns the exit status.
pub fn run(cli: Cli) -> Result<u8> {
    let conn = Conn::from_cli(&cli);
    match cli.command {
        None => status::run(&conn, &status::Args::default()),
        Some(Command::Status(a)) => status::run(&conn, &a),
        Some(Command::Mood(a)) => mood::run(&conn, &a),
        Some(Command::Watch(a)) => watch::run(&conn, &a),
        Some(Command::History(a)) => history::run(&conn, &a),
        Some(Command::Pause(a)) => control::pause(&conn, &a),
        Some(Command::Resume(a)) => control::resume(&conn, &a),
        Some(Command::Stop(a)) => control::stop(&conn, &a),
        Some(Command::Reload(a)) => control::reload(&conn, &a),
        Some(Command::Notifications(a)) => control::notifications(&conn, &a),
        Some(Command::Devices(a)) => devices::run(&conn, &a),
        Some(Command::Analyze(a)) => analyze::run(&a),
        Some(Command::Autostart(a)) => autostart::run(&a),
        Some(Command::Completions(a)) => generate::completions(&a),
        Some(Command::Man(a)) => generate::man(&a),
    }
}

/// The exit status for an error that ended the program.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ser_ctl::Error>() {
            if e.daemon_code().is_some() {
                return exit_code::DAEMON_ERROR;
            }
            if e.is_unreachable() {
                return exit_code::DAEMON_UNREACHABLE;
            }
        }
    }
    exit_code::ERROR
}

/// True when the error is a closed stdout (`serctl ... | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_status() {
        let cli = Cli::try_parse_from(["serctl"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.timeout, Duration::from_secs(10));
    }

    #[test]
    fn help_states_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("EXIT STATUS"), "{help}");
        assert!(help.contains("3  serd is not reachable"), "{help}");
    }

    #[test]
    fn every_command_has_examples_in_its_long_help() {
        let mut cmd = Cli::command();
        cmd.build();
        for sub in cmd.get_subcommands_mut() {
            let name = sub.get_name().to_string();
            if name == "help" {
                continue;
            }
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains("EXAMPLES:"),
                "`serctl {name} --help` has no examples"
            );
        }
    }

    #[test]
    fn global_options_parse_after_the_command() {
        let cli = Cli::try_parse_from([
            "serctl",
            "mood",
            "--socket",
            "/tmp/x.sock",
            "--timeout",
            "500ms",
        ])
        .unwrap();
        assert_eq!(
            cli.socket.as_deref(),
            Some(std::path::Path::new("/tmp/x.sock"))
        );
        assert_eq!(cli.timeout, Duration::from_millis(500));
        assert!(Cli::try_parse_from(["serctl", "--timeout", "soon"]).is_err());
    }

    #[test]
    fn notify_is_an_alias() {
        let cli = Cli::try_parse_from(["serctl", "notify", "off"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Notifications(_))));
    }

    #[test]
    fn exit_codes_follow_the_error() {
        let unreachable = anyhow::Error::new(ser_ctl::Error::NotRunning {
            socket: "/x".into(),
        })
        .context("asking serd for the mood");
        assert_eq!(exit_code_for(&unreachable), exit_code::DAEMON_UNREACHABLE);
        let refused = anyhow::Error::new(ser_ctl::Error::Daemon {
            command: "reload".into(),
            code: ser_ctl::protocol::ErrorCode::InvalidConfig,
            message: "bad".into(),
        });
        assert_eq!(exit_code_for(&refused), exit_code::DAEMON_ERROR);
        assert_eq!(exit_code_for(&anyhow::anyhow!("other")), exit_code::ERROR);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing");
        assert!(is_broken_pipe(&pipe));
    }
}
