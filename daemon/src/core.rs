//! The daemon's shared state and the hub that fans results out.
//!
//! One [`Core`] lives behind an `Arc` and is shared by the audio supervisor,
//! the classifier thread, the server's connection threads and the UI bridge.
//! Publishing a result ([`Core::publish`]) sends it to the subscribers first
//! (they only get a short lock and a bounded queue each), then to the UI
//! channel (`try_send`: a stuck desktop never stalls anyone), then appends it
//! to the history file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::Sender;
use ser_ctl::protocol::{DaemonState, Mood, MoodStatus, Probs, StateChange, Status, Utterance};

use crate::config::{Config, ConfigError};
use crate::engine::Engine;
use crate::history::History;
use crate::mood::MoodTracker;
use crate::server::subscribers::Subscribers;
use crate::ui::UiUpdate;

/// Commands for the audio supervisor (capture or file input).
#[derive(Debug)]
pub enum AudioCommand {
    /// Close the input and process nothing; answers with the new state.
    Pause(Sender<DaemonState>),
    /// Reopen the input; answers with the state after the attempt.
    Resume(Sender<DaemonState>),
    /// The `[audio]`/`[vad]` settings changed: reopen with them.
    Reconfigure,
    /// Finish the utterance in hand and stop.
    Shutdown,
}

/// Why the daemon stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    Signal(&'static str),
    Request,
    Ui,
    InputDone,
}

#[derive(Debug, Clone)]
struct StateInfo {
    state: DaemonState,
    device: Option<String>,
    reason: Option<String>,
}

/// Where the core sends things.
pub struct CoreChannels {
    pub audio: Sender<AudioCommand>,
    pub stop: Sender<StopReason>,
}

pub struct Core {
    pub started: DateTime<Utc>,
    started_at: Instant,
    pub engine: Arc<Engine>,
    state: Mutex<StateInfo>,
    seq: AtomicU64,
    /// Capture overruns (shared with the capture callback).
    pub overruns: Arc<AtomicU64>,
    notifications: AtomicBool,
    tray: AtomicBool,
    config: RwLock<Config>,
    config_path: PathBuf,
    history: Mutex<History>,
    history_path: PathBuf,
    mood: Mutex<MoodTracker>,
    last_mood_status: Mutex<MoodStatus>,
    pub subscribers: Subscribers,
    clients: AtomicU32,
    channels: CoreChannels,
    ui: Mutex<Option<Sender<UiUpdate>>>,
    stopping: AtomicBool,
    analysis: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Core {
    pub fn new(
        config: Config,
        config_path: PathBuf,
        history_dir: PathBuf,
        engine: Arc<Engine>,
        subscribers: Subscribers,
        channels: CoreChannels,
    ) -> Core {
        let history = History::new(history_dir, config.history.clone());
        let history_path = history.path();
        Core {
            started: Utc::now(),
            started_at: Instant::now(),
            engine,
            state: Mutex::new(StateInfo {
                state: DaemonState::NoDevice,
                device: None,
                reason: Some("starting".into()),
            }),
            seq: AtomicU64::new(0),
            overruns: Arc::new(AtomicU64::new(0)),
            notifications: AtomicBool::new(config.notifications.enabled),
            tray: AtomicBool::new(false),
            mood: Mutex::new(MoodTracker::new(
                config.mood.half_life_s,
                config.mood.stale_after,
            )),
            last_mood_status: Mutex::new(MoodStatus::NoSpeechYet),
            config: RwLock::new(config),
            config_path,
            history: Mutex::new(history),
            history_path,
            subscribers,
            clients: AtomicU32::new(0),
            channels,
            ui: Mutex::new(None),
            stopping: AtomicBool::new(false),
            analysis: Mutex::new(()),
        }
    }

    /// Connects the UI channel (when a tray or notifications run).
    pub fn set_ui(&self, tx: Sender<UiUpdate>) {
        *lock(&self.ui) = Some(tx);
    }

    /// Whether a UI (tray and/or notifications) was started to show updates.
    pub fn ui_running(&self) -> bool {
        lock(&self.ui).is_some()
    }

    fn to_ui(&self, u: UiUpdate) {
        if let Some(tx) = lock(&self.ui).as_ref() {
            if tx.try_send(u).is_err() {
                tracing::debug!("UI channel full or closed; update dropped");
            }
        }
    }

    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn history_path(&self) -> &Path {
        &self.history_path
    }

    pub fn history(&self) -> MutexGuard<'_, History> {
        lock(&self.history)
    }

    pub fn state(&self) -> DaemonState {
        lock(&self.state).state
    }

    pub fn device(&self) -> Option<String> {
        lock(&self.state).device.clone()
    }

    /// Records a state change and tells subscribers and the UI (only when it changed).
    pub fn set_state(&self, state: DaemonState, device: Option<String>, reason: Option<String>) {
        {
            let mut g = lock(&self.state);
            if g.state == state && g.device == device && g.reason == reason {
                return;
            }
            // Once stopping, only `stopping` may be announced.
            if g.state == DaemonState::Stopping && state != DaemonState::Stopping {
                return;
            }
            *g = StateInfo {
                state,
                device: device.clone(),
                reason: reason.clone(),
            };
        }
        match &reason {
            Some(r) => {
                tracing::info!(%state, device = device.as_deref().unwrap_or("-"), "state: {r}")
            }
            None => tracing::info!(%state, device = device.as_deref().unwrap_or("-"), "state"),
        }
        let change = StateChange {
            state,
            device: device.clone(),
            reason,
            at: Utc::now(),
        };
        self.subscribers.publish_state(&change);
        self.to_ui(UiUpdate::State { state, device });
    }

