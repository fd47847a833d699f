//! The tray icon (tray-icon, GTK/libayatana backend) and its menu, driven from
//! a loop on the thread that called `gtk::init` (serd's main thread).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossbeam_channel::{select, Receiver, Sender};
use gtk::gdk::prelude::MonitorExt;
use gtk::gio;
use ser_ctl::protocol::DaemonState;
use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use super::icons::IconKind;
use super::state::{Core, Flow, UiState};
use super::{text, UiAction, UiUpdate};

/// The StatusNotifierItem watcher that SNI tray hosts own on the session bus.
const SNI_WATCHER: &str = "org.kde.StatusNotifierWatcher";
/// How often the title is redrawn so its "12 s ago" stays true.
const TITLE_REFRESH: Duration = Duration::from_secs(5);
/// How often the X server is asked whether an XEmbed tray runs.
const XEMBED_POLL: Duration = Duration::from_secs(2);
/// How long the loop sleeps between GTK pumps when nothing arrives.
const POLL: Duration = Duration::from_millis(50);

/// Why no tray could be shown.
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    #[error("GTK could not start (no usable display?): {0}")]
    Gtk(String),
    #[error("cannot create the tray icon: {0}")]
    Icon(String),
}

/// The icon and the menu items it updates.
pub struct Tray {
    icon: TrayIcon,
    menu: Menu,
    mood_item: MenuItem,
    recent_items: Vec<MenuItem>,
    pause_item: MenuItem,
    notify_item: CheckMenuItem,
    history_item: MenuItem,
    quit_item: MenuItem,
    shown: Option<IconKind>,
    icon_px: u32,
    history_path: PathBuf,
}

/// Position of the first recent item in the menu (after the mood line and a separator).
const RECENT_AT: usize = 2;

impl Tray {
    /// Initialises GTK on this thread and puts up the icon.
    pub fn start(ui: &UiState, history_path: &Path) -> Result<Tray, TrayError> {
        gtk::init().map_err(|e| TrayError::Gtk(e.to_string()))?;
        let scale = gtk::gdk::Display::default()
            .and_then(|d| d.monitor(0))
            .map(|m| m.scale_factor())
            .unwrap_or(1)
            .max(1) as u32;
        let icon_px = 32 * scale;

        let menu = Menu::new();
        let mood_item = MenuItem::new(text::menu_mood(ui.state, ui.mood.as_ref()), false, None);
        let pause_item = MenuItem::new(text::menu_pause(ui.state), true, None);
        let notify_item = CheckMenuItem::new("Notifications", true, ui.notifications, None);
        let history_item = MenuItem::new("Open history", true, None);
        let quit_item = MenuItem::new("Quit ser", true, None);
        let err = |e: tray_icon::menu::Error| TrayError::Icon(e.to_string());
        menu.append(&mood_item).map_err(err)?;
        menu.append(&PredefinedMenuItem::separator()).map_err(err)?;
        menu.append(&PredefinedMenuItem::separator()).map_err(err)?;
        menu.append(&pause_item).map_err(err)?;
        menu.append(&notify_item).map_err(err)?;
        menu.append(&history_item).map_err(err)?;
        menu.append(&PredefinedMenuItem::separator()).map_err(err)?;
        menu.append(&quit_item).map_err(err)?;

        let kind = IconKind::for_state(ui.state, ui.mood.as_ref());
        let title = text::title(ui.state, ui.mood.as_ref(), Utc::now());
        let mut builder = TrayIconBuilder::new()
            .with_id("ser")
            .with_menu(Box::new(menu.clone()))
            .with_icon(icon(kind, icon_px)?)
            .with_title(&title)
            .with_tooltip(&title);
        if let Some(dir) = tray_dir() {
            builder = builder.with_temp_dir_path(dir);
        }
        let icon = builder
            .build()
            .map_err(|e| TrayError::Icon(e.to_string()))?;
        let mut tray = Tray {
            icon,
            menu,
            mood_item,
            recent_items: Vec::new(),
            pause_item,
            notify_item,
            history_item,
            quit_item,
            shown: Some(kind),
            icon_px,
            history_path: history_path.to_path_buf(),
        };
        tray.render(ui);
        Ok(tray)
    }

