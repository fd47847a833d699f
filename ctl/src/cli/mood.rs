//! `serctl mood`: the current mood, in one line.

use anyhow::{Context, Result};
use chrono::Utc;
use ser_ctl::protocol::{Mood, MoodStatus};

use super::{exit_code, output, style, Conn};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print the daemon's mood object as JSON (PROTOCOL.md, `mood`).
    #[arg(long)]
    pub json: bool,

    /// On failure print nothing (the exit status still says what happened).
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(conn: &Conn, a: &Args) -> Result<u8> {
    let mood = match conn.connect(a.json || a.quiet).and_then(|mut c| c.mood()) {
        Ok(m) => m,
        Err(e) if a.quiet => {
            return Ok(super::exit_code_for(&anyhow::Error::new(e)));
        }
        Err(e) => return Err(e).context("asking serd for the mood"),
    };
    if a.json {
        output::json(&mood)?;
    } else {
        output::line(describe(&mood))?;
    }
    Ok(exit_code::OK)
}

/// `😠 angry 83% (12 s ago)`, or an honest "no speech heard ..." line.
pub fn describe(m: &Mood) -> String {
    let now = Utc::now();
    match (m.status, m.emotion, m.confidence) {
        (MoodStatus::Current, Some(e), Some(c)) => {
            let when = m
                .last_heard
                .map(|t| format!(" ({})", style::ago(t, now)))
                .unwrap_or_default();
            format!(
                "{} {} {}{when}",
                e.emoji(),
                style::emotion(e, 0),
                style::percent(c)
            )
        }
        (MoodStatus::NoSpeechYet, ..) => "no speech heard yet".into(),
        _ => match m.last_heard {
            Some(t) => format!("no speech heard recently (last {})", style::ago(t, now)),
            None => "no speech heard recently".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ser_ctl::protocol::{Emotion, Probs};

    fn mood(status: MoodStatus, emotion: Option<Emotion>, ago_s: i64) -> Mood {
        let now = Utc::now();
        Mood {
            status,
            emotion,
            emoji: emotion.map(|e| e.emoji().to_string()),
            confidence: emotion.map(|_| 0.83),
            probs: emotion.map(|_| Probs([0.02, 0.01, 0.03, 0.02, 0.83, 0.04, 0.03, 0.02])),
            last_heard: (ago_s >= 0).then(|| now - chrono::Duration::seconds(ago_s)),
            utterances: 3,
            half_life_s: 30.0,
            at: now,
        }
    }

    #[test]
    fn a_current_mood_reads_like_the_docs() {
        let s = describe(&mood(MoodStatus::Current, Some(Emotion::Angry), 12));
        assert!(s.starts_with("😠 "), "{s}");
        assert!(s.contains("angry"), "{s}");
        assert!(s.ends_with("83% (12 s ago)"), "{s}");
    }

    #[test]
    fn no_speech_is_said_not_guessed() {
        assert_eq!(
            describe(&mood(MoodStatus::NoSpeechYet, None, -1)),
            "no speech heard yet"
        );
        let s = describe(&mood(MoodStatus::Stale, None, 7200));
        assert_eq!(s, "no speech heard recently (last 2 h ago)");
    }
}
