//! One client connection: greeting, request lines, replies, and (after
//! `subscribe`) a writer thread for pushed events.

use std::io::{self, BufRead, BufReader, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ser_ctl::protocol::{
    self, ErrorCode, ErrorReply, Hello, Lagged, Message, ServerEnvelope, MAX_LINE_BYTES,
    PROTOCOL_VERSION,
};

use super::handlers::{self, Outcome};
use super::subscribers::{Batch, Subscriber};
use super::ServerOptions;
use crate::core::Core;

/// One line read from a client.
#[derive(Debug, PartialEq)]
pub enum LineRead {
    Line,
    /// The line exceeded the limit; it was discarded without being buffered.
    TooLong,
    Eof,
}

/// Reads one `\n`-terminated line into `buf` (without the newline), holding
/// at most `max` bytes: the rest of a longer line is skipped as it arrives.
pub fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if too_long {
                LineRead::TooLong
            } else if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let (chunk, used, end) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
                buf.shrink_to(max.min(64 * 1024));
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(used);
        if end {
            if too_long {
                return Ok(LineRead::TooLong);
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(LineRead::Line);
        }
    }
}

type Writer = Arc<Mutex<UnixStream>>;

fn write_msg(w: &Writer, id: Option<u64>, message: Message) -> io::Result<()> {
    let line = protocol::to_line(&ServerEnvelope { id, message });
    let mut s = w.lock().unwrap_or_else(|p| p.into_inner());
    s.write_all(line.as_bytes())
}

struct Subscription {
    sub: Arc<Subscriber>,
    thread: JoinHandle<()>,
}

/// Serves one connection until the client leaves, a write fails or the server stops.
pub fn serve(core: Arc<Core>, stream: UnixStream, opts: &ServerOptions) {
    core.client_connected();
    if let Err(e) = serve_inner(&core, stream, opts) {
        tracing::debug!("client connection ended: {e}");
    }
    core.client_disconnected();
}

fn serve_inner(core: &Arc<Core>, stream: UnixStream, opts: &ServerOptions) -> io::Result<()> {
    stream.set_write_timeout(Some(opts.write_timeout))?;
    let writer: Writer = Arc::new(Mutex::new(stream.try_clone()?));
    let shutdown_handle = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut subscription: Option<Subscription> = None;
    let result = (|| {
        write_msg(
            &writer,
            None,
            Message::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                daemon: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
            }),
        )?;
        let mut buf = Vec::with_capacity(1024);
        loop {
            let (id, result) = match read_line(&mut reader, &mut buf, MAX_LINE_BYTES)? {
                LineRead::Eof => return Ok(()),
                LineRead::TooLong => (
                    None,
                    Err(ErrorReply {
                        code: ErrorCode::LineTooLong,
                        message: format!(
                            "request line longer than {MAX_LINE_BYTES} bytes; discarded"
                        ),
                    }),
                ),
                LineRead::Line if buf.iter().all(u8::is_ascii_whitespace) => continue,
                LineRead::Line => handlers::handle_line(core, &buf),
            };
            let mut close_after = false;
            let message = match result {
                Ok(Outcome::Reply(m)) => m,
                Ok(Outcome::Subscribe(topics)) => {
                    if let Some(old) = subscription.take() {
                        core.subscribers.remove(old.sub.id());
                        old.sub.close();
                        let _ = old.thread.join();
                    }
                    let sub = core.subscribers.add(&topics);
                    let reply = Message::Subscribed(protocol::Subscribed {
                        topics: sub.topics().to_vec(),
                    });
                    // The reply goes out before any event, and the current state comes first.
                    write_msg(&writer, id, reply)?;
                    let first_state = sub
                        .topics()
                        .contains(&protocol::Topic::State)
                        .then(|| core.state_change());
                    let first_mood = sub
                        .topics()
                        .contains(&protocol::Topic::Mood)
                        .then(|| core.mood());
                    let (w, s, c, sh) = (
                        writer.clone(),
                        sub.clone(),
                        core.clone(),
                        shutdown_handle.try_clone()?,
                    );
                    let thread = std::thread::Builder::new()
                        .name(format!("events-{}", sub.id()))
                        .stack_size(opts.stack_size)
                        .spawn(move || {
                            if let Err(e) = event_writer(&w, &s, first_state, first_mood) {
                                tracing::info!(subscriber = s.id(), "dropping subscriber: {e}");
                                let _ = sh.shutdown(Shutdown::Both);
                            }
                            c.subscribers.remove(s.id());
                        })?;
                    subscription = Some(Subscription { sub, thread });
                    continue;
                }
                Ok(Outcome::ReplyThenStop(m, reason)) => {
                    write_msg(&writer, id, m)?;
                    core.request_stop(reason);
                    continue;
                }
                Err(e) => {
                    if e.code == ErrorCode::ShuttingDown {
                        close_after = true;
                    }
                    Message::Error(e)
                }
            };
            write_msg(&writer, id, message)?;
            if close_after {
                return Ok(());
            }
        }
    })();
    if let Some(s) = subscription {
        core.subscribers.remove(s.sub.id());
        s.sub.close();
        let _ = shutdown_handle.shutdown(Shutdown::Both);
        let _ = s.thread.join();
    }
    result
}

fn event_writer(
    w: &Writer,
    sub: &Subscriber,
    first_state: Option<protocol::StateChange>,
    first_mood: Option<protocol::Mood>,
) -> io::Result<()> {
    if let Some(s) = first_state {
        write_msg(w, None, Message::State(s))?;
    }
    if let Some(m) = first_mood {
        write_msg(w, None, Message::Mood(m))?;
    }
    while let Some(batch) = sub.next_batch(Duration::from_secs(3600)) {
        write_batch(w, batch)?;
    }
    Ok(())
}

fn write_batch(w: &Writer, b: Batch) -> io::Result<()> {
    if let Some(s) = b.state {
        write_msg(w, None, Message::State(s))?;
    }
    for u in b.utterances {
        write_msg(w, None, Message::Utterance(u))?;
    }
    if b.dropped > 0 {
        write_msg(w, None, Message::Lagged(Lagged { dropped: b.dropped }))?;
    }
    if let Some(m) = b.mood {
        write_msg(w, None, Message::Mood(m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize, cap: usize) -> Vec<Result<String, &'static str>> {
        let mut r = BufReader::with_capacity(cap, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, &mut buf, max).unwrap() {
                LineRead::Eof => return out,
                LineRead::TooLong => out.push(Err("too long")),
                LineRead::Line => out.push(Ok(String::from_utf8(buf.clone()).unwrap())),
            }
        }
    }

    #[test]
    fn splits_lines_and_discards_overlong_ones_whatever_the_buffer_size() {
        let mut input = b"a\r\nbb\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend(b"\nccc\nlast");
        for cap in [1, 3, 8, 64, 1024] {
            assert_eq!(
                lines(&input, 10, cap),
                vec![
                    Ok("a".into()),
                    Ok("bb".into()),
                    Err("too long"),
                    Ok("ccc".into()),
                    Ok("last".into())
                ],
                "buffer {cap}"
            );
        }
        // Exactly at the limit is fine.
        assert_eq!(lines(b"0123456789\n", 10, 4), vec![Ok("0123456789".into())]);
        assert_eq!(lines(b"0123456789A", 10, 4), vec![Err("too long")]);
    }
}