    /// Brings the icon, the title and the menu in line with `ui`.
    pub fn render(&mut self, ui: &UiState) {
        let kind = IconKind::for_state(ui.state, ui.mood.as_ref());
        if self.shown != Some(kind) {
            match icon(kind, self.icon_px) {
                Ok(i) => match self.icon.set_icon(Some(i)) {
                    Ok(()) => self.shown = Some(kind),
                    Err(e) => tracing::warn!("cannot change the tray icon: {e}"),
                },
                Err(e) => tracing::warn!("{e}"),
            }
        }
        self.render_title(ui);
        self.mood_item
            .set_text(text::menu_mood(ui.state, ui.mood.as_ref()));
        self.pause_item.set_text(text::menu_pause(ui.state));
        self.pause_item
            .set_enabled(ui.state != DaemonState::Stopping);
        if self.notify_item.is_checked() != ui.notifications {
            self.notify_item.set_checked(ui.notifications);
        }
        self.render_recent(ui);
    }

    fn render_title(&mut self, ui: &UiState) {
        let title = text::title(ui.state, ui.mood.as_ref(), Utc::now());
        self.icon.set_title(Some(&title));
        let _ = self.icon.set_tooltip(Some(&title));
    }

    fn render_recent(&mut self, ui: &UiState) {
        let mut lines: Vec<String> = ui.recent.iter().map(text::menu_recent).collect();
        if lines.is_empty() {
            lines.push(text::MENU_NO_RECENT.to_string());
        }
        let same = lines.len() == self.recent_items.len()
            && lines
                .iter()
                .zip(&self.recent_items)
                .all(|(l, item)| *l == item.text());
        if same {
            return;
        }
        for item in self.recent_items.drain(..) {
            let _ = self.menu.remove(&item);
        }
        for (i, line) in lines.into_iter().enumerate() {
            let item = MenuItem::new(line, false, None);
            if let Err(e) = self.menu.insert(&item, RECENT_AT + i) {
                tracing::warn!("cannot update the tray menu: {e}");
            }
            self.recent_items.push(item);
        }
    }

    /// The action a menu click asks for, if it is one of ours.
    fn on_menu(&self, ev: &MenuEvent, ui: &UiState) -> Option<UiAction> {
        let id = ev.id();
        if id == self.pause_item.id() {
            Some(match ui.state {
                DaemonState::Paused => UiAction::Resume,
                _ => UiAction::Pause,
            })
        } else if id == self.notify_item.id() {
            Some(UiAction::SetNotifications(self.notify_item.is_checked()))
        } else if id == self.quit_item.id() {
            Some(UiAction::Quit)
        } else if id == self.history_item.id() {
            open_history(&self.history_path);
            None
        } else {
            None
        }
    }
}

fn icon(kind: IconKind, px: u32) -> Result<Icon, TrayError> {
    let (rgba, side) = kind
        .rgba(px)
        .map_err(|e| TrayError::Icon(format!("embedded icon {} is broken: {e}", kind.name())))?;
    Icon::from_rgba(rgba, side, side).map_err(|e| TrayError::Icon(e.to_string()))
}

/// `$XDG_RUNTIME_DIR/ser/tray` (0700), where tray-icon writes the PNG the host reads.
fn tray_dir() -> Option<PathBuf> {
    let dir = super::icons::runtime_icon_dir().parent()?.join("tray");
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .ok()?;
    Some(dir)
}

/// Opens the history file with the desktop's opener, without waiting for it.
fn open_history(path: &Path) {
    match Command::new("xdg-open").arg(path).spawn() {
        Ok(mut child) => {
            // reap it off the UI thread
            let _ = std::thread::Builder::new()
                .name("ui-open".into())
                .spawn(move || {
                    let _ = child.wait();
                });
        }
        Err(e) => tracing::warn!("cannot run xdg-open {}: {e}", path.display()),
    }
}

/// Which host shows the icon, as far as serd can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// A StatusNotifierWatcher is on the session bus (libayatana uses it).
    Sni,
    /// No watcher, but an XEmbed system tray owns `_NET_SYSTEM_TRAY_S<n>`
    /// (libayatana falls back to an XEmbed icon there).
    Xembed,
    /// Neither: the icon shows when one starts.
    None,
}

/// What the bus watch and the X probe said last, and what was reported.
#[derive(Debug, Default)]
struct Hosts {
    /// `None` until the bus watch first answers.
    sni: Option<bool>,
    xembed: bool,
    shown: Option<Host>,
}

impl Hosts {
    /// The host now, when it differs from the one last returned (`None` also
    /// while the bus watch has not answered yet).
    fn changed(&mut self) -> Option<Host> {
        let host = match (self.sni?, self.xembed) {
            (true, _) => Host::Sni,
            (false, true) => Host::Xembed,
            (false, false) => Host::None,
        };
        (self.shown != Some(host)).then(|| {
            self.shown = Some(host);
            host
        })
    }
}

