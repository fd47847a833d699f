//! Subscribers: one bounded, coalescing queue per subscribed connection.
//!
//! The publishing side (the classifier thread, the audio supervisor) only
//! takes a short mutex per subscriber and never waits for a client:
//!
//! * utterance events are queued, at most [`QUEUE_CAPACITY`] per subscriber;
//!   when the queue is full the event is dropped and counted, and the client
//!   gets `lagged {dropped}` once its writer has drained the queue;
//! * `mood` and `state` events are coalesced: only the latest value is kept;
//! * a subscriber whose queue stays full for longer than the stall limit
//!   ([`DEFAULT_STALL_LIMIT`], 30 s) is closed and its connection dropped.
//!   (A client that accepts no bytes at all is dropped sooner, by the
//!   connection's write timeout.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ser_ctl::protocol::{Mood, StateChange, Topic, Utterance};

/// Utterance events queued per subscriber before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 256;
/// How long a queue may stay full before the subscriber is dropped.
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(30);

/// What a subscriber's writer takes out of its queue in one go.
#[derive(Debug, Default)]
pub struct Batch {
    pub state: Option<StateChange>,
    pub utterances: Vec<Utterance>,
    pub mood: Option<Mood>,
    /// Utterance events dropped since the last `lagged`; send one when > 0.
    pub dropped: u64,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.state.is_none()
            && self.utterances.is_empty()
            && self.mood.is_none()
            && self.dropped == 0
    }
}

#[derive(Debug, Default)]
struct Inner {
    utterances: VecDeque<Utterance>,
    dropped: u64,
    mood: Option<Mood>,
    state: Option<StateChange>,
    closed: bool,
    full_since: Option<Instant>,
}

