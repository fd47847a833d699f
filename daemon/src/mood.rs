//! The mood: a decaying, confidence-weighted average of recent utterances.
//!
//! Each utterance `i` that ended at `t_i` with confidence `c_i` and
//! probabilities `p_i` weighs `w_i(t) = c_i * 0.5^((t - t_i) / half_life)` at
//! time `t`. The mood's probabilities are `sum(w_i * p_i) / sum(w_i * |p_i|)`,
//! its emotion the largest of them and its confidence that share.
//!
//! The status is
//! * `no_speech_yet` before the first utterance;
//! * `stale` once the last utterance ended more than `stale_after`
//!   half-lives ago (by then every weight has decayed below `2^-stale_after`
//!   of its value: 1/1024 with the default 10), and the reading carries no
//!   emotion;
//! * `current` otherwise.
//!
//! The tracker keeps a running decayed sum, so it is O(1) in time and memory,
//! and every function takes its timestamps explicitly (pure, testable).

use chrono::{DateTime, Utc};
use ser_ctl::protocol::{Emotion, Mood, MoodStatus, Probs};

/// Tracks the mood; fed with utterances, read at any instant.
#[derive(Debug, Clone)]
pub struct MoodTracker {
    half_life_s: f64,
    stale_after: f64,
    /// Decayed weighted sum of probabilities, as of `last_heard`.
    sum: [f64; 8],
    /// When the last utterance ended (the reference time of `sum`).
    last_heard: Option<DateTime<Utc>>,
    utterances: u64,
}

impl MoodTracker {
    /// `half_life_s` > 0 seconds; `stale_after` in half-lives.
    pub fn new(half_life_s: f64, stale_after: f64) -> MoodTracker {
        MoodTracker {
            half_life_s,
            stale_after,
            sum: [0.0; 8],
            last_heard: None,
            utterances: 0,
        }
    }

    /// Changes the parameters (on config reload); past weights are kept.
    pub fn set_params(&mut self, half_life_s: f64, stale_after: f64) {
        self.half_life_s = half_life_s;
        self.stale_after = stale_after;
    }

    /// Forgets every utterance (after the history is cleared): "no speech yet".
    pub fn clear(&mut self) {
        self.sum = [0.0; 8];
        self.last_heard = None;
        self.utterances = 0;
    }

    pub fn half_life_s(&self) -> f64 {
        self.half_life_s
    }

