//! `status`: the daemon's state, device, counters and paths.
use ser_ctl::protocol::Message;

use crate::core::Core;

pub fn handle(core: &Core) -> Message {
    Message::Status(core.status())
}
