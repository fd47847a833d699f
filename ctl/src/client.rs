//! Blocking client for serd.
//!
//! One [`Client`] is one connection. It reads the daemon's greeting when it
//! connects, then sends [`Request`]s and waits for the reply with the same
//! `id`. No async runtime, no background thread: every call blocks, bounded
//! by the timeouts in [`ClientOptions`].
//!
//! ```no_run
//! use ser_ctl::client::Client;
//!
//! let mut client = Client::connect()?;
//! let mood = client.mood()?;
//! match mood.emotion {
//!     Some(e) => println!("{} {}", e.emoji(), e),
//!     None => println!("no speech heard yet"),
//! }
//! # Ok::<(), ser_ctl::error::Error>(())
//! ```
//!
//! Events come through a [`Subscription`], an iterator:
//!
//! ```no_run
//! use ser_ctl::client::{Client, Event};
//! use ser_ctl::protocol::Topic;
//!
//! for event in Client::connect()?.subscribe(&[Topic::Utterance])? {
//!     if let Event::Utterance(u) = event? {
//!         println!("{} {} {:.0}%", u.emoji, u.emotion, u.confidence * 100.0);
//!     }
//! }
//! # Ok::<(), ser_ctl::error::Error>(())
//! ```

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use interprocess::local_socket::traits::Stream as _;
use interprocess::local_socket::{ConnectOptions, GenericFilePath, Stream, ToFsName};
use interprocess::ConnectWaitMode;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::paths;
use crate::protocol::{
    self, Ack, Devices, FileReport, Hello, History, Lagged, Message, Mood, Request,
    RequestEnvelope, ServerEnvelope, StateChange, Status, Subscribed, Topic, Utterance,
    PROTOCOL_VERSION,
};

/// The longest line this client accepts from the daemon, in bytes.
///
/// Larger than [`protocol::MAX_LINE_BYTES`] on purpose: be liberal in what
/// you accept (a long `history` reply is one line).
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// Events buffered while a request waits for its reply; older ones are
/// dropped beyond this many (and reported as [`Event::Lagged`]).
const MAX_BUFFERED_EVENTS: usize = 4096;

/// Timeouts of a connection. The defaults suit an interactive tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long to wait for the connection to be accepted and greeted. Default 2 s.
    pub connect_timeout: Duration,
    /// How long to wait for each reply; `None` waits forever. Default 30 s.
    pub read_timeout: Option<Duration>,
    /// How long a write may block; `None` waits forever. Default 10 s.
    pub write_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(10)),
        }
    }
}

impl ClientOptions {
    /// Sets [`ClientOptions::connect_timeout`].
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Sets [`ClientOptions::read_timeout`].
    pub fn read_timeout(mut self, t: Option<Duration>) -> Self {
        self.read_timeout = t;
        self
    }

    /// Sets [`ClientOptions::write_timeout`].
    pub fn write_timeout(mut self, t: Option<Duration>) -> Self {
        self.write_timeout = t;
        self
    }

    /// Connects to the default socket ([`paths::socket_path`]) with these options.
    pub fn connect(self) -> Result<Client> {
        self.connect_to(paths::socket_path())
    }

    /// Connects to the socket at `path` with these options.
    pub fn connect_to(self, path: impl AsRef<Path>) -> Result<Client> {
        Client::open(path.as_ref().to_path_buf(), self)
    }
}

/// An event pushed by the daemon after [`Client::subscribe`].
///
/// New kinds of event may be added: match with a wildcard arm. Event types
/// this version does not know are skipped by the client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// One classified utterance.
    Utterance(Utterance),
    /// The current mood changed.
    Mood(Mood),
    /// The daemon's state changed (`stopping` comes just before it closes the connection).
    State(StateChange),
    /// This subscriber fell behind; `dropped` utterance events were discarded.
    Lagged(Lagged),
}

