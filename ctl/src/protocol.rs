//! The wire protocol between `serd` and its clients, version [`PROTOCOL_VERSION`].
//!
//! Transport: a Unix-domain socket (see [`crate::paths`]), UTF-8, one JSON
//! object per line (JSON Lines); request lines at most [`MAX_LINE_BYTES`] long
//! (replies, e.g. a long `history`, may be longer).
//! The full prose description, with an example of every message, is
//! `ctl/PROTOCOL.md`; this module is its single source of truth in code.
//!
//! * The daemon speaks first: a [`Message::Hello`] line.
//! * A client sends [`RequestEnvelope`]s: `{"id":3,"cmd":"mood"}`.
//! * Every request gets exactly one reply, a [`ServerEnvelope`] echoing the
//!   request's `id`: `{"id":3,"type":"mood","data":{...}}`, or
//!   `{"id":3,"type":"error","data":{"code":"unknown_command","message":"..."}}`.
//! * After `subscribe`, the daemon also pushes events, which carry no `id`:
//!   `utterance`, `mood`, `state`, and `lagged` when the client fell behind.
//!
//! Clients must ignore unknown fields and skip messages whose `type` they do
//! not know: this list may expand within a protocol version.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of this protocol. Bumped only for incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the daemon accepts, in bytes, newline excluded.
/// Longer request lines are answered with [`ErrorCode::LineTooLong`] and
/// discarded. Reply lines are not bound by it (a `history` reply can be large).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The largest `limit` a `history` request may ask for; larger values are clamped.
pub const MAX_HISTORY_LIMIT: usize = 10_000;

/// The eight emotions of the RAVDESS set, in the canonical order used by
/// every model, probability vector and table in ser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Emotion {
    Neutral,
    Calm,
    Happy,
    Sad,
    Angry,
    Fearful,
    Disgust,
    Surprised,
}

impl Emotion {
    /// All emotions, in canonical order (index = position in [`Probs`]).
    pub const ALL: [Emotion; 8] = [
        Emotion::Neutral,
        Emotion::Calm,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Angry,
        Emotion::Fearful,
        Emotion::Disgust,
        Emotion::Surprised,
    ];

    /// The lower-case label used on the wire and in model metadata.
    pub fn label(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Calm => "calm",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Angry => "angry",
            Emotion::Fearful => "fearful",
            Emotion::Disgust => "disgust",
            Emotion::Surprised => "surprised",
        }
    }

    /// The label with a capital first letter, for people.
    pub fn title(self) -> &'static str {
        match self {
            Emotion::Neutral => "Neutral",
            Emotion::Calm => "Calm",
            Emotion::Happy => "Happy",
            Emotion::Sad => "Sad",
            Emotion::Angry => "Angry",
            Emotion::Fearful => "Fearful",
            Emotion::Disgust => "Disgust",
            Emotion::Surprised => "Surprised",
        }
    }

    /// The colour emoji shown for this emotion (tray, notifications, CLI).
    pub fn emoji(self) -> &'static str {
        match self {
            Emotion::Neutral => "😐",
            Emotion::Calm => "😌",
            Emotion::Happy => "😄",
            Emotion::Sad => "😢",
            Emotion::Angry => "😠",
            Emotion::Fearful => "😨",
            Emotion::Disgust => "🤢",
            Emotion::Surprised => "😲",
        }
    }

    /// Position in [`Emotion::ALL`] and in [`Probs`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a label (`"angry"`), case-insensitively.
    pub fn from_label(label: &str) -> Option<Emotion> {
        Emotion::ALL
            .into_iter()
            .find(|e| e.label().eq_ignore_ascii_case(label.trim()))
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Emotion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Emotion::from_label(s).ok_or_else(|| {
            let all: Vec<_> = Emotion::ALL.iter().map(|e| e.label()).collect();
            format!(
                "unknown emotion {s:?} (expected one of: {})",
                all.join(", ")
            )
        })
    }
}

/// A probability for each of the eight emotions, in canonical order.
///
/// On the wire it is an object keyed by label, in canonical order:
/// `{"neutral":0.02,"calm":0.01,"happy":0.80,...}`. Values sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Probs(pub [f32; 8]);

impl Probs {
    /// The probability of one emotion.
    pub fn get(&self, e: Emotion) -> f32 {
        self.0[e.index()]
    }

    /// The most probable emotion and its probability (ties go to the earlier label).
    pub fn top(&self) -> (Emotion, f32) {
        let mut best = 0;
        for i in 1..8 {
            if self.0[i] > self.0[best] {
                best = i;
            }
        }
        (Emotion::ALL[best], self.0[best])
    }

