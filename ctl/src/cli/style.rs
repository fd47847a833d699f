//! How serctl shows things to people: colours (only on a terminal, never with
//! NO_COLOR), probability bars, durations, times.

use std::fmt::Display;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use owo_colors::{OwoColorize, Stream};
use ser_ctl::protocol::{DaemonState, Emotion, Probs};

/// Bold on stdout, when stdout supports colour.
pub fn bold<T: Display>(t: T) -> String {
    t.if_supports_color(Stream::Stdout, |t| t.bold())
        .to_string()
}

/// Dimmed on stdout, when stdout supports colour.
pub fn dim<T: Display>(t: T) -> String {
    t.if_supports_color(Stream::Stdout, |t| t.dimmed())
        .to_string()
}

/// An emotion's label, padded to `width`, coloured by emotion on a terminal.
pub fn emotion(e: Emotion, width: usize) -> String {
    let text = format!("{:<width$}", e.label());
    match e {
        Emotion::Neutral | Emotion::Calm => text
            .if_supports_color(Stream::Stdout, |t| t.cyan())
            .to_string(),
        Emotion::Happy | Emotion::Surprised => text
            .if_supports_color(Stream::Stdout, |t| t.green())
            .to_string(),
        Emotion::Sad | Emotion::Fearful => text
            .if_supports_color(Stream::Stdout, |t| t.blue())
            .to_string(),
        Emotion::Angry | Emotion::Disgust => text
            .if_supports_color(Stream::Stdout, |t| t.red())
            .to_string(),
    }
}

/// A daemon state, coloured on a terminal.
pub fn state(s: DaemonState) -> String {
    let text = s.label();
    match s {
        DaemonState::Listening => text
            .if_supports_color(Stream::Stdout, |t| t.green())
            .to_string(),
        DaemonState::Paused => text
            .if_supports_color(Stream::Stdout, |t| t.yellow())
            .to_string(),
        DaemonState::NoDevice | DaemonState::Stopping => text
            .if_supports_color(Stream::Stdout, |t| t.red())
            .to_string(),
    }
}

/// A percentage, `83%`.
pub fn percent(p: f32) -> String {
    format!("{:.0}%", (p * 100.0).clamp(0.0, 100.0))
}

/// A bar of `width` cells for `p` in 0..1, with eighth-cell resolution.
pub fn bar(p: f32, width: usize) -> String {
    const PARTS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    let eighths = (p.clamp(0.0, 1.0) * (width * 8) as f32).round() as usize;
    let mut s: String = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(PARTS[eighths % 8 - 1]);
    }
    let cells = s.chars().count();
    s.push_str(&" ".repeat(width.saturating_sub(cells)));
    s
}

/// The top three probabilities as small bars: `angry ███▎ 83% · sad ▍ 9% · calm ▏ 3%`.
pub fn top3(probs: &Probs) -> String {
    probs
        .ranked()
        .into_iter()
        .take(3)
        .map(|(e, p)| format!("{} {} {:>3}", e.label(), bar(p, 5), percent(p)))
        .collect::<Vec<_>>()
        .join(&dim(" · "))
}

/// A local wall-clock time, `14:02:11`.
pub fn clock(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// A local date and time, `2025-06-01 14:02:11`.
pub fn date_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A coarse, readable duration: `12 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// How long ago `t` was, relative to `now`: `12 s ago`, or `just now`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (now - t).to_std() {
        Ok(d) if d.as_secs() >= 1 => format!("{} ago", span(d)),
        _ => "just now".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(0.0, 4), "    ");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(1.0 / 32.0, 4), "▏   ");
        assert_eq!(bar(7.0, 2), "██", "clamped");
    }

    #[test]
    fn spans_are_coarse() {
        assert_eq!(span(Duration::from_secs(12)), "12 s");
        assert_eq!(span(Duration::from_secs(185)), "3 min");
        assert_eq!(span(Duration::from_secs(7200)), "2 h");
        assert_eq!(span(Duration::from_secs(7500)), "2 h 5 min");
        assert_eq!(span(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3 d 4 h");
        let now = Utc::now();
        assert_eq!(ago(now - chrono::Duration::seconds(12), now), "12 s ago");
        assert_eq!(ago(now + chrono::Duration::seconds(2), now), "just now");
    }

    #[test]
    fn top3_names_the_three_largest() {
        let p = Probs([0.05, 0.01, 0.02, 0.09, 0.80, 0.01, 0.01, 0.01]);
        let s = top3(&p);
        let a = s.find("angry").unwrap();
        let b = s.find("sad").unwrap();
        let c = s.find("neutral").unwrap();
        assert!(a < b && b < c, "{s}");
        assert!(!s.contains("happy"), "{s}");
        assert!(s.contains("80%"), "{s}");
    }
}
