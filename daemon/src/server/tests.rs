//! The server in-process, on a temp socket, with real connections.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossbeam_channel::Receiver;
use ser_ctl::protocol::{DaemonState, Emotion, Probs, MAX_LINE_BYTES};
use serde_json::{json, Value};

use super::subscribers::{Subscribers, QUEUE_CAPACITY};
use super::{Server, ServerOptions};
use crate::config::Config;
use crate::core::{AudioCommand, Core, CoreChannels, StopReason};
use crate::engine::Engine;

struct Fixture {
    dir: tempfile::TempDir,
    core: Arc<Core>,
    server: Option<Server>,
    socket: PathBuf,
    audio: Receiver<AudioCommand>,
    stop: Receiver<StopReason>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        super::prepare_runtime_dir(&run).unwrap();
        let socket = run.join("serd.sock");
        let (audio_tx, audio) = crossbeam_channel::unbounded();
        let (stop_tx, stop) = crossbeam_channel::unbounded();
        let core = Arc::new(Core::new(
            Config::default(),
            dir.path().join("config.toml"),
            dir.path().join("data"),
            Arc::new(Engine::embedded().unwrap()),
            Subscribers::default(),
            CoreChannels {
                audio: audio_tx,
                stop: stop_tx,
            },
        ));
        let listener = super::bind(&socket).unwrap();
        let opts = ServerOptions {
            write_timeout: Duration::from_secs(120),
            ..ServerOptions::default()
        };
        let server = Server::start(listener, socket.clone(), core.clone(), opts).unwrap();
        Fixture {
            dir,
            core,
            server: Some(server),
            socket,
            audio,
            stop,
        }
    }

    fn connect(&self) -> Client {
        let s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        assert_eq!(c.read()["type"], "hello");
        c
    }

    fn publish(&self, label: Emotion) {
        let mut p = [0.0; 8];
        p[label.index()] = 0.9;
        p[(label.index() + 1) % 8] = 0.1;
        self.core.publish(Utc::now(), 1.0, Probs(p));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

struct Client {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Client {
    fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }
    fn send(&mut self, v: Value) {
        self.send_raw((v.to_string() + "\n").as_bytes());
    }
    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.r.read_line(&mut line).unwrap();
        assert!(n > 0, "connection closed");
        serde_json::from_str(&line).unwrap()
    }
    fn request(&mut self, v: Value) -> Value {
        self.send(v);
        self.read()
    }
    fn error_code(&mut self, raw: &[u8]) -> String {
        self.send_raw(raw);
        let r = self.read();
        assert_eq!(r["type"], "error", "{r}");
        r["data"]["code"].as_str().unwrap().to_string()
    }
}