    /// The current state as a `state` event payload.
    pub fn state_change(&self) -> StateChange {
        let g = lock(&self.state);
        StateChange {
            state: g.state,
            device: g.device.clone(),
            reason: g.reason.clone(),
            at: Utc::now(),
        }
    }

    /// Publishes one classified utterance: subscribers, UI, mood, history.
    pub fn publish(&self, start: DateTime<Utc>, duration_s: f64, probs: Probs) -> Utterance {
        let (emotion, confidence) = probs.top();
        let u = Utterance {
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            start,
            duration_s,
            emotion,
            emoji: emotion.emoji().to_string(),
            confidence,
            probs,
            model: self.engine.version().to_string(),
        };
        tracing::info!(seq = u.seq, %emotion, confidence = format!("{confidence:.2}"), duration_s = format!("{duration_s:.2}"), "utterance");
        // Durable first: an event a client has seen is always in the history,
        // even if the daemon is killed right after (kill -9 test in hardening_faults).
        if let Err(e) = self.history().append(&u) {
            tracing::error!("cannot append to the history: {e}");
        }
        self.subscribers.publish_utterance(&u);
        let end = start + chrono::Duration::microseconds((duration_s * 1e6) as i64);
        let mood = {
            let mut m = lock(&self.mood);
            m.add(end, confidence, &probs);
            m.reading(Utc::now().max(end))
        };
        *lock(&self.last_mood_status) = mood.status;
        self.subscribers.publish_mood(&mood);
        self.to_ui(UiUpdate::Utterance(u.clone()));
        self.to_ui(UiUpdate::Mood(mood));
        u
    }

    /// After the history was cleared: the mood and the tray's recent results
    /// forget what was heard; subscribers and the UI get the new (empty) mood.
    pub fn forget_results(&self) {
        let mood = {
            let mut m = lock(&self.mood);
            m.clear();
            m.reading(Utc::now())
        };
        *lock(&self.last_mood_status) = mood.status;
        self.to_ui(UiUpdate::Forget);
        self.subscribers.publish_mood(&mood);
        self.to_ui(UiUpdate::Mood(mood));
    }

    pub fn mood(&self) -> Mood {
        lock(&self.mood).reading(Utc::now())
    }

    /// Called periodically: announces the mood when its status changed by itself (current → stale).
    pub fn tick(&self) {
        let m = self.mood();
        let mut last = lock(&self.last_mood_status);
        if *last != m.status {
            *last = m.status;
            drop(last);
            self.subscribers.publish_mood(&m);
            self.to_ui(UiUpdate::Mood(m));
        }
    }

    pub fn utterances(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    pub fn notifications(&self) -> bool {
        self.notifications.load(Ordering::SeqCst)
    }

    pub fn set_notifications(&self, on: bool) {
        self.notifications.store(on, Ordering::SeqCst);
        self.to_ui(UiUpdate::Notifications(on));
    }

    pub fn set_tray(&self, on: bool) {
        self.tray.store(on, Ordering::SeqCst);
    }

    pub fn client_connected(&self) {
        self.clients.fetch_add(1, Ordering::SeqCst);
    }

    pub fn client_disconnected(&self) {
        self.clients.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn clients(&self) -> u32 {
        self.clients.load(Ordering::SeqCst)
    }

    pub fn status(&self) -> Status {
        let st = lock(&self.state).clone();
        Status {
            state: st.state,
            device: st.device,
            device_error: if st.state == DaemonState::NoDevice {
                st.reason
            } else {
                None
            },
            model: self.engine.version().to_string(),
            daemon: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started: self.started,
            uptime_s: self.started_at.elapsed().as_secs_f64(),
            utterances: self.utterances(),
            overruns: self.overruns.load(Ordering::Relaxed),
            subscribers: self.subscribers.count() as u32,
            clients: self.clients(),
            notifications: self.notifications(),
            tray: self.tray.load(Ordering::SeqCst),
            history_path: self.history_path.clone(),
        }
    }

    /// Re-reads the config file; on error the old configuration stays.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let new = Config::load(&self.config_path)?;
        let old = self.config();
        lock(&self.mood).set_params(new.mood.half_life_s, new.mood.stale_after);
        self.history().set_config(new.history.clone());
        if new.notifications.enabled != old.notifications.enabled {
            self.set_notifications(new.notifications.enabled);
        }
        let reopen = new.audio != old.audio || new.vad != old.vad;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = new;
        if reopen {
            let _ = self.channels.audio.send(AudioCommand::Reconfigure);
        }
        tracing::info!(file = %self.config_path.display(), "configuration reloaded");
        Ok(())
    }

    /// Sends a command to the audio supervisor and waits (bounded) for its answer.
    pub fn audio_request(
        &self,
        make: impl FnOnce(Sender<DaemonState>) -> AudioCommand,
    ) -> DaemonState {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.channels.audio.send(make(tx)).is_err() {
            return self.state();
        }
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| self.state())
    }

    pub fn audio_sender(&self) -> &Sender<AudioCommand> {
        &self.channels.audio
    }

    pub fn request_stop(&self, reason: StopReason) {
        let _ = self.channels.stop.send(reason);
    }

    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Serialises file analyses (they are CPU-heavy; one at a time).
    pub fn analysis_slot(&self) -> MutexGuard<'_, ()> {
        lock(&self.analysis)
    }
}
