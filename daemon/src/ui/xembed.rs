//! Whether an XEmbed system tray runs on the X display.
//!
//! With no StatusNotifierWatcher on the session bus, libayatana (tray-icon's
//! GTK backend) falls back to an XEmbed icon, which trays such as i3bar,
//! trayer, stalonetray and older panels draw. Such a tray announces itself by
//! owning the selection `_NET_SYSTEM_TRAY_S<screen>` (freedesktop System Tray
//! Protocol); this module asks the X server who owns it, over its own small
//! connection (GTK's is not reachable from safe Rust).

use x11rb::protocol::xproto::{Atom, ConnectionExt};
use x11rb::rust_connection::RustConnection;

/// An X connection and the atom of the screen's system tray selection.
pub struct XembedProbe {
    conn: RustConnection,
    selection: Atom,
}

impl XembedProbe {
    /// Connects to `$DISPLAY`; `None` (logged) where there is no X display to
    /// ask, such as a pure Wayland session, where XEmbed does not exist.
    pub fn connect() -> Option<XembedProbe> {
        std::env::var_os("DISPLAY").filter(|d| !d.is_empty())?;
        let (conn, screen) = match x11rb::connect(None) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("cannot ask X for an XEmbed tray: {e}");
                return None;
            }
        };
        let name = selection_name(screen);
        let selection = match conn
            .intern_atom(false, name.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|c| c.reply().map_err(|e| e.to_string()))
        {
            Ok(r) => r.atom,
            Err(e) => {
                tracing::debug!("cannot ask X for an XEmbed tray ({name}): {e}");
                return None;
            }
        };
        Some(XembedProbe { conn, selection })
    }

    /// Whether some client owns the system tray selection now (false when the
    /// X server does not answer).
    pub fn tray_present(&self) -> bool {
        match self
            .conn
            .get_selection_owner(self.selection)
            .map_err(|e| e.to_string())
            .and_then(|c| c.reply().map_err(|e| e.to_string()))
        {
            Ok(r) => r.owner != x11rb::NONE,
            Err(e) => {
                tracing::debug!("cannot ask X for an XEmbed tray: {e}");
                false
            }
        }
    }
}

/// The selection an XEmbed tray of screen `n` owns.
pub fn selection_name(screen: usize) -> String {
    format!("_NET_SYSTEM_TRAY_S{screen}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_is_named_per_screen() {
        assert_eq!(selection_name(0), "_NET_SYSTEM_TRAY_S0");
        assert_eq!(selection_name(1), "_NET_SYSTEM_TRAY_S1");
    }
}
