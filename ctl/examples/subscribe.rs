//! Prints each utterance serd classifies, one line each, until serd stops.
//!
//! ```sh
//! cargo run -p ser-ctl --no-default-features --example subscribe
//! ```
//!
//! Connects to the socket `serctl` would use (`$SER_SOCKET`, else
//! `$XDG_RUNTIME_DIR/ser/serd.sock`, else `/tmp/ser-$UID/serd.sock`).

use ser_ctl::client::{Client, Event};
use ser_ctl::protocol::Topic;

fn main() {
    if let Err(e) = run() {
        eprintln!("subscribe: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), ser_ctl::Error> {
    let client = Client::connect()?;
    if !client.protocol_matches() {
        eprintln!(
            "warning: serd speaks protocol {}, this example {}",
            client.hello().protocol,
            ser_ctl::PROTOCOL_VERSION
        );
    }
    for event in client.subscribe(&[Topic::Utterance])? {
        match event? {
            Event::Utterance(u) => println!(
                "{} {} {} {:.0}% ({:.1} s)",
                u.start.with_timezone(&chrono::Local).format("%H:%M:%S"),
                u.emoji,
                u.emotion,
                u.confidence * 100.0,
                u.duration_s
            ),
            Event::Lagged(l) => eprintln!("(missed {} utterances)", l.dropped),
            _ => {}
        }
    }
    Ok(())
}