    /// Emotions sorted by probability, highest first.
    pub fn ranked(&self) -> Vec<(Emotion, f32)> {
        let mut v: Vec<_> = Emotion::ALL.iter().map(|&e| (e, self.get(e))).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

impl Serialize for Probs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(8))?;
        for e in Emotion::ALL {
            m.serialize_entry(e.label(), &self.0[e.index()])?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Probs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, f32>::deserialize(d)?;
        let mut p = [0.0f32; 8];
        let mut seen = [false; 8];
        for (k, v) in map {
            // Unknown keys are ignored, as everywhere in the protocol.
            if let Some(e) = Emotion::from_label(&k) {
                p[e.index()] = v;
                seen[e.index()] = true;
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(serde::de::Error::custom(format!(
                "probs is missing the label {:?}",
                Emotion::ALL[i].label()
            )));
        }
        Ok(Probs(p))
    }
}

/// What the daemon is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DaemonState {
    /// Capturing and classifying.
    Listening,
    /// Paused by the user: no audio is processed at all.
    Paused,
    /// No usable input device; retrying with backoff.
    NoDevice,
    /// Shutting down (sent to subscribers just before the connection closes).
    Stopping,
}

impl DaemonState {
    pub fn label(self) -> &'static str {
        match self {
            DaemonState::Listening => "listening",
            DaemonState::Paused => "paused",
            DaemonState::NoDevice => "no_device",
            DaemonState::Stopping => "stopping",
        }
    }
}

impl fmt::Display for DaemonState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Subscription topics for [`Request::Subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// One event per classified utterance (queued, never coalesced).
    Utterance,
    /// The current mood, whenever it changes (coalesced: only the latest is kept).
    Mood,
    /// Daemon state changes (coalesced).
    State,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Utterance, Topic::Mood, Topic::State];
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// One request line: `{"id":3,"cmd":"history","limit":10}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// Echoed in the reply. Optional, but clients should always send one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub request: Request,
}

/// A command, tagged by `cmd`. Arguments sit beside `cmd` in the same object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Daemon status. Reply: [`Message::Status`].
    Status,
    /// The current (decaying, confidence-weighted) mood. Reply: [`Message::Mood`].
    Mood,
    /// Past utterances, oldest first. Reply: [`Message::History`].
    History {
        /// Only utterances that started at or after this instant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
        /// At most this many (the newest ones). Clamped to [`MAX_HISTORY_LIMIT`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// Delete the stored history. Reply: [`Message::Ok`].
    ClearHistory,
    /// Stop processing audio (the device is closed). Reply: [`Message::Ok`].
    Pause,
    /// Resume processing audio. Reply: [`Message::Ok`].
    Resume,
    /// Receive events on this connection. Reply: [`Message::Subscribed`], then events.
    Subscribe {
        /// Topics to receive; empty or absent means all.
        #[serde(default)]
        topics: Vec<Topic>,
    },
    /// Input devices the daemon can open. Reply: [`Message::Devices`].
    Devices {
        /// Also list the ALSA plugins that are no capture source (rate
        /// converters, `null`, up/down-mixers, output-only PCMs).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
    /// Turn desktop notifications on or off at run time. Reply: [`Message::Ok`].
    SetNotifications { enabled: bool },
    /// Analyse an audio file on disk with the daemon's model. Reply: [`Message::Analysis`].
    Analyze { path: PathBuf },
    /// Re-read the configuration file. Reply: [`Message::Ok`] or an `invalid_config` error.
    Reload,
    /// Stop the daemon after finishing the utterance in hand. Reply: [`Message::Ok`].
    Shutdown,
}

/// Writes [`Request::NAMES`] and [`Request::name`] from one list, so the two
/// cannot drift: the `match` in `name` is exhaustive, so a variant missing
/// here does not compile, and `ctl/tests/protocol_doc.rs` checks each name
/// against the serde tag and PROTOCOL.md's examples.
macro_rules! request_names {
    ($($variant:ident => $name:literal,)*) => {
        impl Request {
            /// Every command name (`cmd`) a request can carry: the daemon
            /// refuses any other as `unknown_command`. Each is the
            /// [`name`](Self::name) of one variant.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The `cmd` tag of this request.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Request::$variant { .. } => $name,)*
                }
            }
        }
    };
}

request_names! {
    Status => "status",
    Mood => "mood",
    History => "history",
    ClearHistory => "clear_history",
    Pause => "pause",
    Resume => "resume",
    Subscribe => "subscribe",
    Devices => "devices",
    SetNotifications => "set_notifications",
    Analyze => "analyze",
    Reload => "reload",
    Shutdown => "shutdown",
}

// ---------------------------------------------------------------------------
// Server messages (replies and events)
// ---------------------------------------------------------------------------

