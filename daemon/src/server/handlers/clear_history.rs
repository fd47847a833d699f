//! `clear_history`: delete every history file and forget the mood.
use ser_ctl::protocol::{Ack, ErrorCode, ErrorReply, Message};

use super::error;
use crate::core::Core;

pub fn handle(core: &Core) -> Result<Message, ErrorReply> {
    core.history()
        .clear()
        .map_err(|e| error(ErrorCode::Internal, e.to_string()))?;
    core.forget_results();
    tracing::info!("history cleared on request (and the mood with it)");
    Ok(Message::Ok(Ack {
        message: "history cleared".into(),
        state: None,
    }))
}
