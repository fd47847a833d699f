//! `set_notifications {enabled}`: turn desktop notifications on or off.
use ser_ctl::protocol::{Ack, ErrorCode, ErrorReply, Message};

use crate::core::Core;

use super::error;

pub fn handle(core: &Core, enabled: bool) -> Result<Message, ErrorReply> {
    if enabled && !core.ui_running() {
        return Err(error(
            ErrorCode::Unavailable,
            "notifications cannot be shown: serd runs without a desktop session (no display, or started with --no-tray --no-notify)",
        ));
    }
    core.set_notifications(enabled);
    Ok(Message::Ok(Ack {
        message: format!("notifications {}", if enabled { "on" } else { "off" }),
        state: None,
    }))
}
