//! `mood`: the decaying, confidence-weighted mood right now.
use ser_ctl::protocol::Message;

use crate::core::Core;

pub fn handle(core: &Core) -> Message {
    Message::Mood(core.mood())
}