/// One line from the daemon. Replies carry the request's `id`; the greeting
/// and pushed events carry none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerEnvelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub message: Message,
}

/// Everything the daemon sends, tagged by `type`, payload in `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Message {
    /// First line on every connection.
    Hello(Hello),
    Status(Status),
    /// Reply to `mood`, and the `mood` event.
    Mood(Mood),
    History(History),
    /// Generic success for commands with nothing else to say.
    Ok(Ack),
    Subscribed(Subscribed),
    Devices(Devices),
    Analysis(FileReport),
    /// Event: one classified utterance.
    Utterance(Utterance),
    /// Event: the daemon's state changed.
    State(StateChange),
    /// Event: this subscriber fell behind and `dropped` utterance events were discarded.
    Lagged(Lagged),
    Error(ErrorReply),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version ([`PROTOCOL_VERSION`]), not the daemon's version.
    pub protocol: u32,
    /// The daemon's version (informative).
    pub daemon: String,
    pub pid: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: DaemonState,
    /// Name of the open input device, or `file:PATH` for file input; `null` when none.
    pub device: Option<String>,
    /// Why the daemon is in `no_device`, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_error: Option<String>,
    /// Version string of the loaded model (from its metadata).
    pub model: String,
    pub daemon: String,
    pub pid: u32,
    pub started: DateTime<Utc>,
    pub uptime_s: f64,
    /// Utterances classified since start.
    pub utterances: u64,
    /// Audio blocks lost because the pipeline fell behind the capture callback.
    pub overruns: u64,
    /// Connections currently subscribed to events.
    pub subscribers: u32,
    /// Connections currently open (subscribers included).
    pub clients: u32,
    pub notifications: bool,
    pub tray: bool,
    /// Where history is appended.
    pub history_path: PathBuf,
}

/// The mood: a decaying, confidence-weighted average of recent utterances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mood {
    pub status: MoodStatus,
    /// The leading emotion; `null` when no speech was heard yet or recently.
    pub emotion: Option<Emotion>,
    pub emoji: Option<String>,
    /// Weighted share of the leading emotion, 0..1; `null` with `emotion`.
    pub confidence: Option<f32>,
    pub probs: Option<Probs>,
    /// When the last utterance that contributed ended.
    pub last_heard: Option<DateTime<Utc>>,
    /// Utterances that contributed since start.
    pub utterances: u64,
    /// The half-life of the average, in seconds.
    pub half_life_s: f64,
    /// When this reading was computed.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoodStatus {
    /// Nothing heard since the daemon started.
    NoSpeechYet,
    /// Based on speech heard recently.
    Current,
    /// The last speech was so long ago (over `stale_after` half-lives) that the reading no longer counts.
    Stale,
}

/// One classified utterance (a VAD segment or an 8 s window of a longer one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// Sequence number since the daemon started, from 1; gaps mean lost events.
    pub seq: u64,
    /// When the utterance began (RFC 3339, UTC).
    pub start: DateTime<Utc>,
    pub duration_s: f64,
    pub emotion: Emotion,
    pub emoji: String,
    pub confidence: f32,
    pub probs: Probs,
    /// Version of the model that classified it.
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub entries: Vec<Utterance>,
    /// True when `limit` cut older matching entries off.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Ack {
    /// A short human-readable confirmation.
    #[serde(default)]
    pub message: String,
    /// The daemon state after the command, when it is relevant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DaemonState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub topics: Vec<Topic>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Devices {
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// What `serd --device` and `[audio] device` take: the ALSA PCM name
    /// (`default`, `pulse`, `sysdefault:CARD=PCH`, `plughw:CARD=0,DEV=0`...).
    pub name: String,
    /// The sound system's words for it ("Default Audio Device", "HDA Intel
    /// PCH, ALC892 Analog"), when it has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The host's default input device.
    pub default: bool,
    /// The device the daemon is capturing from right now.
    pub in_use: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub state: DaemonState,
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lagged {
    /// Utterance events discarded for this subscriber since its last `lagged`.
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
}

/// Stable error codes. New codes may be added; clients treat unknown ones as `internal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not a JSON object.
    Malformed,
    /// `cmd` is missing or names no known command.
    UnknownCommand,
    /// The command's arguments are missing, of the wrong type or out of range.
    InvalidArgument,
    /// The line exceeded [`MAX_LINE_BYTES`]; it was discarded.
    LineTooLong,
    /// An `analyze` request failed (file missing, unreadable, not audio, not a regular file...).
    AnalysisFailed,
    /// The configuration file is invalid (on `reload`).
    InvalidConfig,
    /// The daemon is shutting down and accepts no more commands.
    ShuttingDown,
    /// The daemon cannot do this here (e.g. notifications with no desktop session).
    Unavailable,
    /// A bug or an unexpected I/O failure inside the daemon.
    Internal,
    /// A code this client does not know (never sent by the daemon).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::AnalysisFailed => "analysis_failed",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Offline analysis report (`serctl analyze --json`, and the `analyze` request)
