//! `devices`: the input devices the daemon can open.
use ser_ctl::protocol::{Devices, Message};

use crate::core::Core;

pub fn handle(core: &Core, all: bool) -> Message {
    Message::Devices(Devices {
        devices: crate::audio::capture::list_devices(core.device().as_deref(), all),
    })
}
