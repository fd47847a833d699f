//! `set_notifications {enabled}`: turn desktop notifications on or off.
use ser_ctl::protocol::{Ack, Message};

use crate::core::Core;

pub fn handle(core: &Core, enabled: bool) -> Message {
    core.set_notifications(enabled);
    Message::Ok(Ack {
        message: format!("notifications {}", if enabled { "on" } else { "off" }),
        state: None,
    })
}
