//! What the UI knows about the core, kept up to date from [`UiUpdate`]s, and
//! the notification side of every update (the tray only renders this state).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Local;
use ser_ctl::protocol::{DaemonState, Mood, Utterance};

use super::notifier::Notifier;
use super::policy::NotifyPolicy;
use super::{UiOptions, UiUpdate};

/// The UI's view of the daemon.
#[derive(Debug, Clone)]
pub struct UiState {
    pub state: DaemonState,
    pub device: Option<String>,
    pub mood: Option<Mood>,
    /// Newest first, at most `TrayConfig::recent`.
    pub recent: VecDeque<Utterance>,
    pub recent_cap: usize,
    pub notifications: bool,
}

impl UiState {
    pub fn new(recent_cap: usize, notifications: bool) -> UiState {
        UiState {
            state: DaemonState::Listening,
            device: None,
            mood: None,
            recent: VecDeque::with_capacity(recent_cap),
            recent_cap,
            notifications,
        }
    }
}

/// Whether the loop goes on after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The state, the notification policy and the notifier: everything the UI
/// does with an update except drawing the tray.
pub struct Core {
    pub ui: UiState,
    policy: Option<NotifyPolicy>,
    notifier: Notifier,
}

impl Core {
    pub fn new(opts: &UiOptions, icon_dir: Option<PathBuf>) -> Core {
        let policy = match NotifyPolicy::new(&opts.notify) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!("{e}; no desktop notifications until it is fixed in config.toml");
                None
            }
        };
        Core {
            ui: UiState::new(opts.tray.recent, opts.notify.enabled),
            policy,
            notifier: Notifier::spawn(icon_dir, opts.notify.timeout_ms),
        }
    }

    /// Applies one update: records it and pops a notification when the policy says so.
    pub fn apply(&mut self, update: UiUpdate) -> Flow {
        match update {
            UiUpdate::Utterance(u) => {
                if self.ui.recent_cap > 0 {
                    self.ui.recent.truncate(self.ui.recent_cap - 1);
                    self.ui.recent.push_front(u);
                }
            }
            UiUpdate::Mood(mood) => {
                if let Some(policy) = &mut self.policy {
                    match policy.on_mood(&mood, Instant::now(), Local::now().time()) {
                        Ok(notice) => self.notifier.show(notice),
                        Err(skip) => tracing::trace!("no notification: {skip:?}"),
                    }
                }
                self.ui.mood = Some(mood);
            }
            UiUpdate::State { state, device } => {
                self.ui.state = state;
                self.ui.device = device;
            }
            UiUpdate::Notifications(on) => {
                self.ui.notifications = on;
                if let Some(policy) = &mut self.policy {
                    policy.set_enabled(on);
                }
            }
            UiUpdate::Forget => self.ui.recent.clear(),
            UiUpdate::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }
}
