//! `resume`: reopen the input after `pause`.
use ser_ctl::protocol::{Ack, Message};

use crate::core::{AudioCommand, Core};

pub fn handle(core: &Core) -> Message {
    let state = core.audio_request(AudioCommand::Resume);
    Message::Ok(Ack {
        message: "resumed".into(),
        state: Some(state),
    })
}
