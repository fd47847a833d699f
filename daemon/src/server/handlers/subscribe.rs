//! `subscribe {topics}`: this connection starts receiving events.
use ser_ctl::protocol::Topic;

use super::Outcome;

pub fn handle(topics: Vec<Topic>) -> Outcome {
    Outcome::Subscribe(topics)
}