impl Event {
    /// The event's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Utterance(_) => "utterance",
            Event::Mood(_) => "mood",
            Event::State(_) => "state",
            Event::Lagged(_) => "lagged",
        }
    }

    fn from_message(m: Message) -> Option<Event> {
        match m {
            Message::Utterance(u) => Some(Event::Utterance(u)),
            Message::Mood(m) => Some(Event::Mood(m)),
            Message::State(s) => Some(Event::State(s)),
            Message::Lagged(l) => Some(Event::Lagged(l)),
            _ => None,
        }
    }
}

/// One event as it came off the wire: the line (without its newline) and
/// the parsed event. See [`Subscription::next_raw`].
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// The JSON line exactly as the daemon sent it.
    pub line: String,
    /// The parsed event.
    pub event: Event,
}

/// A connection to serd.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<Stream>,
    socket: PathBuf,
    hello: Hello,
    next_id: u64,
    options: ClientOptions,
    /// A line being read when a timeout struck; completed by the next read.
    partial: Vec<u8>,
    /// Events that arrived while waiting for a reply.
    events: VecDeque<RawEvent>,
    /// Events dropped from `events` because it was full.
    dropped: u64,
}

impl Client {
    /// Connects to the daemon at the default socket ([`paths::socket_path`]:
    /// `$SER_SOCKET`, `$XDG_RUNTIME_DIR/ser/serd.sock`, `/tmp/ser-$UID/serd.sock`)
    /// with the default [`ClientOptions`].
    pub fn connect() -> Result<Client> {
        ClientOptions::default().connect()
    }

    /// Connects to the daemon listening on the socket at `path`.
    pub fn connect_to(path: impl AsRef<Path>) -> Result<Client> {
        ClientOptions::default().connect_to(path)
    }

    fn open(socket: PathBuf, options: ClientOptions) -> Result<Client> {
        let name = socket
            .as_os_str()
            .to_fs_name::<GenericFilePath>()
            .map_err(|e| Error::from_connect(socket.clone(), e, options.connect_timeout))?;
        let stream = ConnectOptions::new()
            .name(name)
            .wait_mode(ConnectWaitMode::Timeout(options.connect_timeout))
            .connect_sync()
            .map_err(|e| Error::from_connect(socket.clone(), e, options.connect_timeout))?;
        let io_err = |doing: &str, e: io::Error| Error::Io {
            socket: socket.clone(),
            doing: doing.into(),
            source: e,
        };
        stream
            .set_send_timeout(options.write_timeout)
            .map_err(|e| io_err("setting the write timeout", e))?;
        let mut client = Client {
            reader: BufReader::new(stream),
            socket: socket.clone(),
            hello: Hello {
                protocol: 0,
                daemon: String::new(),
                pid: 0,
            },
            next_id: 1,
            options,
            partial: Vec::new(),
            events: VecDeque::new(),
            dropped: 0,
        };
        client.set_timeout(Some(options.connect_timeout))?;
        let doing = "reading the greeting";
        let (_, value) = client
            .read_value(doing)?
            .ok_or_else(|| Error::Disconnected {
                socket: socket.clone(),
                doing: doing.into(),
            })?;
        client.hello = match parse_envelope(&value) {
            Some(ServerEnvelope {
                message: Message::Hello(h),
                ..
            }) => h,
            _ => {
                return Err(client.protocol_error(
                    doing,
                    format!(
                        "expected a `hello` line, got {}",
                        truncate(&value.to_string())
                    ),
                ))
            }
        };
        client.set_timeout(options.read_timeout)?;
        Ok(client)
    }

    /// The daemon's greeting, read when the connection was made.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// True when the daemon speaks this library's [`PROTOCOL_VERSION`].
    ///
    /// A mismatch is not an error by itself (requests may still work);
    /// callers should warn about it, as `serctl` does on stderr.
    pub fn protocol_matches(&self) -> bool {
        self.hello.protocol == PROTOCOL_VERSION
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The timeouts in force.
    pub fn options(&self) -> ClientOptions {
        self.options
    }

    /// Changes the reply timeout; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.options.read_timeout = timeout;
        self.set_timeout(timeout)
    }

    fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        // A zero timeout means "forever" to the OS; never pass one.
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        self.reader
            .get_ref()
            .set_recv_timeout(timeout)
            .map_err(|e| Error::Io {
                socket: self.socket.clone(),
                doing: "setting the read timeout".into(),
                source: e,
            })
    }

    /// Sends `request` and waits for its reply.
    ///
    /// Requests get increasing ids; the reply with the same id is returned.
    /// Events that arrive meanwhile are kept for [`Subscription`]; lines
    /// whose `type` this client does not know are skipped. An `error` reply
    /// becomes [`Error::Daemon`].
    pub fn request(&mut self, request: Request) -> Result<Message> {
        let id = self.next_id;
        self.next_id += 1;
        let name = request.name();
        let line = protocol::to_line(&RequestEnvelope {
            id: Some(id),
            request,
        });
        self.write_line(&line, name)?;
        let doing = format!("waiting for the reply to `{name}`");
        loop {
            let (text, value) = self
                .read_value(&doing)?
                .ok_or_else(|| Error::Disconnected {
                    socket: self.socket.clone(),
                    doing: doing.clone(),
                })?;
            match value.get("id").and_then(Value::as_u64) {
                Some(got) if got == id => return self.reply(value, name, &doing),
                // A reply to a request this client gave up on (timed out).
                Some(_) => continue,
                None => self.buffer_event(text, value, &doing)?,
            }
        }
    }

    fn reply(&self, value: Value, name: &str, doing: &str) -> Result<Message> {
        match serde_json::from_value::<ServerEnvelope>(value.clone()) {
            Ok(ServerEnvelope {
                message: Message::Error(e),
                ..
            }) => Err(Error::Daemon {
                command: name.to_string(),
                code: e.code,
                message: e.message,
            }),
            Ok(env) => Ok(env.message),
            Err(e) => Err(self.protocol_error(
                doing,
                format!("cannot parse {}: {e}", truncate(&value.to_string())),
            )),
        }
    }

    fn buffer_event(&mut self, text: String, value: Value, doing: &str) -> Result<()> {
        if let Some(ev) = self.parse_event(text, value, doing)? {
            if self.events.len() >= MAX_BUFFERED_EVENTS {
                self.events.pop_front();
                self.dropped += 1;
            }
            self.events.push_back(ev);
        }
        Ok(())
    }

    /// Parses an id-less line as an event; `None` for types this client does not know.
    fn parse_event(&self, line: String, value: Value, doing: &str) -> Result<Option<RawEvent>> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !matches!(kind.as_str(), "utterance" | "mood" | "state" | "lagged") {
            return Ok(None);
        }
        match serde_json::from_value::<ServerEnvelope>(value) {
            Ok(env) => Ok(Event::from_message(env.message).map(|event| RawEvent { line, event })),
            Err(e) => Err(self.protocol_error(
                doing,
                format!("cannot parse the `{kind}` event {}: {e}", truncate(&line)),
            )),
        }
    }

    fn write_line(&mut self, line: &str, name: &str) -> Result<()> {
        let mut stream: &Stream = self.reader.get_ref();
        stream
            .write_all(line.as_bytes())
            .and_then(|()| stream.flush())
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                    socket: self.socket.clone(),
                    doing: format!("sending `{name}`"),
                    after: self.options.write_timeout.unwrap_or_default(),
                },
                _ => Error::Io {
                    socket: self.socket.clone(),
                    doing: format!("sending `{name}`"),
                    source: e,
                },
            })
    }

    /// Reads one line and parses it as a JSON object; `None` at end of
    /// stream. Returns the line's text too.
    fn read_value(&mut self, doing: &str) -> Result<Option<(String, Value)>> {
        let Some(line) = self.read_line(doing)? else {
            return Ok(None);
        };
        let text = String::from_utf8(line)
            .map_err(|_| self.protocol_error(doing, "a line is not valid UTF-8".into()))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            self.protocol_error(doing, format!("not JSON ({e}): {}", truncate(&text)))
        })?;
        if !value.is_object() {
            return Err(self.protocol_error(
                doing,
                format!("expected a JSON object, got {}", truncate(&text)),
            ));
        }
        Ok(Some((text, value)))
    }

    /// Reads one line without its newline. Survives timeouts: a partial
    /// line is kept and completed by the next call.
    fn read_line(&mut self, doing: &str) -> Result<Option<Vec<u8>>> {
        loop {
            let limit = (MAX_REPLY_BYTES + 1).saturating_sub(self.partial.len()) as u64;
            let r = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.partial);
            match r {
                Ok(0) if self.partial.is_empty() => return Ok(None),
                Ok(_) if self.partial.last() == Some(&b'\n') => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue; // blank lines are allowed and ignored
                    }
                    return Ok(Some(line));
                }
                Ok(0) => {
                    // End of stream in the middle of a line.
                    self.partial.clear();
                    return Ok(None);
                }
                Ok(_) if self.partial.len() > MAX_REPLY_BYTES => {
                    self.partial.clear();
                    return Err(self.protocol_error(
                        doing,
                        format!("a line is longer than {MAX_REPLY_BYTES} bytes"),
                    ));
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Error::Timeout {
                        socket: self.socket.clone(),
                        doing: doing.into(),
                        after: self.options.read_timeout.unwrap_or_default(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(Error::Io {
                        socket: self.socket.clone(),
                        doing: doing.into(),
                        source: e,
                    })
                }
            }
        }
    }

    fn protocol_error(&self, doing: &str, detail: String) -> Error {
        Error::Protocol {
            socket: self.socket.clone(),
            doing: doing.into(),
            detail,
        }
    }

    fn unexpected(&self, name: &str, m: Message) -> Error {
        self.protocol_error(
            &format!("waiting for the reply to `{name}`"),
            format!("unexpected reply {}", truncate(&protocol::to_line(&m))),
        )
    }

    fn ack(&mut self, request: Request) -> Result<Ack> {
        let name = request.name();
        match self.request(request)? {
            Message::Ok(a) => Ok(a),
            m => Err(self.unexpected(name, m)),
        }
    }

    /// The daemon's status (`status`).
    pub fn status(&mut self) -> Result<Status> {
        match self.request(Request::Status)? {
            Message::Status(s) => Ok(s),
            m => Err(self.unexpected("status", m)),
        }
    }

    /// The current mood (`mood`).
    pub fn mood(&mut self) -> Result<Mood> {
        match self.request(Request::Mood)? {
            Message::Mood(m) => Ok(m),
            m => Err(self.unexpected("mood", m)),
        }
    }

    /// Past utterances, oldest first (`history`): those that started at or
    /// after `since`, at most the newest `limit`.
    pub fn history(
        &mut self,
        since: Option<DateTime<Utc>>,
        limit: Option<usize>,
    ) -> Result<History> {
        match self.request(Request::History { since, limit })? {
            Message::History(h) => Ok(h),
            m => Err(self.unexpected("history", m)),
        }
    }

    /// Deletes the stored history (`clear_history`).
    pub fn clear_history(&mut self) -> Result<Ack> {
        self.ack(Request::ClearHistory)
    }

    /// Stops processing audio (`pause`).
    pub fn pause(&mut self) -> Result<Ack> {
        self.ack(Request::Pause)
    }

    /// Resumes processing audio (`resume`).
    pub fn resume(&mut self) -> Result<Ack> {
        self.ack(Request::Resume)
    }

    /// Asks the daemon to exit (`shutdown`).
    pub fn shutdown(&mut self) -> Result<Ack> {
        self.ack(Request::Shutdown)
    }

    /// Re-reads the daemon's configuration file (`reload`).
    pub fn reload(&mut self) -> Result<Ack> {
        self.ack(Request::Reload)
    }

    /// Turns desktop notifications on or off (`set_notifications`).
    pub fn set_notifications(&mut self, enabled: bool) -> Result<Ack> {
        self.ack(Request::SetNotifications { enabled })
    }

    /// Input devices the daemon can open (`devices`); `all` also lists the
    /// ALSA plugins that are no capture source.
    pub fn devices(&mut self, all: bool) -> Result<Devices> {
        match self.request(Request::Devices { all })? {
            Message::Devices(d) => Ok(d),
            m => Err(self.unexpected("devices", m)),
        }
    }

    /// Analyses an audio file with the daemon's model (`analyze`). The path
    /// is resolved by the daemon: pass an absolute one.
    ///
    /// Analysis can take a while; the read timeout is lifted to at least
    /// five minutes for this request.
    pub fn analyze(&mut self, path: impl Into<PathBuf>) -> Result<FileReport> {
        let saved = self.options.read_timeout;
        let longer = saved.map(|t| t.max(Duration::from_secs(300)));
        self.set_timeout(longer)?;
        let r = self.request(Request::Analyze { path: path.into() });
        self.set_timeout(saved)?;
        match r? {
            Message::Analysis(a) => Ok(a),
            m => Err(self.unexpected("analyze", m)),
        }
    }

    /// Subscribes this connection to `topics` (all of them when empty) and
    /// turns it into a [`Subscription`], an iterator over events.
    ///
    /// The read timeout is lifted (events may be minutes apart); set one
    /// with [`Subscription::set_timeout`] to wake up periodically.
    pub fn subscribe(mut self, topics: &[Topic]) -> Result<Subscription> {
        let subscribed: Subscribed = match self.request(Request::Subscribe {
            topics: topics.to_vec(),
        })? {
            Message::Subscribed(s) => s,
            m => return Err(self.unexpected("subscribe", m)),
        };
        self.set_timeout(None)?;
        Ok(Subscription {
            client: self,
            topics: subscribed.topics,
        })
    }
}