/// One subscribed connection's queue.
#[derive(Debug)]
pub struct Subscriber {
    id: u64,
    topics: Vec<Topic>,
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl Subscriber {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    fn wants(&self, t: Topic) -> bool {
        self.topics.contains(&t)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an utterance; returns false when the subscriber is (now) closed.
    fn push_utterance(&self, u: &Utterance, stall_limit: Duration) -> bool {
        let mut g = self.lock();
        if g.closed {
            return false;
        }
        if g.utterances.len() >= QUEUE_CAPACITY {
            g.dropped += 1;
            let since = *g.full_since.get_or_insert_with(Instant::now);
            if since.elapsed() > stall_limit {
                tracing::warn!(
                    subscriber = self.id,
                    "subscriber stayed full for over {stall_limit:?}; dropping it"
                );
                g.closed = true;
                self.cv.notify_all();
                return false;
            }
        } else {
            g.utterances.push_back(u.clone());
        }
        self.cv.notify_all();
        true
    }

    fn set_mood(&self, m: &Mood) {
        let mut g = self.lock();
        g.mood = Some(m.clone());
        self.cv.notify_all();
    }

    fn set_state(&self, s: &StateChange) {
        let mut g = self.lock();
        g.state = Some(s.clone());
        self.cv.notify_all();
    }

    /// Marks the subscriber closed and wakes its writer.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits until something is pending (or `timeout` passes) and takes it all.
    /// `None` once the subscriber is closed and drained.
    pub fn next_batch(&self, timeout: Duration) -> Option<Batch> {
        let mut g = self.lock();
        let deadline = Instant::now() + timeout;
        loop {
            let pending =
                !g.utterances.is_empty() || g.mood.is_some() || g.state.is_some() || g.dropped > 0;
            if pending {
                break;
            }
            if g.closed {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return Some(Batch::default());
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let batch = Batch {
            state: g.state.take(),
            utterances: g.utterances.drain(..).collect(),
            mood: g.mood.take(),
            dropped: std::mem::take(&mut g.dropped),
        };
        g.full_since = None;
        debug_assert!(!batch.is_empty());
        Some(batch)
    }

    /// Events dropped but not yet reported (for tests and diagnostics).
    pub fn pending_dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// Every subscriber, and the fan-out to them.
#[derive(Debug)]
pub struct Subscribers {
    list: Mutex<Vec<Arc<Subscriber>>>,
    next_id: AtomicU64,
    stall_limit: Duration,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers::new(DEFAULT_STALL_LIMIT)
    }
}

impl Subscribers {
    pub fn new(stall_limit: Duration) -> Subscribers {
        Subscribers {
            list: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            stall_limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Subscriber>>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a subscriber for `topics` (empty: all).
    pub fn add(&self, topics: &[Topic]) -> Arc<Subscriber> {
        let mut topics = if topics.is_empty() {
            Topic::ALL.to_vec()
        } else {
            topics.to_vec()
        };
        topics.dedup();
        let sub = Arc::new(Subscriber {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            topics,
            inner: Mutex::new(Inner::default()),
            cv: Condvar::new(),
        });
        self.lock().push(sub.clone());
        sub
    }

    pub fn remove(&self, id: u64) {
        self.lock().retain(|s| s.id != id);
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn snapshot(&self) -> Vec<Arc<Subscriber>> {
        self.lock().clone()
    }

    #[cfg(test)]
    pub(crate) fn snapshot_for_tests(&self) -> Vec<Arc<Subscriber>> {
        self.snapshot()
    }

    pub fn publish_utterance(&self, u: &Utterance) {
        let mut dead = Vec::new();
        for s in self.snapshot().iter().filter(|s| s.wants(Topic::Utterance)) {
            if !s.push_utterance(u, self.stall_limit) {
                dead.push(s.id);
            }
        }
        if !dead.is_empty() {
            self.lock().retain(|s| !dead.contains(&s.id));
        }
    }

    pub fn publish_mood(&self, m: &Mood) {
        for s in self.snapshot().iter().filter(|s| s.wants(Topic::Mood)) {
            s.set_mood(m);
        }
    }

    pub fn publish_state(&self, st: &StateChange) {
        for s in self.snapshot().iter().filter(|s| s.wants(Topic::State)) {
            s.set_state(st);
        }
    }

    /// Closes every subscriber (at shutdown, after the final state event).
    pub fn close_all(&self) {
        for s in self.snapshot() {
            s.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use ser_ctl::protocol::{DaemonState, Emotion, MoodStatus, Probs};

    fn utt(seq: u64) -> Utterance {
        Utterance {
            seq,
            start: Utc::now(),
            duration_s: 1.0,
            emotion: Emotion::Calm,
            emoji: Emotion::Calm.emoji().into(),
            confidence: 0.5,
            probs: Probs([0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            model: "t".into(),
        }
    }

    fn state(s: DaemonState) -> StateChange {
        StateChange {
            state: s,
            device: None,
            reason: None,
            at: Utc::now(),
        }
    }

    #[test]
    fn full_queue_drops_and_reports_the_count_once() {
        let subs = Subscribers::default();
        let s = subs.add(&[]);
        for i in 0..(QUEUE_CAPACITY as u64 + 10) {
            subs.publish_utterance(&utt(i));
        }
        assert_eq!(s.pending_dropped(), 10);
        let b = s.next_batch(Duration::ZERO).unwrap();
        assert_eq!(b.utterances.len(), QUEUE_CAPACITY);
        assert_eq!(b.dropped, 10);
        assert_eq!(b.utterances.last().unwrap().seq, QUEUE_CAPACITY as u64 - 1);
        subs.publish_utterance(&utt(999));
        let b = s.next_batch(Duration::ZERO).unwrap();
        assert_eq!((b.utterances.len(), b.dropped), (1, 0));
    }

    #[test]
    fn mood_and_state_are_coalesced_and_topics_filter() {
        let subs = Subscribers::default();
        let all = subs.add(&[]);
        let only_state = subs.add(&[Topic::State]);
        subs.publish_state(&state(DaemonState::Paused));
        subs.publish_state(&state(DaemonState::Listening));
        let mood = |n| Mood {
            status: MoodStatus::NoSpeechYet,
            emotion: None,
            emoji: None,
            confidence: None,
            probs: None,
            last_heard: None,
            utterances: n,
            half_life_s: 60.0,
            at: Utc::now(),
        };
        subs.publish_mood(&mood(1));
        subs.publish_mood(&mood(2));
        subs.publish_utterance(&utt(1));
        let b = all.next_batch(Duration::ZERO).unwrap();
        assert_eq!(b.state.unwrap().state, DaemonState::Listening);
        assert_eq!(b.mood.unwrap().utterances, 2);
        assert_eq!(b.utterances.len(), 1);
        let b = only_state.next_batch(Duration::ZERO).unwrap();
        assert_eq!(b.state.unwrap().state, DaemonState::Listening);
        assert!(b.mood.is_none() && b.utterances.is_empty());
    }

    #[test]
    fn a_queue_full_past_the_stall_limit_is_closed_and_removed() {
        let subs = Subscribers::new(Duration::ZERO);
        let s = subs.add(&[Topic::Utterance]);
        for i in 0..=(QUEUE_CAPACITY as u64 + 1) {
            subs.publish_utterance(&utt(i));
        }
        assert!(s.is_closed());
        assert_eq!(subs.count(), 0);
        // The writer still drains what was queued, then sees the end.
        assert!(s.next_batch(Duration::ZERO).is_some());
        assert!(s.next_batch(Duration::ZERO).is_none());
    }

    #[test]
    fn close_wakes_a_waiting_writer() {
        let subs = Arc::new(Subscribers::default());
        let s = subs.add(&[]);
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.next_batch(Duration::from_secs(600)));
        std::thread::sleep(Duration::from_millis(20));
        subs.close_all();
        assert!(t.join().unwrap().is_none());
    }
}
