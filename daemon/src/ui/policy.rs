//! When to pop a notification: the pure decision, separate from D-Bus.
//!
//! A notification goes out when the mood settles on a **new** emotion: a
//! current mood whose leading emotion differs from the last one the mood held
//! with at least `min_confidence`. It is then dropped (never delayed) when
//! notifications are off, the emotion is not in `emotions`, it is quiet hours,
//! or the previous notification was less than `min_interval_s` ago. A dropped
//! change still counts as the new emotion, so it is not announced later.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveTime, Utc};
use ser_ctl::protocol::{Emotion, Mood, MoodStatus};

use super::quiet::{QuietHours, QuietHoursError};
use super::NotifyConfig;

/// A notification to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub emotion: Emotion,
    pub confidence: f32,
    /// The emotion before, and how long the mood held it (by the moods' clock).
    pub previous: Option<(Emotion, Duration)>,
}

/// Why a mood reading did not give a notification (for debug logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// No current emotion (no speech yet, or stale).
    NoEmotion,
    BelowThreshold,
    /// The same emotion as before.
    Unchanged,
    Disabled,
    FilteredOut,
    QuietHours,
    RateLimited,
}

/// The notification decision. Feed it every mood reading with the time.
#[derive(Debug, Clone)]
pub struct NotifyPolicy {
    enabled: bool,
    min_confidence: f32,
    min_interval: Duration,
    emotions: Vec<Emotion>,
    quiet: Option<QuietHours>,
    /// The emotion the mood settled on last, and since when (mood clock).
    settled: Option<(Emotion, DateTime<Utc>)>,
    last_shown: Option<Instant>,
}

