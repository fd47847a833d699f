//! The client against an in-process fake server on a temporary socket.
//! (The real daemon is exercised by the end-to-end tests in `tests/`.)

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use interprocess::local_socket::traits::Listener as _;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, Stream, ToFsName};

use super::*;
use crate::protocol::{DaemonState, Emotion, ErrorCode, MoodStatus};

const HELLO: &str = r#"{"type":"hello","data":{"protocol":1,"daemon":"0.1.0","pid":4242}}"#;

/// One scripted connection: the server side gets a line reader and a writer.
struct Conn {
    reader: BufReader<Stream>,
}

impl Conn {
    fn send(&mut self, line: &str) {
        let mut s: &Stream = self.reader.get_ref();
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
    }

    fn recv(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad request {line:?}: {e}"))
    }
}

/// Binds a socket in a fresh temp dir and serves one connection with `script`.
fn serve(
    script: impl FnOnce(&mut Conn) + Send + 'static,
) -> (tempfile::TempDir, PathBuf, JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serd.sock");
    let listener = ListenerOptions::new()
        .name(path.as_os_str().to_fs_name::<GenericFilePath>().unwrap())
        .create_sync()
        .unwrap();
    let handle = std::thread::spawn(move || {
        let stream = listener.accept().unwrap();
        let mut conn = Conn {
            reader: BufReader::new(stream),
        };
        script(&mut conn);
    });
    (dir, path, handle)
}

fn mood_json(emotion: &str) -> String {
    format!(
        r#"{{"status":"current","emotion":"{emotion}","emoji":"😠","confidence":0.83,"probs":{{"neutral":0.02,"calm":0.01,"happy":0.03,"sad":0.02,"angry":0.83,"fearful":0.04,"disgust":0.03,"surprised":0.02}},"last_heard":"2025-01-01T10:00:00Z","utterances":3,"half_life_s":30.0,"at":"2025-01-01T10:00:12Z"}}"#
    )
}

fn utterance_json(seq: u64) -> String {
    format!(
        r#"{{"type":"utterance","data":{{"seq":{seq},"start":"2025-01-01T10:00:00Z","duration_s":1.5,"emotion":"happy","emoji":"😄","confidence":0.7,"probs":{{"neutral":0.05,"calm":0.05,"happy":0.7,"sad":0.05,"angry":0.05,"fearful":0.04,"disgust":0.03,"surprised":0.03}},"model":"test-1"}}}}"#
    )
}

#[test]
fn greeting_is_read_at_connect() {
    let (_dir, path, server) = serve(|c| c.send(HELLO));
    let client = Client::connect_to(&path).unwrap();
    assert_eq!(client.hello().pid, 4242);
    assert_eq!(client.hello().daemon, "0.1.0");
    assert!(client.protocol_matches());
    assert_eq!(client.socket(), path.as_path());
    server.join().unwrap();
}

