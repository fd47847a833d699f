//! `history {since, limit}`: past utterances across rotated files, oldest first.
use chrono::{DateTime, Utc};
use ser_ctl::protocol::{self, ErrorCode, ErrorReply, Message};

use super::error;
use crate::core::Core;

pub fn handle(
    core: &Core,
    since: Option<DateTime<Utc>>,
    limit: Option<usize>,
) -> Result<Message, ErrorReply> {
    let (entries, truncated) = core
        .history()
        .read(since, limit)
        .map_err(|e| error(ErrorCode::Internal, e.to_string()))?;
    Ok(Message::History(protocol::History { entries, truncated }))
}
