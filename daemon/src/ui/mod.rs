//! Desktop UI: the tray icon and desktop notifications.
//!
//! The UI never touches audio. The core sends [`UiUpdate`]s; the UI answers
//! with [`UiAction`]s (menu clicks, and what it managed to start). Both go
//! through channels, so a stuck desktop can never stall the pipeline.
//! [`run`] is called on the main thread (GTK wants the thread that created the
//! icon) and returns after [`UiUpdate::Shutdown`].

use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender};
use ser_ctl::protocol::{DaemonState, Emotion, Mood, Utterance};
use serde::{Deserialize, Serialize};

pub mod icons;
pub mod notifier;
pub mod policy;
pub mod quiet;
pub mod state;
pub mod text;
pub mod tray;
pub mod xembed;

pub use policy::NotifyPolicy;
pub use quiet::{QuietHours, QuietHoursError};

/// What the core tells the UI.
#[derive(Debug, Clone)]
pub enum UiUpdate {
    /// A new classified utterance.
    Utterance(Utterance),
    /// The mood changed (or was recomputed).
    Mood(Mood),
    /// The daemon's state changed.
    State {
        state: DaemonState,
        device: Option<String>,
    },
    /// Notifications were switched on or off (from the socket or the menu).
    Notifications(bool),
    /// The history was cleared: drop the recent results shown in the menu.
    Forget,
    /// Leave [`run`].
    Shutdown,
}

/// What the UI tells the core.
#[derive(Debug, Clone, PartialEq)]
pub enum UiAction {
    Pause,
    Resume,
    SetNotifications(bool),
    Quit,
    /// Whether a tray icon is up (false: no display, no host, GTK failed).
    TrayActive(bool),
}

/// `[notifications]` in config.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Pop a notification when the mood changes.
    pub enabled: bool,
    /// Only when the new mood's confidence is at least this (0..1).
    pub min_confidence: f32,
    /// At most one notification per this many seconds.
    pub min_interval_s: u64,
    /// Only for these emotions (default: all eight).
    pub emotions: Vec<Emotion>,
    /// No notifications in this local-time span, e.g. "22:00-07:00"; empty: none.
    pub quiet_hours: String,
    /// How long a notification stays up, in milliseconds (0: the server's default).
    pub timeout_ms: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            enabled: true,
            min_confidence: 0.5,
            min_interval_s: 60,
            emotions: Emotion::ALL.to_vec(),
            quiet_hours: String::new(),
            timeout_ms: 5000,
        }
    }
}

/// `[tray]` in config.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrayConfig {
    /// Show the tray icon.
    pub enabled: bool,
    /// How many recent results the menu lists.
    pub recent: usize,
}

impl Default for TrayConfig {
    fn default() -> Self {
        TrayConfig {
            enabled: true,
            recent: 5,
        }
    }
}

/// Everything [`run`] needs at start.
#[derive(Debug, Clone)]
pub struct UiOptions {
    pub tray: TrayConfig,
    pub notify: NotifyConfig,
    /// Opened with the desktop's opener from the menu.
    pub history_path: PathBuf,
}

impl NotifyConfig {
    /// Checks the values a config file can get wrong (today: `quiet_hours`).
    pub fn validate(&self) -> Result<(), QuietHoursError> {
        QuietHours::parse_opt(&self.quiet_hours).map(|_| ())
    }
}

/// Runs the tray icon and the notifications until [`UiUpdate::Shutdown`] (or
/// until `updates` closes). Call it on the main thread: GTK runs here.
///
/// Never fails: without a usable display, tray host or GTK it logs once, sends
/// `UiAction::TrayActive(false)` and goes on serving notifications.
pub fn run(opts: UiOptions, updates: Receiver<UiUpdate>, actions: Sender<UiAction>) {
    let icon_dir = match icons::write_all(&icons::runtime_icon_dir()) {
        Ok(dir) => Some(dir),
        Err(e) => {
            tracing::warn!(
                "cannot write the notification icons to {}: {e}; notifications go without an icon",
                icons::runtime_icon_dir().display()
            );
            None
        }
    };
    let mut core = state::Core::new(&opts, icon_dir);
    if opts.tray.enabled {
        match tray::Tray::start(&core.ui, &opts.history_path) {
            Ok(t) => {
                tray::run(t, &mut core, &updates, &actions);
                return;
            }
            Err(e) => tracing::warn!("no tray icon: {e}; ser keeps listening without it"),
        }
    }
    let _ = actions.send(UiAction::TrayActive(false));
    for update in updates {
        if core.apply(update) == state::Flow::Stop {
            break;
        }
    }
}