    fn decay(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let dt = (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        0.5f64.powf(dt / self.half_life_s)
    }

    /// Adds an utterance that ended at `end`.
    pub fn add(&mut self, end: DateTime<Utc>, confidence: f32, probs: &Probs) {
        let c = f64::from(confidence.clamp(0.0, 1.0));
        match self.last_heard {
            Some(last) if end < last => {
                // Arrived out of order: decay it to the reference time instead.
                let k = c * self.decay(end, last);
                for (s, p) in self.sum.iter_mut().zip(probs.0) {
                    *s += k * f64::from(p);
                }
            }
            _ => {
                let k = self.last_heard.map_or(0.0, |last| self.decay(last, end));
                for (s, p) in self.sum.iter_mut().zip(probs.0) {
                    *s = *s * k + c * f64::from(p);
                }
                self.last_heard = Some(end);
            }
        }
        self.utterances += 1;
    }

    /// The status at `at`.
    pub fn status(&self, at: DateTime<Utc>) -> MoodStatus {
        match self.last_heard {
            None => MoodStatus::NoSpeechYet,
            Some(last) => {
                let age = (at - last).num_milliseconds() as f64 / 1000.0;
                if age > self.stale_after * self.half_life_s {
                    MoodStatus::Stale
                } else {
                    MoodStatus::Current
                }
            }
        }
    }

    /// The mood as seen at `at`.
    pub fn reading(&self, at: DateTime<Utc>) -> Mood {
        let status = self.status(at);
        let total: f64 = self.sum.iter().sum();
        let (emotion, confidence, probs) = if status == MoodStatus::Current && total > 0.0 {
            // The decay factor is common to every term, so it cancels in the ratio.
            let mut p = [0f32; 8];
            for (o, s) in p.iter_mut().zip(self.sum) {
                *o = (s / total) as f32;
            }
            let probs = Probs(p);
            let (e, c) = probs.top();
            (Some(e), Some(c), Some(probs))
        } else {
            (None, None, None)
        };
        Mood {
            status,
            emotion,
            emoji: emotion.map(|e: Emotion| e.emoji().to_string()),
            confidence,
            probs,
            last_heard: self.last_heard,
            utterances: self.utterances,
            half_life_s: self.half_life_s,
            at,
        }
    }

    /// The total decayed weight at `at` (sum of `w_i(at)`), for diagnostics and tests.
    pub fn weight(&self, at: DateTime<Utc>) -> f64 {
        match self.last_heard {
            None => 0.0,
            Some(last) => self.sum.iter().sum::<f64>() * self.decay(last, at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn one_hot(e: Emotion) -> Probs {
        let mut p = [0.0; 8];
        p[e.index()] = 1.0;
        Probs(p)
    }

    #[test]
    fn nothing_heard_yet() {
        let m = MoodTracker::new(60.0, 10.0);
        let r = m.reading(t(0));
        assert_eq!(r.status, MoodStatus::NoSpeechYet);
        assert_eq!(r.emotion, None);
        assert_eq!(r.probs, None);
        assert_eq!(r.utterances, 0);
    }

    #[test]
    fn weights_decay_by_half_life_and_confidence() {
        let mut m = MoodTracker::new(60.0, 10.0);
        m.add(t(0), 1.0, &one_hot(Emotion::Angry));
        m.add(t(60), 0.5, &one_hot(Emotion::Happy));
        // At t=60: angry weighs 1 * 0.5 = 0.5, happy 0.5: a tie, first label wins.
        let r = m.reading(t(60));
        assert!((r.probs.unwrap().get(Emotion::Angry) - 0.5).abs() < 1e-6);
        assert!((r.probs.unwrap().get(Emotion::Happy) - 0.5).abs() < 1e-6);
        assert!((m.weight(t(60)) - 1.0).abs() < 1e-9);
        // A second later the decay is common to both, so the shares stay equal.
        assert!((m.weight(t(120)) - 0.5).abs() < 1e-9);
        m.add(t(120), 0.9, &one_hot(Emotion::Happy));
        let r = m.reading(t(120));
        // angry 0.25, happy 0.25 + 0.9 = 1.15 -> happy 1.15/1.4
        assert_eq!(r.emotion, Some(Emotion::Happy));
        assert!((r.confidence.unwrap() - 1.15 / 1.4).abs() < 1e-5);
        assert_eq!(r.emoji.as_deref(), Some(Emotion::Happy.emoji()));
        assert_eq!(r.utterances, 3);
        assert_eq!(r.last_heard, Some(t(120)));
        assert_eq!(r.status, MoodStatus::Current);
    }

    #[test]
    fn probabilities_are_mixed_not_just_top_labels() {
        let mut m = MoodTracker::new(10.0, 10.0);
        let mut p = [0.0; 8];
        p[Emotion::Sad.index()] = 0.6;
        p[Emotion::Calm.index()] = 0.4;
        m.add(t(0), 0.6, &Probs(p));
        let r = m.reading(t(5));
        let probs = r.probs.unwrap();
        assert!((probs.get(Emotion::Sad) - 0.6).abs() < 1e-6);
        assert!((probs.get(Emotion::Calm) - 0.4).abs() < 1e-6);
        assert!((probs.0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn goes_stale_after_the_configured_half_lives() {
        let mut m = MoodTracker::new(60.0, 10.0);
        m.add(t(0), 1.0, &one_hot(Emotion::Sad));
        assert_eq!(m.status(t(600)), MoodStatus::Current);
        assert_eq!(m.status(t(601)), MoodStatus::Stale);
        let r = m.reading(t(601));
        assert_eq!(r.emotion, None);
        assert_eq!(r.last_heard, Some(t(0)));
        // New speech makes it current again.
        m.add(t(700), 0.8, &one_hot(Emotion::Calm));
        assert_eq!(m.reading(t(700)).emotion, Some(Emotion::Calm));
    }

    #[test]
    fn out_of_order_utterances_are_decayed_to_the_reference() {
        let mut m = MoodTracker::new(60.0, 10.0);
        m.add(t(60), 1.0, &one_hot(Emotion::Happy));
        m.add(t(0), 1.0, &one_hot(Emotion::Angry));
        let p = m.reading(t(60)).probs.unwrap();
        assert!((p.get(Emotion::Happy) - 1.0 / 1.5).abs() < 1e-6);
        assert_eq!(m.reading(t(60)).last_heard, Some(t(60)));
    }

    #[test]
    fn zero_confidence_contributes_nothing() {
        let mut m = MoodTracker::new(60.0, 10.0);
        m.add(t(0), 0.0, &one_hot(Emotion::Angry));
        let r = m.reading(t(0));
        assert_eq!(r.status, MoodStatus::Current);
        assert_eq!(r.emotion, None);
        assert_eq!(r.utterances, 1);
    }
}