/// An XEmbed probe when GTK draws on X11 (on Wayland there is no XEmbed).
fn xembed_probe() -> Option<super::xembed::XembedProbe> {
    use gtk::glib::prelude::ObjectExt;
    let display = gtk::gdk::Display::default()?;
    if display.type_().name() != "GdkX11Display" {
        return None;
    }
    super::xembed::XembedProbe::connect()
}

/// Runs the tray until [`UiUpdate::Shutdown`] (or the update channel closes).
pub fn run(
    mut tray: Tray,
    core: &mut Core,
    updates: &Receiver<UiUpdate>,
    actions: &Sender<UiAction>,
) {
    let (host_tx, host_rx) = crossbeam_channel::unbounded::<bool>();
    let appeared = host_tx.clone();
    let _watch = gio::bus_watch_name(
        gio::BusType::Session,
        SNI_WATCHER,
        gio::BusNameWatcherFlags::NONE,
        move |_, _, _| {
            let _ = appeared.send(true);
        },
        move |_, _| {
            let _ = host_tx.send(false);
        },
    );
    let probe = xembed_probe();
    let menu_rx = MenuEvent::receiver();
    let mut hosts = Hosts {
        xembed: probe.as_ref().is_some_and(|p| p.tray_present()),
        ..Hosts::default()
    };
    let mut title_at = Instant::now();
    let mut probed_at = Instant::now();
    loop {
        while gtk::events_pending() {
            gtk::main_iteration_do(false);
        }
        select! {
            recv(updates) -> u => {
                let Ok(u) = u else { break };
                if core.apply(u) == Flow::Stop {
                    break;
                }
                // take whatever else is queued before drawing once
                while let Ok(u) = updates.try_recv() {
                    if core.apply(u) == Flow::Stop {
                        return;
                    }
                }
                tray.render(&core.ui);
                title_at = Instant::now();
            }
            recv(menu_rx) -> ev => {
                if let Ok(ev) = ev {
                    if let Some(action) = tray.on_menu(&ev, &core.ui) {
                        tracing::debug!(?action, "tray menu");
                        let _ = actions.send(action);
                    }
                }
            }
            recv(host_rx) -> up => {
                if let Ok(up) = up {
                    hosts.sni = Some(up);
                }
            }
            // Nothing queued: sleep rather than a timed select, which spins
            // and yields before parking (see `crate::wait`).
            default => std::thread::sleep(POLL),
        }
        if let Some(probe) = probe
            .as_ref()
            .filter(|_| probed_at.elapsed() >= XEMBED_POLL)
        {
            hosts.xembed = probe.tray_present();
            probed_at = Instant::now();
        }
        if let Some(host) = hosts.changed() {
            match host {
                Host::Sni => tracing::info!("tray host found ({SNI_WATCHER})"),
                Host::Xembed => tracing::info!(
                    "XEmbed system tray found (no {SNI_WATCHER}); the icon shows there"
                ),
                Host::None => tracing::info!(
                    "no tray host (no {SNI_WATCHER} on the session bus, no XEmbed tray); \
                     the icon shows when one starts"
                ),
            }
            let _ = actions.send(UiAction::TrayActive(host != Host::None));
        }
        if title_at.elapsed() >= TITLE_REFRESH {
            tray.render_title(&core.ui);
            title_at = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_reported_before_the_bus_watch_answers() {
        let mut hosts = Hosts {
            xembed: true,
            ..Hosts::default()
        };
        assert_eq!(hosts.changed(), None);
        hosts.sni = Some(false);
        assert_eq!(hosts.changed(), Some(Host::Xembed));
    }

    #[test]
    fn a_watcher_wins_over_xembed_and_each_change_is_reported_once() {
        let mut hosts = Hosts {
            sni: Some(false),
            ..Hosts::default()
        };
        assert_eq!(hosts.changed(), Some(Host::None));
        assert_eq!(hosts.changed(), None);
        hosts.xembed = true;
        assert_eq!(hosts.changed(), Some(Host::Xembed));
        hosts.sni = Some(true);
        assert_eq!(hosts.changed(), Some(Host::Sni));
        hosts.xembed = false;
        assert_eq!(hosts.changed(), None, "still shown through the watcher");
        hosts.sni = Some(false);
        assert_eq!(hosts.changed(), Some(Host::None));
    }
}