impl NotifyPolicy {
    /// Fails only on a malformed `quiet_hours`.
    pub fn new(cfg: &NotifyConfig) -> Result<NotifyPolicy, QuietHoursError> {
        Ok(NotifyPolicy {
            enabled: cfg.enabled,
            min_confidence: cfg.min_confidence,
            min_interval: Duration::from_secs(cfg.min_interval_s),
            emotions: cfg.emotions.clone(),
            quiet: QuietHours::parse_opt(&cfg.quiet_hours)?,
            settled: None,
            last_shown: None,
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Switch notifications on or off (menu, socket, `--no-notify`).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }

    /// Decides on one mood reading. `now` is the monotonic clock (rate limit),
    /// `local` the local time of day (quiet hours).
    pub fn on_mood(&mut self, mood: &Mood, now: Instant, local: NaiveTime) -> Result<Notice, Skip> {
        let (emotion, confidence) = match (mood.status, mood.emotion, mood.confidence) {
            (MoodStatus::Current, Some(e), Some(c)) => (e, c),
            _ => return Err(Skip::NoEmotion),
        };
        if confidence < self.min_confidence {
            return Err(Skip::BelowThreshold);
        }
        let previous = match self.settled {
            Some((e, _)) if e == emotion => return Err(Skip::Unchanged),
            Some((e, since)) => Some((e, (mood.at - since).to_std().unwrap_or_default())),
            None => None,
        };
        self.settled = Some((emotion, mood.at));
        if !self.enabled {
            return Err(Skip::Disabled);
        }
        if !self.emotions.contains(&emotion) {
            return Err(Skip::FilteredOut);
        }
        if self.quiet.is_some_and(|q| q.contains(local)) {
            return Err(Skip::QuietHours);
        }
        if self
            .last_shown
            .is_some_and(|t| now.saturating_duration_since(t) < self.min_interval)
        {
            return Err(Skip::RateLimited);
        }
        self.last_shown = Some(now);
        Ok(Notice {
            emotion,
            confidence,
            previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn mood(e: Option<Emotion>, conf: f32, at_s: i64) -> Mood {
        Mood {
            status: if e.is_some() {
                MoodStatus::Current
            } else {
                MoodStatus::NoSpeechYet
            },
            emotion: e,
            emoji: e.map(|e| e.emoji().to_string()),
            confidence: e.map(|_| conf),
            probs: None,
            last_heard: None,
            utterances: 1,
            half_life_s: 30.0,
            at: Utc.timestamp_opt(1_700_000_000 + at_s, 0).unwrap(),
        }
    }

    fn noon() -> NaiveTime {
        NaiveTime::from_hms_opt(12, 0, 0).unwrap()
    }

    fn cfg() -> NotifyConfig {
        NotifyConfig {
            min_interval_s: 60,
            min_confidence: 0.5,
            ..NotifyConfig::default()
        }
    }

    struct Clock(Instant);
    impl Clock {
        fn at(&self, s: u64) -> Instant {
            self.0 + Duration::from_secs(s)
        }
    }

    use Emotion::*;

    #[test]
    fn first_then_changes_with_context() {
        let mut p = NotifyPolicy::new(&cfg()).unwrap();
        let c = Clock(Instant::now());
        assert_eq!(
            p.on_mood(&mood(None, 0.0, 0), c.at(0), noon()),
            Err(Skip::NoEmotion)
        );
        let n = p
            .on_mood(&mood(Some(Neutral), 0.7, 0), c.at(0), noon())
            .unwrap();
        assert_eq!((n.emotion, n.previous), (Neutral, None));
        assert_eq!(
            p.on_mood(&mood(Some(Neutral), 0.9, 30), c.at(30), noon()),
            Err(Skip::Unchanged)
        );
        let n = p
            .on_mood(&mood(Some(Angry), 0.83, 240), c.at(240), noon())
            .unwrap();
        assert_eq!(n.emotion, Angry);
        assert_eq!(n.confidence, 0.83);
        assert_eq!(n.previous, Some((Neutral, Duration::from_secs(240))));
    }

    #[test]
    fn below_threshold_is_not_a_change() {
        let mut p = NotifyPolicy::new(&cfg()).unwrap();
        let c = Clock(Instant::now());
        p.on_mood(&mood(Some(Neutral), 0.7, 0), c.at(0), noon())
            .unwrap();
        assert_eq!(
            p.on_mood(&mood(Some(Angry), 0.49, 100), c.at(100), noon()),
            Err(Skip::BelowThreshold)
        );
        // still neutral as far as the policy knows: back to neutral is no change
        assert_eq!(
            p.on_mood(&mood(Some(Neutral), 0.6, 110), c.at(110), noon()),
            Err(Skip::Unchanged)
        );
        // the threshold is inclusive
        assert!(p
            .on_mood(&mood(Some(Angry), 0.5, 200), c.at(200), noon())
            .is_ok());
    }

    #[test]
    fn at_most_one_per_interval() {
        let mut p = NotifyPolicy::new(&cfg()).unwrap();
        let c = Clock(Instant::now());
        assert!(p
            .on_mood(&mood(Some(Happy), 0.9, 0), c.at(0), noon())
            .is_ok());
        assert_eq!(
            p.on_mood(&mood(Some(Sad), 0.9, 10), c.at(10), noon()),
            Err(Skip::RateLimited)
        );
        // the dropped change still counts: sad is not announced later
        assert_eq!(
            p.on_mood(&mood(Some(Sad), 0.9, 70), c.at(70), noon()),
            Err(Skip::Unchanged)
        );
        assert_eq!(
            p.on_mood(&mood(Some(Angry), 0.9, 59), c.at(59), noon()),
            Err(Skip::RateLimited)
        );
        let n = p
            .on_mood(&mood(Some(Happy), 0.9, 60), c.at(60), noon())
            .unwrap();
        assert_eq!(n.previous, Some((Angry, Duration::from_secs(1))));
    }

    #[test]
    fn off_switch_and_filter() {
        let mut p = NotifyPolicy::new(&NotifyConfig {
            emotions: vec![Angry, Sad],
            min_interval_s: 0,
            ..cfg()
        })
        .unwrap();
        let c = Clock(Instant::now());
        assert_eq!(
            p.on_mood(&mood(Some(Happy), 0.9, 0), c.at(0), noon()),
            Err(Skip::FilteredOut)
        );
        assert!(p
            .on_mood(&mood(Some(Angry), 0.9, 1), c.at(1), noon())
            .is_ok());
        p.set_enabled(false);
        assert!(!p.enabled());
        assert_eq!(
            p.on_mood(&mood(Some(Sad), 0.9, 2), c.at(2), noon()),
            Err(Skip::Disabled)
        );
        p.set_enabled(true);
        let n = p
            .on_mood(&mood(Some(Angry), 0.9, 3), c.at(3), noon())
            .unwrap();
        assert_eq!(n.previous, Some((Sad, Duration::from_secs(1))));
    }

    #[test]
    fn disabled_in_config() {
        let mut p = NotifyPolicy::new(&NotifyConfig {
            enabled: false,
            ..cfg()
        })
        .unwrap();
        let c = Clock(Instant::now());
        assert_eq!(
            p.on_mood(&mood(Some(Happy), 0.9, 0), c.at(0), noon()),
            Err(Skip::Disabled)
        );
    }

    #[test]
    fn quiet_hours_over_midnight() {
        let mut p = NotifyPolicy::new(&NotifyConfig {
            quiet_hours: "22:00-07:00".into(),
            min_interval_s: 0,
            ..cfg()
        })
        .unwrap();
        let c = Clock(Instant::now());
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            p.on_mood(&mood(Some(Happy), 0.9, 0), c.at(0), at(23, 0)),
            Err(Skip::QuietHours)
        );
        assert_eq!(
            p.on_mood(&mood(Some(Sad), 0.9, 1), c.at(1), at(6, 59)),
            Err(Skip::QuietHours)
        );
        assert!(p
            .on_mood(&mood(Some(Angry), 0.9, 2), c.at(2), at(7, 0))
            .is_ok());
    }

    #[test]
    fn bad_quiet_hours_refused() {
        assert!(NotifyPolicy::new(&NotifyConfig {
            quiet_hours: "late".into(),
            ..cfg()
        })
        .is_err());
    }
}
