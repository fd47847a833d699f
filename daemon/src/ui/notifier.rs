//! Shows notifications over D-Bus (notify-rust) on a worker thread of its own,
//! so a slow or missing notification server never stalls the tray loop.

use std::path::PathBuf;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender};
use notify_rust::{Hint, Notification, Timeout, Urgency};

use super::icons::{self, IconKind};
use super::policy::Notice;
use super::text;

/// The app name notifications carry (servers group and filter by it).
pub const APP_NAME: &str = "ser";
/// The notification category hint (freedesktop: `presence` = a change of someone's presence/state).
pub const CATEGORY: &str = "presence";
/// The icon size written for notifications.
const ICON_PX: u32 = 64;

/// Handle to the notification worker. Dropping it lets the worker finish the
/// queued notifications and exit.
pub struct Notifier {
    tx: Option<Sender<Notice>>,
    worker: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Starts the worker. `icon_dir` holds the icons written by
    /// [`icons::write_all`]; `None` sends notifications without an icon.
    pub fn spawn(icon_dir: Option<PathBuf>, timeout_ms: u32) -> Notifier {
        let (tx, rx) = crossbeam_channel::bounded::<Notice>(8);
        let worker = thread::Builder::new()
            .name("ui-notify".into())
            .spawn(move || work(rx, icon_dir, timeout_ms))
            .map_err(|e| tracing::warn!("cannot start the notification thread: {e}"))
            .ok();
        Notifier {
            tx: worker.as_ref().map(|_| tx),
            worker,
        }
    }

    /// Queues a notification; drops it (with a log line) if the worker is backed up.
    pub fn show(&self, notice: Notice) {
        if let Some(tx) = &self.tx {
            if tx.try_send(notice).is_err() {
                tracing::debug!("notification queue full; dropping one");
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn work(rx: Receiver<Notice>, icon_dir: Option<PathBuf>, timeout_ms: u32) {
    let mut failing = false;
    for notice in rx {
        let mut n = Notification::new();
        n.appname(APP_NAME)
            .summary(&text::notice_summary(&notice))
            .body(&text::notice_body(&notice))
            .hint(Hint::Category(CATEGORY.into()))
            .urgency(Urgency::Low)
            .timeout(match timeout_ms {
                0 => Timeout::Default,
                ms => Timeout::Milliseconds(ms),
            });
        if let Some(dir) = &icon_dir {
            let path = icons::file_path(dir, IconKind::Emotion(notice.emotion), ICON_PX);
            n.icon(&path.to_string_lossy());
        }
        match n.show() {
            Ok(handle) => {
                if failing {
                    tracing::info!("notification server reachable again");
                    failing = false;
                }
                tracing::debug!(id = handle.id(), "notified {:?}", notice.emotion);
            }
            Err(e) if !failing => {
                tracing::warn!(
                    "cannot show a desktop notification (no notification server?): {e}; \
                     ser keeps running and will retry with the next mood change"
                );
                failing = true;
            }
            Err(e) => tracing::debug!("notification failed again: {e}"),
        }
    }
}
