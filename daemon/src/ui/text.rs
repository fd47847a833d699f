//! Every word the tray and the notifications show, in one place.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use ser_ctl::protocol::{DaemonState, Mood, MoodStatus, Utterance};

use super::policy::Notice;

/// "12 s", "4 min", "2 h", "3 d".
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

fn percent(p: f32) -> String {
    format!("{:.0}%", (p * 100.0).clamp(0.0, 100.0))
}

/// The tray's title / tooltip: "😠 Angry, 83% (12 s ago)", or the state in words.
pub fn title(state: DaemonState, mood: Option<&Mood>, now: DateTime<Utc>) -> String {
    match state {
        DaemonState::Paused => return "ser: paused".into(),
        DaemonState::NoDevice => return "ser: no microphone".into(),
        DaemonState::Stopping => return "ser: stopping".into(),
        DaemonState::Listening => {}
    }
    let Some(mood) = mood else {
        return "ser: listening, no speech heard yet".into();
    };
    match (mood.status, mood.emotion, mood.confidence) {
        (MoodStatus::Current, Some(e), Some(c)) => {
            let mut s = format!("{} {}, {}", e.emoji(), e.title(), percent(c));
            if let Some(ago) = ago(mood.last_heard, now) {
                s.push_str(&format!(" ({ago})"));
            }
            s
        }
        (MoodStatus::NoSpeechYet, ..) => "ser: listening, no speech heard yet".into(),
        _ => match ago(mood.last_heard, now) {
            Some(ago) => format!("ser: listening, last speech {ago}"),
            None => "ser: listening, no recent speech".into(),
        },
    }
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<String> {
    let d = (now - t?).to_std().unwrap_or_default();
    Some(format!("{} ago", span(d)))
}

/// The first (disabled) menu line: "Mood: 😠 Angry, 83%".
pub fn menu_mood(state: DaemonState, mood: Option<&Mood>) -> String {
    match mood {
        Some(Mood {
            status: MoodStatus::Current,
            emotion: Some(e),
            confidence: Some(c),
            ..
        }) if state == DaemonState::Listening => {
            format!("Mood: {} {}, {}", e.emoji(), e.title(), percent(*c))
        }
        _ => match state {
            DaemonState::Listening => "Mood: none yet (listening)".into(),
            DaemonState::Paused => "Mood: — (paused)".into(),
            DaemonState::NoDevice => "Mood: — (no microphone)".into(),
            DaemonState::Stopping => "Mood: — (stopping)".into(),
        },
    }
}

/// One recent result in the menu: "14:03:12  😠 angry 83%" (local time).
pub fn menu_recent(u: &Utterance) -> String {
    format!(
        "{}  {} {} {}",
        u.start.with_timezone(&Local).format("%H:%M:%S"),
        u.emotion.emoji(),
        u.emotion.label(),
        percent(u.confidence)
    )
}

/// The menu line shown while nothing was heard.
pub const MENU_NO_RECENT: &str = "No speech heard yet";

/// The pause item's label for a state.
pub fn menu_pause(state: DaemonState) -> &'static str {
    match state {
        DaemonState::Paused => "Resume listening",
        _ => "Pause listening",
    }
}

/// Notification summary: "😠 Angry".
pub fn notice_summary(n: &Notice) -> String {
    format!("{} {}", n.emotion.emoji(), n.emotion.title())
}

/// Notification body: "83% confident · was 😐 neutral for 4 min".
pub fn notice_body(n: &Notice) -> String {
    let context = match n.previous {
        Some((e, d)) => format!("was {} {} for {}", e.emoji(), e.label(), span(d)),
        None => "first mood since ser started".into(),
    };
    format!("{} confident · {context}", percent(n.confidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ser_ctl::protocol::{Emotion, Probs};

    fn mood(status: MoodStatus, e: Option<Emotion>, heard_ago_s: i64, now: DateTime<Utc>) -> Mood {
        Mood {
            status,
            emotion: e,
            emoji: None,
            confidence: e.map(|_| 0.834),
            probs: None,
            last_heard: Some(now - chrono::Duration::seconds(heard_ago_s)),
            utterances: 2,
            half_life_s: 30.0,
            at: now,
        }
    }

    #[test]
    fn spans() {
        assert_eq!(span(Duration::from_secs(0)), "0 s");
        assert_eq!(span(Duration::from_secs(59)), "59 s");
        assert_eq!(span(Duration::from_secs(240)), "4 min");
        assert_eq!(span(Duration::from_secs(7300)), "2 h");
        assert_eq!(span(Duration::from_secs(200_000)), "2 d");
    }

    #[test]
    fn titles() {
        let now = Utc::now();
        let m = mood(MoodStatus::Current, Some(Emotion::Angry), 12, now);
        use DaemonState::*;
        assert_eq!(title(Listening, Some(&m), now), "😠 Angry, 83% (12 s ago)");
        assert_eq!(title(Paused, Some(&m), now), "ser: paused");
        assert_eq!(title(NoDevice, None, now), "ser: no microphone");
        assert_eq!(
            title(Listening, None, now),
            "ser: listening, no speech heard yet"
        );
        let stale = mood(MoodStatus::Stale, None, 600, now);
        assert_eq!(
            title(Listening, Some(&stale), now),
            "ser: listening, last speech 10 min ago"
        );
        assert_eq!(menu_mood(Listening, Some(&m)), "Mood: 😠 Angry, 83%");
        assert_eq!(menu_mood(Paused, Some(&m)), "Mood: — (paused)");
        assert_eq!(menu_pause(Paused), "Resume listening");
        assert_eq!(menu_pause(Listening), "Pause listening");
    }

    #[test]
    fn recent_line() {
        let u = Utterance {
            seq: 1,
            start: Utc::now(),
            duration_s: 2.0,
            emotion: Emotion::Sad,
            emoji: "😢".into(),
            confidence: 0.5,
            probs: Probs::default(),
            model: "m".into(),
        };
        let line = menu_recent(&u);
        assert!(line.ends_with("  😢 sad 50%"), "{line}");
        assert_eq!(line.len(), "00:00:00  😢 sad 50%".len());
    }

    #[test]
    fn notice_words() {
        let n = Notice {
            emotion: Emotion::Angry,
            confidence: 0.83,
            previous: Some((Emotion::Neutral, Duration::from_secs(245))),
        };
        assert_eq!(notice_summary(&n), "😠 Angry");
        assert_eq!(notice_body(&n), "83% confident · was 😐 neutral for 4 min");
        let first = Notice {
            previous: None,
            ..n
        };
        assert_eq!(
            notice_body(&first),
            "83% confident · first mood since ser started"
        );
    }
}
