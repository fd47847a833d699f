//! `reload`: re-read the config file; an invalid one is reported and the old one kept.
use ser_ctl::protocol::{Ack, ErrorCode, ErrorReply, Message};

use super::error;
use crate::core::Core;

pub fn handle(core: &Core) -> Result<Message, ErrorReply> {
    match core.reload() {
        Ok(()) => Ok(Message::Ok(Ack {
            message: format!(
                "configuration reloaded from {}",
                core.config_path().display()
            ),
            state: None,
        })),
        Err(e) => {
            tracing::warn!("reload refused, keeping the old configuration: {e}");
            Err(error(
                ErrorCode::InvalidConfig,
                format!("{e} (the old configuration stays in effect)"),
            ))
        }
    }
}
