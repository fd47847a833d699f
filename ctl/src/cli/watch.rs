//! `serctl watch`: follow the daemon's events, reconnecting across restarts.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use ser_ctl::client::{Client, Event};
use ser_ctl::protocol::{DaemonState, StateChange, Topic, Utterance};

use super::{mood, output, style, Conn};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print each event line exactly as serd sends it (JSON Lines, see PROTOCOL.md).
    #[arg(long)]
    pub json: bool,

    /// Which events to follow: utterance, mood, state (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_topic,
        default_value = "utterance,state",
        value_name = "TOPICS"
    )]
    pub topics: Vec<Topic>,
}

fn parse_topic(s: &str) -> Result<Topic, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase()))
        .map_err(|_| format!("unknown topic {s:?} (expected utterance, mood or state)"))
}

/// The first delay before reconnecting, and the longest.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub fn run(conn: &Conn, a: &Args) -> Result<u8> {
    // Not running at the start is an error (exit 3); later, we wait for it.
    let mut client = conn.connect(a.json)?;
    loop {
        follow(client, a)?;
        eprintln!("serctl: serd went away; reconnecting…");
        client = reconnect(conn, a.json);
        eprintln!("serctl: reconnected to serd (pid {})", client.hello().pid);
    }
}

/// Prints events until the connection ends; errors other than a lost
/// connection end the program.
fn follow(client: Client, a: &Args) -> Result<()> {
    let mut sub = match client.subscribe(&a.topics) {
        Ok(s) => s,
        Err(e) if e.is_connection_lost() => return Ok(()),
        Err(e) => return Err(e).context("subscribing to events"),
    };
    loop {
        match sub.next_raw() {
            Ok(Some(raw)) if a.json => output::line(&raw.line)?,
            Ok(Some(raw)) => show(&raw.event)?,
            Ok(None) => return Ok(()),
            Err(e) if e.is_connection_lost() => return Ok(()),
            Err(e) => return Err(e).context("reading events"),
        }
    }
}

fn reconnect(conn: &Conn, quiet: bool) -> Client {
    let mut delay = BACKOFF_START;
    loop {
        std::thread::sleep(delay);
        if let Ok(c) = conn.connect(quiet) {
            return c;
        }
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

fn show(event: &Event) -> Result<()> {
    match event {
        Event::Utterance(u) => output::line(utterance_line(u)),
        Event::Mood(m) => output::line(format!(
            "{}  mood: {}",
            style::dim(style::clock(m.at)),
            mood::describe(m)
        )),
        Event::State(s) => output::line(state_line(s)),
        Event::Lagged(l) => {
            eprintln!(
                "serctl: missed {} utterance(s): this terminal did not keep up",
                l.dropped
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `14:02:11  😠 angry      83%  angry █████ 83% · sad ▌ 9% · calm ▏ 3%`
pub fn utterance_line(u: &Utterance) -> String {
    format!(
        "{}  {} {} {:>4}  {}",
        style::dim(style::clock(u.start)),
        u.emotion.emoji(),
        style::emotion(u.emotion, 9),
        style::percent(u.confidence),
        style::top3(&u.probs)
    )
}

fn state_line(s: &StateChange) -> String {
    let what = match (s.state, &s.device) {
        (DaemonState::Listening, Some(d)) => format!("listening on {d}"),
        (DaemonState::NoDevice, _) => "no input device".to_string(),
        (state, _) => state.label().to_string(),
    };
    let why = s
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "{}  {}{}",
        style::dim(style::clock(s.at.min(Utc::now()))),
        style::bold(what),
        why
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn topics_parse_as_a_comma_list() {
        let cli = super::super::Cli::try_parse_from(["serctl", "watch", "--topics", "mood,State"])
            .unwrap();
        match cli.command {
            Some(super::super::Command::Watch(a)) => {
                assert_eq!(a.topics, vec![Topic::Mood, Topic::State])
            }
            other => panic!("{other:?}"),
        }
        assert!(
            super::super::Cli::try_parse_from(["serctl", "watch", "--topics", "weather"]).is_err()
        );
    }
}
