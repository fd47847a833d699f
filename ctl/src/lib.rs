//! `ser-ctl`: talk to `serd`, the ser speech-emotion daemon.
//!
//! * [`protocol`]: the message types of protocol v1 (JSON Lines; see `PROTOCOL.md`).
//! * [`paths`]: where the socket lives.
//! * [`client`]: a small blocking client: requests with typed replies, and subscriptions.
//! * [`error`]: what can go wrong, with a hint for each case.
//! * `report` (feature `models`): an analysis as a protocol `FileReport` (serctl analyze and serd share it).
//!
//! The library pulls in no async runtime and no audio code. Build it with
//! `default-features = false` to leave out the `serctl` binary's dependencies.

pub mod client;
pub mod error;
pub mod paths;
pub mod protocol;
#[cfg(feature = "models")]
pub mod report;

pub use client::{Client, ClientOptions, Event, Subscription};
pub use error::{Error, Result};
pub use protocol::{Emotion, Probs, PROTOCOL_VERSION};
