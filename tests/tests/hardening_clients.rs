//! 200 clients at once against a daemon that is publishing results: half
//! subscribe, a quarter send garbage, some vanish, some stall without
//! reading. A well-behaved client still gets correct replies and events;
//! memory stays bounded and the descriptors return to baseline.

mod hardening_common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use hardening_common::{build_input, client, clips, subscriber};
use ser_e2e::{fd_count, proc_kib, TestEnv};
use serde_json::json;

fn garbage(i: usize) -> Vec<u8> {
    match i % 6 {
        0 => b"{this is not json\n".to_vec(),
        1 => b"{\"cmd\":\"st\xff\xfeatus\"}\n".to_vec(),
        2 => {
            let mut v = vec![b'x'; 300 * 1024];
            v.push(b'\n');
            v
        }
        3 => {
            let mut v = vec![b'['; 100_000];
            v.push(b'\n');
            v
        }
        4 => b"{\"id\":1,\"cmd\":\"history\",\"limit\":18446744073709551615}\n".to_vec(),
        _ => b"{\"id\":1,\"cmd\":\"history\",\"limit\":1e400}\n".to_vec(),
    }
}

#[test]
fn two_hundred_hostile_and_busy_clients_leave_a_good_client_served() {
    let env = TestEnv::without_rig();
    let (input, _) = build_input(env.root(), &clips(), 1.0, 120.0);
    let mut serd = env.spawn_serd_on_file(&input, "realtime", &[]);
    let pid = serd.pid();
    let mut good = subscriber(&env, &["utterance", "state"]);
    let mut good_ctl = client(&env);
    // After the first result, so the history file is already open.
    good.read_until_type("utterance", Duration::from_secs(120));
    let fd_base = fd_count(pid);
    let rss_before = proc_kib(pid, "VmRSS");

    let mut held: Vec<UnixStream> = Vec::new();
    let mut threads = Vec::new();
    for i in 0..200 {
        let sock = env.socket();
        match i % 8 {
            // 100 subscribers, half of which never read (stalled).
            0..=3 => {
                let mut s = UnixStream::connect(&sock).unwrap();
                s.write_all(b"{\"id\":1,\"cmd\":\"subscribe\"}\n").unwrap();
                if i % 2 == 0 {
                    held.push(s);
                } else {
                    threads.push(std::thread::spawn(move || {
                        let mut c = ser_e2e::RawConn::connect(&sock);
                        c.send_line("{\"id\":1,\"cmd\":\"subscribe\"}");
                        for _ in 0..5 {
                            let _ = c.try_read_line(Duration::from_secs(2));
                        }
                        drop(s);
                    }));
                }
            }
            // 50 send garbage, then (mostly) stay.
            4 | 5 => {
                let mut s = UnixStream::connect(&sock).unwrap();
                let _ = s.write_all(&garbage(i));
                held.push(s);
            }
            // 25 connect and vanish at once.
            6 => drop(UnixStream::connect(&sock).unwrap()),
            // 25 connect and stall without reading or writing.
            _ => held.push(UnixStream::connect(&sock).unwrap()),
        }
    }

    // The well-behaved client: correct replies, a bad request answered with
    // the right error, and the next event.
    let status = good_ctl.request(10, "status", json!({}), Duration::from_secs(60));
    assert_eq!(status["type"], "status", "{status}");
    assert!(status["data"]["clients"].as_u64().unwrap() >= 2, "{status}");
    let hist = good_ctl.request(11, "history", json!({"limit": 3}), Duration::from_secs(60));
    assert_eq!(hist["type"], "history", "{hist}");
    assert!(hist["data"]["entries"].as_array().unwrap().len() <= 3);
    good_ctl.send_line("[[[[[[[[[[");
    let err = good_ctl.read_msg(Duration::from_secs(60));
    assert_eq!(err["data"]["code"], "malformed", "{err}");
    let mood = good_ctl.request(12, "mood", json!({}), Duration::from_secs(60));
    assert_eq!(mood["type"], "mood", "{mood}");
    let ev = good.read_until_type("utterance", Duration::from_secs(120));
    let seq = ev["data"]["seq"].as_u64().unwrap();
    let ev2 = good.read_until_type("utterance", Duration::from_secs(120));
    assert_eq!(ev2["data"]["seq"].as_u64().unwrap(), seq + 1, "{ev2}");

    let rss_loaded = proc_kib(pid, "VmRSS");
    for t in threads {
        t.join().unwrap();
    }
    drop(held);
    // The daemon notices the closed connections; wait until its fds are back.
    let mut fds = fd_count(pid);
    for _ in 0..300 {
        if fds <= fd_base {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        fds = fd_count(pid);
    }
    let rss_after = proc_kib(pid, "VmRSS");
    eprintln!(
        "VmRSS before {rss_before} KiB, with 200 clients {rss_loaded} KiB, after {rss_after} KiB; fds {fd_base} -> {fds}"
    );
    assert!(fds <= fd_base, "fds {fds} > baseline {fd_base}");
    assert!(
        rss_loaded < 200 * 1024 && rss_after < 200 * 1024,
        "VmRSS {rss_loaded} / {rss_after} KiB"
    );
    // Still serving after all that.
    let status = good_ctl.request(13, "status", json!({}), Duration::from_secs(60));
    assert_eq!(status["type"], "status", "{status}");
    assert!(serd.try_wait().is_none(), "{}", serd.logs());
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}