#[test]
fn socket_is_private() {
    let f = Fixture::new();
    let mode = std::fs::metadata(&f.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(f.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[test]
fn bad_requests_get_the_right_error_and_the_connection_carries_on() {
    let f = Fixture::new();
    let mut c = f.connect();
    assert_eq!(c.error_code(b"{not json\n"), "malformed");
    assert_eq!(c.error_code(b"[1,2]\n"), "malformed");
    assert_eq!(c.error_code(b"{\"cmd\":\"st\xffatus\"}\n"), "malformed");
    assert_eq!(
        c.error_code(b"{\"id\":1,\"cmd\":\"fly\"}\n"),
        "unknown_command"
    );
    assert_eq!(c.error_code(b"{\"id\":2}\n"), "unknown_command");
    assert_eq!(
        c.error_code(b"{\"id\":3,\"cmd\":\"history\",\"limit\":\"ten\"}\n"),
        "invalid_argument"
    );
    assert_eq!(
        c.error_code(b"{\"id\":4,\"cmd\":\"set_notifications\"}\n"),
        "invalid_argument"
    );
    assert_eq!(
        c.error_code(b"{\"id\":5,\"cmd\":\"analyze\",\"path\":\"relative.wav\"}\n"),
        "invalid_argument"
    );
    // A line over the limit, sent in pieces, then a good request on the same connection.
    let mut big = b"{\"id\":6,\"cmd\":\"status\",\"pad\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES * 3));
    big.extend(b"\"}\n");
    c.send_raw(&big);
    let r = c.read();
    assert_eq!(r["data"]["code"], "line_too_long", "{r}");
    let r = c.request(json!({"id": 7, "cmd": "status"}));
    assert_eq!(r["id"], 7);
    assert_eq!(r["type"], "status");
    assert_eq!(r["data"]["pid"], std::process::id());
    assert_eq!(r["data"]["clients"], 1);
    // Errors echo the id when it could be read.
    let r = c.request(json!({"id": 8, "cmd": "nope"}));
    assert_eq!(r["id"], 8);
}

#[test]
fn history_mood_and_clear() {
    let f = Fixture::new();
    let mut c = f.connect();
    let r = c.request(json!({"id": 1, "cmd": "mood"}));
    assert_eq!(r["data"]["status"], "no_speech_yet");
    f.publish(Emotion::Angry);
    f.publish(Emotion::Sad);
    f.publish(Emotion::Angry);
    let r = c.request(json!({"id": 2, "cmd": "history", "limit": 2}));
    let e = r["data"]["entries"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0]["seq"].as_u64(), e[1]["seq"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(e[1]["emotion"], "angry");
    assert_eq!(r["data"]["truncated"], true);
    let r = c.request(json!({"id": 3, "cmd": "mood"}));
    assert_eq!(r["data"]["status"], "current");
    assert_eq!(r["data"]["emotion"], "angry");
    assert_eq!(r["data"]["utterances"], 3);
    let r = c.request(json!({"id": 4, "cmd": "status"}));
    assert_eq!(r["data"]["utterances"], 3);
    assert_eq!(
        r["data"]["history_path"],
        f.dir
            .path()
            .join("data/history.jsonl")
            .display()
            .to_string()
    );
    let r = c.request(json!({"id": 5, "cmd": "clear_history"}));
    assert_eq!(r["type"], "ok");
    let r = c.request(json!({"id": 6, "cmd": "history"}));
    assert_eq!(r["data"]["entries"].as_array().unwrap().len(), 0);
    // what was heard is forgotten by the mood too
    let r = c.request(json!({"id": 7, "cmd": "mood"}));
    assert_eq!(r["data"]["status"], "no_speech_yet", "{r}");
    assert_eq!(r["data"]["emotion"], Value::Null);
    assert_eq!(r["data"]["utterances"], 0);
}

#[test]
fn reload_reports_the_bad_key_and_keeps_the_old_config() {
    let f = Fixture::new();
    let mut c = f.connect();
    std::fs::write(
        f.dir.path().join("config.toml"),
        "[mood]\nhalf_life_s = 30\n",
    )
    .unwrap();
    let r = c.request(json!({"id": 1, "cmd": "reload"}));
    assert_eq!(r["type"], "ok", "{r}");
    assert_eq!(f.core.config().mood.half_life_s, 30.0);
    std::fs::write(
        f.dir.path().join("config.toml"),
        "[mood]\nhalf_life_s = -2\n",
    )
    .unwrap();
    let r = c.request(json!({"id": 2, "cmd": "reload"}));
    assert_eq!(r["data"]["code"], "invalid_config");
    assert!(
        r["data"]["message"]
            .as_str()
            .unwrap()
            .contains("mood.half_life_s"),
        "{r}"
    );
    assert_eq!(f.core.config().mood.half_life_s, 30.0);
    assert_eq!(
        c.request(json!({"id": 3, "cmd": "mood"}))["data"]["half_life_s"],
        30.0
    );
}

#[test]
fn analyze_refuses_what_is_not_a_regular_file() {
    let f = Fixture::new();
    let mut c = f.connect();
    let dir = f.dir.path().to_path_buf();
    let fifo = dir.join("fifo");
    let cpath = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    for (p, what) in [
        (dir.clone(), "directory"),
        (fifo, "FIFO"),
        (PathBuf::from("/dev/null"), "device"),
        (dir.join("missing.wav"), "cannot open"),
    ] {
        let r = c.request(json!({"id": 1, "cmd": "analyze", "path": p}));
        assert_eq!(r["data"]["code"], "analysis_failed", "{r}");
        assert!(r["data"]["message"].as_str().unwrap().contains(what), "{r}");
    }
    let text = dir.join("notes.wav");
    std::fs::write(&text, "this is not audio").unwrap();
    let r = c.request(json!({"id": 2, "cmd": "analyze", "path": text}));
    assert_eq!(r["data"]["code"], "analysis_failed", "{r}");
}

#[test]
fn pause_resume_and_shutdown_reach_the_audio_side_and_main() {
    let f = Fixture::new();
    // Below the end-to-end tests: answer as the audio supervisor would.
    let (audio, core) = (f.audio.clone(), f.core.clone());
    std::thread::spawn(move || {
        for cmd in audio {
            match cmd {
                AudioCommand::Pause(ack) => {
                    core.set_state(DaemonState::Paused, None, None);
                    let _ = ack.send(DaemonState::Paused);
                }
                AudioCommand::Resume(ack) => {
                    core.set_state(DaemonState::Listening, Some("test".into()), None);
                    let _ = ack.send(DaemonState::Listening);
                }
                _ => {}
            }
        }
    });
    let mut c = f.connect();
    let r = c.request(json!({"id": 1, "cmd": "pause"}));
    assert_eq!(r["data"]["state"], "paused");
    assert_eq!(
        c.request(json!({"id": 2, "cmd": "status"}))["data"]["state"],
        "paused"
    );
    let r = c.request(json!({"id": 3, "cmd": "resume"}));
    assert_eq!(r["data"]["state"], "listening");
    let r = c.request(json!({"id": 4, "cmd": "set_notifications", "enabled": false}));
    assert_eq!(r["type"], "ok");
    assert_eq!(
        c.request(json!({"id": 5, "cmd": "status"}))["data"]["notifications"],
        false
    );
    // no UI in this fixture: turning them on cannot be honoured
    let r = c.request(json!({"id": 51, "cmd": "set_notifications", "enabled": true}));
    assert_eq!(r["data"]["code"], "unavailable", "{r}");
    assert_eq!(
        c.request(json!({"id": 52, "cmd": "status"}))["data"]["notifications"],
        false
    );
    // with a UI it is
    let (ui_tx, ui_rx) = crossbeam_channel::bounded(16);
    f.core.set_ui(ui_tx);
    let r = c.request(json!({"id": 53, "cmd": "set_notifications", "enabled": true}));
    assert_eq!(r["type"], "ok", "{r}");
    assert!(ui_rx
        .try_iter()
        .any(|u| matches!(u, crate::ui::UiUpdate::Notifications(true))));
    let r = c.request(json!({"id": 6, "cmd": "shutdown"}));
    assert_eq!(r["type"], "ok");
    assert_eq!(
        f.stop.recv_timeout(Duration::from_secs(10)).unwrap(),
        StopReason::Request
    );
    f.core.begin_stopping();
    assert_eq!(
        c.error_code(b"{\"id\":7,\"cmd\":\"status\"}\n"),
        "shutting_down"
    );
}

#[test]
fn a_stalled_subscriber_gets_lagged_while_a_live_one_gets_everything() {
    let f = Fixture::new();
    let mut live = f.connect();
    let mut stalled = f.connect();
    for c in [&mut live, &mut stalled] {
        let r = c.request(json!({"id": 1, "cmd": "subscribe", "topics": ["utterance"]}));
        assert_eq!(r["type"], "subscribed", "{r}");
    }
    // Shrink the stalled client's receive buffer so it fills quickly.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stalled.w);
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on a valid socket with a correctly sized int.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            4,
        );
    }
    // Publish one at a time and let the live client read each before the next,
    // until the stalled one's queue has overflowed well past its capacity.
    let mut n = 0u64;
    let stalled_sub = loop {
        f.publish(Emotion::Happy);
        n += 1;
        let ev = live.read();
        assert_eq!(ev["type"], "utterance", "{ev}");
        assert_eq!(ev["data"]["seq"], n);
        let subs: Vec<_> = f.core.subscribers.snapshot_for_tests();
        let dropped: u64 = subs.iter().map(|s| s.pending_dropped()).sum();
        if dropped >= 50 {
            break subs;
        }
        assert!(n < 100_000, "the stalled subscriber never overflowed");
    };
    drop(stalled_sub);
    // Now the stalled client drains: its utterances, in order, then `lagged`.
    let mut got = 0u64;
    let mut last_seq = 0;
    let dropped = loop {
        let ev = stalled.read();
        match ev["type"].as_str().unwrap() {
            "utterance" => {
                let seq = ev["data"]["seq"].as_u64().unwrap();
                assert!(seq > last_seq);
                last_seq = seq;
                got += 1;
            }
            "lagged" => break ev["data"]["dropped"].as_u64().unwrap(),
            other => panic!("unexpected {other}"),
        }
    };
    assert!(dropped >= 50);
    assert!(got >= QUEUE_CAPACITY as u64);
    assert_eq!(
        got + dropped,
        n,
        "every event was either delivered or counted"
    );
    // Both carry on.
    f.publish(Emotion::Sad);
    assert_eq!(live.read()["data"]["seq"], n + 1);
    assert_eq!(stalled.read()["data"]["seq"], n + 1);
}

#[test]
fn a_hundred_subscribers_each_get_every_event() {
    let f = Fixture::new();
    let mut clients: Vec<Client> = (0..100).map(|_| f.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c.request(json!({"id": i, "cmd": "subscribe"}));
        assert_eq!(r["type"], "subscribed");
        assert_eq!(c.read()["type"], "state");
        assert_eq!(c.read()["type"], "mood");
    }
    assert_eq!(f.core.status().subscribers, 100);
    assert_eq!(f.core.status().clients, 100);
    f.publish(Emotion::Fearful);
    f.publish(Emotion::Calm);
    for c in &mut clients {
        let mut seqs = Vec::new();
        while seqs.len() < 2 {
            let ev = c.read();
            if ev["type"] == "utterance" {
                seqs.push(ev["data"]["seq"].as_u64().unwrap());
            }
        }
        assert_eq!(seqs, vec![1, 2]);
    }
}

#[test]
fn stop_sends_stopping_to_subscribers_and_closes_connections() {
    let mut f = Fixture::new();
    let mut c = f.connect();
    c.request(json!({"id": 1, "cmd": "subscribe", "topics": ["state"]}));
    assert_eq!(c.read()["type"], "state");
    f.core.set_state(DaemonState::Stopping, None, None);
    f.server.take().unwrap().stop();
    let ev = c.read();
    assert_eq!(ev["data"]["state"], "stopping", "{ev}");
    let mut rest = String::new();
    assert_eq!(
        c.r.read_line(&mut rest).unwrap(),
        0,
        "closed after stopping"
    );
    assert!(!f.socket.exists(), "socket file removed");
}