#[test]
fn protocol_mismatch_is_exposed_not_fatal() {
    let (_dir, path, server) = serve(|c| {
        c.send(r#"{"type":"hello","data":{"protocol":2,"daemon":"9.0.0","pid":1,"extra":[1]}}"#)
    });
    let client = Client::connect_to(&path).unwrap();
    assert_eq!(client.hello().protocol, 2);
    assert!(!client.protocol_matches());
    server.join().unwrap();
}

#[test]
fn replies_are_matched_by_id_and_events_in_between_are_kept() {
    let (_dir, path, server) = serve(|c| {
        c.send(HELLO);
        let req = c.recv();
        assert_eq!(req["cmd"], "mood");
        let id = req["id"].as_u64().unwrap();
        // An event, a line of unknown type, a stale reply, then the reply.
        c.send(&utterance_json(7));
        c.send("");
        c.send(r#"{"type":"from_the_future","data":{"x":1}}"#);
        c.send(&format!(
            r#"{{"id":{},"type":"ok","data":{{"message":"stale"}}}}"#,
            id + 1000
        ));
        c.send(&format!(
            r#"{{"id":{id},"type":"mood","data":{}}}"#,
            mood_json("angry")
        ));
        let req = c.recv();
        assert_eq!(req["cmd"], "subscribe");
        assert_eq!(req["topics"], serde_json::json!(["utterance"]));
        assert!(req["id"].as_u64().unwrap() > id, "ids increase");
        c.send(&format!(
            r#"{{"id":{},"type":"subscribed","data":{{"topics":["utterance"]}}}}"#,
            req["id"]
        ));
        c.send(&utterance_json(8));
    });
    let mut client = Client::connect_to(&path).unwrap();
    let mood = client.mood().unwrap();
    assert_eq!(mood.status, MoodStatus::Current);
    assert_eq!(mood.emotion, Some(Emotion::Angry));
    assert_eq!(mood.probs.unwrap().top().0, Emotion::Angry);

    let mut sub = client.subscribe(&[Topic::Utterance]).unwrap();
    assert_eq!(sub.topics(), &[Topic::Utterance]);
    // The buffered event keeps its line byte for byte.
    assert_eq!(sub.next_raw().unwrap().unwrap().line, utterance_json(7));
    let seqs: Vec<u64> = sub
        .by_ref()
        .map(|e| match e.unwrap() {
            Event::Utterance(u) => u.seq,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // 7 arrived while waiting for the mood reply (read above), 8 after
    // subscribing; then the server closed the connection and the iterator ended.
    assert_eq!(seqs, vec![8]);
    server.join().unwrap();
}

#[test]
fn raw_events_keep_the_line_verbatim() {
    let line = utterance_json(1);
    let sent = line.clone();
    let (_dir, path, server) = serve(move |c| {
        c.send(HELLO);
        let req = c.recv();
        c.send(&format!(
            r#"{{"id":{},"type":"subscribed","data":{{"topics":["utterance","mood","state"]}}}}"#,
            req["id"]
        ));
        c.send(&sent);
        c.send(r#"{"type":"state","data":{"state":"stopping","device":null,"at":"2025-01-01T10:00:00Z"}}"#);
    });
    let mut sub = Client::connect_to(&path).unwrap().subscribe(&[]).unwrap();
    let raw = sub.next_raw().unwrap().unwrap();
    assert_eq!(raw.line, line);
    assert_eq!(raw.event.kind(), "utterance");
    match sub.next().unwrap().unwrap() {
        Event::State(s) => assert_eq!(s.state, DaemonState::Stopping),
        other => panic!("unexpected {other:?}"),
    }
    assert!(sub.next().is_none());
    server.join().unwrap();
}

#[test]
fn error_replies_become_daemon_errors() {
    let (_dir, path, server) = serve(|c| {
        c.send(HELLO);
        let req = c.recv();
        assert_eq!(req["cmd"], "analyze");
        assert_eq!(req["path"], "/nope.wav");
        c.send(&format!(
            r#"{{"id":{},"type":"error","data":{{"code":"analysis_failed","message":"/nope.wav: no such file"}}}}"#,
            req["id"]
        ));
    });
    let mut client = Client::connect_to(&path).unwrap();
    let err = client.analyze("/nope.wav").unwrap_err();
    assert_eq!(err.daemon_code(), Some(ErrorCode::AnalysisFailed));
    let text = err.to_string();
    assert!(text.contains("/nope.wav: no such file"), "{text}");
    assert!(text.contains("analyze"), "{text}");
    server.join().unwrap();
}

#[test]
fn typed_helpers_send_their_arguments() {
    let (_dir, path, server) = serve(|c| {
        c.send(HELLO);
        let req = c.recv();
        assert_eq!(req["cmd"], "set_notifications");
        assert_eq!(req["enabled"], false);
        c.send(&format!(
            r#"{{"id":{},"type":"ok","data":{{"message":"notifications off"}}}}"#,
            req["id"]
        ));
        let req = c.recv();
        assert_eq!(req["cmd"], "history");
        assert_eq!(req["limit"], 5);
        assert_eq!(req["since"], "2025-01-01T00:00:00Z");
        c.send(&format!(
            r#"{{"id":{},"type":"history","data":{{"entries":[{}],"truncated":true}}}}"#,
            req["id"],
            serde_json::from_str::<serde_json::Value>(&utterance_json(3)).unwrap()["data"]
        ));
        let req = c.recv();
        assert_eq!(req["cmd"], "pause");
        c.send(&format!(
            r#"{{"id":{},"type":"ok","data":{{"message":"paused","state":"paused"}}}}"#,
            req["id"]
        ));
    });
    let mut client = Client::connect_to(&path).unwrap();
    assert_eq!(
        client.set_notifications(false).unwrap().message,
        "notifications off"
    );
    let since = "2025-01-01T00:00:00Z".parse().unwrap();
    let h = client.history(Some(since), Some(5)).unwrap();
    assert!(h.truncated);
    assert_eq!(h.entries.len(), 1);
    assert_eq!(h.entries[0].probs.top(), (Emotion::Happy, 0.7));
    assert_eq!(client.pause().unwrap().state, Some(DaemonState::Paused));
    server.join().unwrap();
}

#[test]
fn a_reply_of_the_wrong_type_is_a_protocol_error() {
    let (_dir, path, server) = serve(|c| {
        c.send(HELLO);
        let req = c.recv();
        c.send(&format!(
            r#"{{"id":{},"type":"ok","data":{{"message":""}}}}"#,
            req["id"]
        ));
    });
    let mut client = Client::connect_to(&path).unwrap();
    let err = client.status().unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    server.join().unwrap();
}

#[test]
fn a_silent_daemon_times_out_and_a_late_reply_is_skipped() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (_dir, path, server) = serve(move |c| {
        c.send(HELLO);
        let first = c.recv();
        // Answer only after the client gave up.
        rx.recv().unwrap();
        c.send(&format!(
            r#"{{"id":{},"type":"ok","data":{{"message":"late"}}}}"#,
            first["id"]
        ));
        let second = c.recv();
        c.send(&format!(
            r#"{{"id":{},"type":"ok","data":{{"message":"resumed"}}}}"#,
            second["id"]
        ));
    });
    let mut client = ClientOptions::default()
        .read_timeout(Some(Duration::from_millis(100)))
        .connect_to(&path)
        .unwrap();
    let err = client.pause().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(!err.is_connection_lost());
    tx.send(()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(client.resume().unwrap().message, "resumed");
    server.join().unwrap();
}

#[test]
fn nothing_listening_means_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("serd.sock");
    let err = Client::connect_to(&missing).unwrap_err();
    assert!(matches!(err, Error::NotRunning { .. }), "{err:?}");
    assert!(err.to_string().contains("is it running?"));

    // A socket file left behind by a dead daemon: connection refused.
    let stale = dir.path().join("stale.sock");
    let l = std::os::unix::net::UnixListener::bind(&stale).unwrap();
    drop(l);
    assert!(stale.exists());
    let err = Client::connect_to(&stale).unwrap_err();
    assert!(matches!(err, Error::NotRunning { .. }), "{err:?}");
}

#[test]
fn garbage_instead_of_a_greeting_is_a_protocol_error() {
    let (_dir, path, server) = serve(|c| c.send("OK MPD 0.23.5"));
    let err = Client::connect_to(&path).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("greeting"), "{err}");
    server.join().unwrap();
}

#[test]
fn a_closed_connection_mid_request_is_reported() {
    let (_dir, path, server) = serve(|c| {
        c.send(HELLO);
        let _ = c.recv();
    });
    let mut client = Client::connect_to(&path).unwrap();
    let err = client.shutdown().unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    server.join().unwrap();
}
