//! `pause`: close the input; no audio is processed until `resume`.
use ser_ctl::protocol::{Ack, Message};

use crate::core::{AudioCommand, Core};

pub fn handle(core: &Core) -> Message {
    let state = core.audio_request(AudioCommand::Pause);
    Message::Ok(Ack {
        message: "paused".into(),
        state: Some(state),
    })
}
