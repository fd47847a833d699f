//! `serctl history`: past utterances and the share of each emotion.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use ser_ctl::protocol::{Emotion, Utterance};

use super::{exit_code, output, style, watch, Conn};

/// How many utterances are shown when neither --since nor --limit is given.
pub const DEFAULT_LIMIT: usize = 20;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Only utterances since this long ago (`2h`, `30min`, `1day`) or this
    /// instant (RFC 3339, e.g. 2025-06-01T09:00:00Z).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,

    /// At most this many (the newest). Default: 20 without --since, else all.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Print one utterance object per line (JSON Lines, PROTOCOL.md `utterance`).
    #[arg(long)]
    pub json: bool,

    /// Delete the stored history instead of showing it (the current mood is
    /// forgotten with it: `serctl mood` then says no speech heard yet).
    #[arg(long, conflicts_with_all = ["since", "limit"])]
    pub clear: bool,
}

/// `2h` (that long ago) or an RFC 3339 instant.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    match humantime::parse_duration(s.trim()) {
        Ok(d) => chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| Utc::now().checked_sub_signed(d))
            .ok_or_else(|| format!("{s:?} is too long ago")),
        Err(_) => Err(format!(
            "{s:?} is neither a duration (2h, 30min, 1day) nor an RFC 3339 time (2025-06-01T09:00:00Z)"
        )),
    }
}

pub fn run(conn: &Conn, a: &Args) -> Result<u8> {
    let mut client = conn.connect(a.json)?;
    if a.clear {
        let ack = client.clear_history().context("clearing the history")?;
        if a.json {
            output::json(&ack)?;
        } else {
            output::line(format!("serd: {}", ack.message))?;
        }
        return Ok(exit_code::OK);
    }
    let limit = match (a.since, a.limit) {
        (None, None) => Some(DEFAULT_LIMIT),
        (_, l) => l,
    };
    let history = client
        .history(a.since, limit)
        .context("reading the history")?;
    if a.json {
        for u in &history.entries {
            output::json(u)?;
        }
        return Ok(exit_code::OK);
    }
    if history.entries.is_empty() {
        output::line(match a.since {
            Some(t) => format!("nothing heard since {}", style::date_time(t)),
            None => "nothing heard yet".to_string(),
        })?;
        return Ok(exit_code::OK);
    }
    for u in &history.entries {
        output::line(watch::utterance_line(u))?;
    }
    output::line(summary(&history.entries, history.truncated))?;
    Ok(exit_code::OK)
}

/// Each emotion's share of the speaking time over the entries, largest first.
pub fn shares(entries: &[Utterance]) -> Vec<(Emotion, f64)> {
    let mut time = [0.0f64; 8];
    for u in entries {
        time[u.emotion.index()] += u.duration_s.max(0.0);
    }
    let total: f64 = time.iter().sum();
    let mut v: Vec<_> = Emotion::ALL
        .into_iter()
        .filter(|e| time[e.index()] > 0.0)
        .map(|e| (e, time[e.index()] / total))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// `42 utterances, 09:00 to 10:58 (1 h 58 min): 😐 neutral 42% · 😄 happy 25%`
pub fn summary(entries: &[Utterance], truncated: bool) -> String {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return String::new();
    };
    let end = last.start + chrono::Duration::milliseconds((last.duration_s * 1000.0) as i64);
    let span = (end - first.start).to_std().unwrap_or_default();
    let shares = shares(entries)
        .into_iter()
        .map(|(e, s)| format!("{} {} {}", e.emoji(), e.label(), style::percent(s as f32)))
        .collect::<Vec<_>>()
        .join(" · ");
    format!(
        "{} utterance{}{}, {} to {} ({}): {}",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        if truncated { " (the newest)" } else { "" },
        style::date_time(first.start),
        style::clock(end),
        style::span(span),
        shares
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ser_ctl::protocol::Probs;

    fn u(emotion: Emotion, duration_s: f64, at_s: i64) -> Utterance {
        Utterance {
            seq: 1,
            start: DateTime::<Utc>::from_timestamp(1_750_000_000 + at_s, 0).unwrap(),
            duration_s,
            emotion,
            emoji: emotion.emoji().into(),
            confidence: 0.5,
            probs: Probs::default(),
            model: "m".into(),
        }
    }

    #[test]
    fn shares_are_by_speaking_time() {
        let e = [
            u(Emotion::Happy, 3.0, 0),
            u(Emotion::Sad, 1.0, 10),
            u(Emotion::Happy, 1.0, 20),
        ];
        let s = shares(&e);
        assert_eq!(s[0].0, Emotion::Happy);
        assert!((s[0].1 - 0.8).abs() < 1e-9);
        assert_eq!(s[1].0, Emotion::Sad);
        assert_eq!(s.len(), 2);
        let line = summary(&e, false);
        assert!(line.starts_with("3 utterances, "), "{line}");
        assert!(line.contains("(21 s)"), "{line}");
        assert!(line.ends_with("😄 happy 80% · 😢 sad 20%"), "{line}");
    }

    #[test]
    fn since_takes_durations_and_instants() {
        let t = parse_since("2025-06-01T09:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-06-01T09:00:00+00:00");
        let ago = Utc::now() - parse_since("2h").unwrap();
        assert!((ago.num_seconds() - 7200).abs() <= 5);
        let err = parse_since("yesterday-ish").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
