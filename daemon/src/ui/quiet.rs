//! Quiet hours: a daily local-time span ("22:00-07:00") without notifications.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveTime, Timelike};

/// A daily span `start-end` in local time; `start` is inside, `end` is not.
/// A span whose end is earlier than its start runs over midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

/// Why a `quiet_hours` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuietHoursError {
    #[error("quiet_hours {0:?}: expected a span like \"22:00-07:00\" (HH:MM-HH:MM, local time)")]
    Shape(String),
    #[error("quiet_hours {value:?}: {part:?} is not a time of day (HH:MM, 00:00 to 23:59)")]
    Time { value: String, part: String },
    #[error("quiet_hours {0:?}: start and end are equal; leave quiet_hours empty for none")]
    Empty(String),
}

impl QuietHours {
    /// Parses the config value; an empty (or blank) value means no quiet hours.
    pub fn parse_opt(value: &str) -> Result<Option<QuietHours>, QuietHoursError> {
        if value.trim().is_empty() {
            Ok(None)
        } else {
            value.parse().map(Some)
        }
    }

    /// Whether `t` (local time of day) falls in the span.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

fn parse_hhmm(part: &str) -> Option<NaiveTime> {
    let (h, m) = part.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

impl FromStr for QuietHours {
    type Err = QuietHoursError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (a, b) = value
            .split_once('-')
            .ok_or_else(|| QuietHoursError::Shape(value.to_string()))?;
        let time = |part: &str| {
            parse_hhmm(part).ok_or_else(|| QuietHoursError::Time {
                value: value.to_string(),
                part: part.trim().to_string(),
            })
        };
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(QuietHoursError::Empty(value.to_string()));
        }
        Ok(QuietHours { start, end })
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start.hour(),
            self.start.minute(),
            self.end.hour(),
            self.end.minute()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn span_over_midnight() {
        let q: QuietHours = "22:00-07:00".parse().unwrap();
        assert!(q.contains(t(22, 0)));
        assert!(q.contains(t(23, 59)));
        assert!(q.contains(t(0, 0)));
        assert!(q.contains(t(6, 59)));
        assert!(!q.contains(t(7, 0)));
        assert!(!q.contains(t(12, 0)));
        assert!(!q.contains(t(21, 59)));
    }

    #[test]
    fn span_within_a_day() {
        let q: QuietHours = "9:30-17:00".parse().unwrap();
        assert!(!q.contains(t(9, 29)));
        assert!(q.contains(t(9, 30)));
        assert!(q.contains(t(16, 59)));
        assert!(!q.contains(t(17, 0)));
        assert!(!q.contains(t(0, 0)));
        assert_eq!(q.to_string(), "09:30-17:00");
    }

    #[test]
    fn span_to_midnight() {
        let q: QuietHours = " 23:00 - 00:00 ".parse().unwrap();
        assert!(q.contains(t(23, 30)));
        assert!(!q.contains(t(0, 0)));
        assert!(!q.contains(t(22, 59)));
    }

    #[test]
    fn empty_means_none() {
        assert_eq!(QuietHours::parse_opt("").unwrap(), None);
        assert_eq!(QuietHours::parse_opt("  ").unwrap(), None);
        assert!(QuietHours::parse_opt("22:00-07:00").unwrap().is_some());
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for bad in ["22:00", "22-07", "nonsense", "22:00-07:00-08:00"] {
            let err = bad.parse::<QuietHours>().unwrap_err();
            assert!(
                matches!(
                    err,
                    QuietHoursError::Shape(_) | QuietHoursError::Time { .. }
                ),
                "{bad}: {err:?}"
            );
        }
        for (bad, part) in [
            ("24:00-07:00", "24:00"),
            ("22:60-07:00", "22:60"),
            ("22:00-7:5", "7:5"),
            ("-1:00-07:00", ""),
            ("22:00-07:0x", "07:0x"),
        ] {
            match bad.parse::<QuietHours>() {
                Err(QuietHoursError::Time { part: p, .. }) => assert_eq!(p, part, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(
            "08:00-08:00".parse::<QuietHours>(),
            Err(QuietHoursError::Empty("08:00-08:00".into()))
        );
        let msg = "25:00-07:00".parse::<QuietHours>().unwrap_err().to_string();
        assert!(msg.contains("25:00") && msg.contains("HH:MM"), "{msg}");
    }
}