/// Events of a subscribed connection, as an iterator.
///
/// Yields `Ok(event)` for each event, skipping types this client does not
/// know. It ends (`None`) when the daemon closes the connection, e.g. after
/// a `state` event with `stopping`. A read timeout (if one was set) yields
/// `Err(Error::Timeout)` and the iterator can be resumed.
#[derive(Debug)]
pub struct Subscription {
    client: Client,
    topics: Vec<Topic>,
}

impl Subscription {
    /// The topics the daemon confirmed.
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    /// The daemon's greeting.
    pub fn hello(&self) -> &Hello {
        self.client.hello()
    }

    /// The connection, for requests in between events (events that arrive
    /// while a request waits are kept and yielded later).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Sets how long [`Iterator::next`] waits for an event; `None` (the
    /// default after subscribing) waits forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.client.set_read_timeout(timeout)
    }

    /// The next event together with its line as received; `Ok(None)` when
    /// the daemon closed the connection.
    pub fn next_raw(&mut self) -> Result<Option<RawEvent>> {
        let c = &mut self.client;
        if c.dropped > 0 {
            let dropped = std::mem::take(&mut c.dropped);
            let lagged = ServerEnvelope {
                id: None,
                message: Message::Lagged(Lagged { dropped }),
            };
            let line = protocol::to_line(&lagged).trim_end().to_string();
            return Ok(Some(RawEvent {
                line,
                event: Event::Lagged(Lagged { dropped }),
            }));
        }
        if let Some(ev) = c.events.pop_front() {
            return Ok(Some(ev));
        }
        let doing = "waiting for events";
        loop {
            let Some((text, value)) = c.read_value(doing)? else {
                return Ok(None);
            };
            if value.get("id").is_some() {
                continue; // a late reply to an abandoned request
            }
            if let Some(ev) = c.parse_event(text, value, doing)? {
                return Ok(Some(ev));
            }
        }
    }

    /// Gives the connection back (still subscribed).
    pub fn into_client(self) -> Client {
        self.client
    }
}

impl Iterator for Subscription {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_raw() {
            Ok(Some(raw)) => Some(Ok(raw.event)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

fn parse_envelope(value: &Value) -> Option<ServerEnvelope> {
    serde_json::from_value(value.clone()).ok()
}

fn truncate(s: &str) -> String {
    const MAX: usize = 200;
    let s = s.trim_end();
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests;