// ---------------------------------------------------------------------------

/// The analysis of one audio file: one JSON object per file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub path: PathBuf,
    /// Length of the decoded audio, in seconds.
    pub duration_s: f64,
    /// The file's own sample rate and channel count, before downmix/resampling.
    pub sample_rate: u32,
    pub channels: u16,
    /// Whole-file verdict (duration-weighted mean of the segments' probabilities);
    /// `null` when no speech was found.
    pub emotion: Option<Emotion>,
    pub emoji: Option<String>,
    pub confidence: Option<f32>,
    pub probs: Option<Probs>,
    /// One entry per voiced utterance found by the VAD, in time order.
    pub segments: Vec<Segment>,
    /// Version of the model used.
    pub model: String,
    /// Present when there is something to say, e.g. "no speech detected".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub emotion: Emotion,
    pub emoji: String,
    pub confidence: f32,
    pub probs: Probs,
}

/// Encodes one message as a line (with the trailing `\n`).
pub fn to_line<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).expect("protocol types always serialise");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        let r: RequestEnvelope = serde_json::from_str(r#"{"id":3,"cmd":"mood"}"#).unwrap();
        assert_eq!(r.id, Some(3));
        assert_eq!(r.request, Request::Mood);
        let r: RequestEnvelope =
            serde_json::from_str(r#"{"id":4,"cmd":"history","limit":10,"extra":true}"#).unwrap();
        assert_eq!(
            r.request,
            Request::History {
                since: None,
                limit: Some(10)
            }
        );
        let r: RequestEnvelope = serde_json::from_str(r#"{"cmd":"subscribe"}"#).unwrap();
        assert_eq!(r.request, Request::Subscribe { topics: vec![] });
        assert!(serde_json::from_str::<RequestEnvelope>(r#"{"id":1,"cmd":"fly"}"#).is_err());
        let s = serde_json::to_string(&RequestEnvelope {
            id: Some(7),
            request: Request::SetNotifications { enabled: false },
        })
        .unwrap();
        assert_eq!(s, r#"{"id":7,"cmd":"set_notifications","enabled":false}"#);
    }

    #[test]
    fn server_wire_format_round_trips() {
        let msg = ServerEnvelope {
            id: Some(9),
            message: Message::Error(ErrorReply {
                code: ErrorCode::UnknownCommand,
                message: "no such command".into(),
            }),
        };
        let line = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            line,
            r#"{"id":9,"type":"error","data":{"code":"unknown_command","message":"no such command"}}"#
        );
        assert_eq!(serde_json::from_str::<ServerEnvelope>(&line).unwrap(), msg);

        let hello = ServerEnvelope {
            id: None,
            message: Message::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                daemon: "0.1.0".into(),
                pid: 42,
            }),
        };
        let line = serde_json::to_string(&hello).unwrap();
        assert_eq!(
            line,
            r#"{"type":"hello","data":{"protocol":1,"daemon":"0.1.0","pid":42}}"#
        );
        let ok = serde_json::to_string(&ServerEnvelope {
            id: Some(1),
            message: Message::Ok(Ack::default()),
        })
        .unwrap();
        assert_eq!(ok, r#"{"id":1,"type":"ok","data":{"message":""}}"#);
    }

    #[test]
    fn probs_are_an_object_in_canonical_order() {
        let p = Probs([0.1, 0.0, 0.6, 0.1, 0.1, 0.05, 0.05, 0.0]);
        let s = serde_json::to_string(&p).unwrap();
        assert!(
            s.starts_with(r#"{"neutral":0.1,"calm":0.0,"happy":0.6"#),
            "{s}"
        );
        let back: Probs = serde_json::from_str(&s).unwrap();
        assert_eq!(back, p);
        assert_eq!(p.top(), (Emotion::Happy, 0.6));
        assert!(serde_json::from_str::<Probs>(r#"{"neutral":1.0}"#).is_err());
    }

    #[test]
    fn emotion_labels() {
        for e in Emotion::ALL {
            assert_eq!(Emotion::from_label(e.label()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.label())
            );
        }
        assert_eq!("ANGRY".parse::<Emotion>(), Ok(Emotion::Angry));
        assert!("bored".parse::<Emotion>().is_err());
    }

    #[test]
    fn unknown_error_codes_are_tolerated() {
        let e: ErrorReply =
            serde_json::from_str(r#"{"code":"from_the_future","message":"x"}"#).unwrap();
        assert_eq!(e.code, ErrorCode::Unknown);
    }
}
