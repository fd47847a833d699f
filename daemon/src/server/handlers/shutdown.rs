//! `shutdown`: reply, then stop after finishing the utterance in hand.
use ser_ctl::protocol::{Ack, DaemonState, Message};

use super::Outcome;
use crate::core::StopReason;

pub fn handle() -> Outcome {
    Outcome::ReplyThenStop(
        Message::Ok(Ack {
            message: "shutting down".into(),
            state: Some(DaemonState::Stopping),
        }),
        StopReason::Request,
    )
}
