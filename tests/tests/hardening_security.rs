//! Security: the socket serves only its own user, checked on the peer's
//! credentials (SO_PEERCRED), not only by file modes; and the daemon has no
//! network socket at all.

mod hardening_common;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hardening_common::{client, subscriber, wait_state};
use ser_e2e::{mic_lock, Rig, TestEnv};
use serde_json::json;

const PEEK: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("CONNECT-FAILED", e.errno); sys.exit(0)
s.settimeout(15)
try:
    s.sendall(b'{"id":1,"cmd":"status"}\n')
except OSError:
    pass
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
except OSError:
    pass
print("CLOSED-AFTER", len(data))
"#;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn another_users_connection_is_closed_even_with_an_open_socket_mode() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to act as a second user (setpriv)");
        return;
    }
    let env = TestEnv::without_rig();
    let silent = env.root().join("s.wav");
    ser_e2e::wav::write_mono16(&silent, [0i16]);
    let arg = format!("file:{}", silent.display());
    let mut serd = env.spawn_serd(["--input", &arg, "--no-tray", "--no-notify"]);
    serd.wait_for_socket(Duration::from_secs(60));
    // Open every door on the way to the socket, and the socket itself, so
    // only the daemon's own credential check stands in the way.
    let sock = env.socket();
    let mut dir = sock.parent().unwrap().to_path_buf();
    while dir.starts_with(env.root()) {
        chmod(&dir, 0o755);
        dir = dir.parent().unwrap().to_path_buf();
    }
    chmod(&sock, 0o666);
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            PEEK,
        ])
        .arg(&sock)
        .output()
        .expect("setpriv + python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It could connect (modes allowed it) and got nothing at all: no hello, no reply.
    assert_eq!(text.trim(), "CLOSED-AFTER 0", "{}", serd.logs());
    assert!(
        serd.logs()
            .contains("refusing a connection from another user"),
        "{}",
        serd.logs()
    );
    // The owner is still served.
    let mut c = client(&env);
    let r = c.request(2, "status", json!({}), Duration::from_secs(30));
    assert_eq!(r["type"], "status", "{r}");
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}

/// Socket inodes listed in /proc/<pid>/net/<table> (column 10; `unix`: column 7).
fn inodes(pid: u32, table: &str) -> HashSet<u64> {
    let col = if table == "unix" { 6 } else { 9 };
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(col)?.parse().ok())
        .collect()
}

#[test]
fn the_daemon_has_no_network_sockets() {
    let rig = Rig::get();
    let _lock = mic_lock();
    let env = TestEnv::new();
    // The whole stack: capture from the sound server, notifications and tray allowed.
    let mut serd = env.spawn_serd(std::iter::empty::<&str>());
    serd.wait_for_socket(Duration::from_secs(60));
    let mut sub = subscriber(&env, &["utterance", "state"]);
    wait_state(&mut sub, "listening", Duration::from_secs(60));
    rig.play_into_mic(&ser_e2e::ravdess_clip(1, 5, 2, 1, 1));
    sub.read_until_type("utterance", Duration::from_secs(60));
    let pid = serd.pid();
    let mine: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let s = l.to_string_lossy().into_owned();
            s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect();
    assert!(
        !mine.is_empty(),
        "the daemon has at least its listening socket"
    );
    let unix = inodes(pid, "unix");
    for table in [
        "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6",
    ] {
        let inet = inodes(pid, table);
        let hit: Vec<_> = mine.intersection(&inet).collect();
        assert!(hit.is_empty(), "INET socket(s) in {table}: {hit:?}");
    }
    let netlink = inodes(pid, "netlink");
    let other: Vec<_> = mine
        .iter()
        .filter(|i| !unix.contains(i) && !netlink.contains(i))
        .collect();
    assert!(
        other.is_empty(),
        "sockets neither AF_UNIX nor netlink: {other:?}"
    );
    eprintln!(
        "{} sockets: {} AF_UNIX, {} netlink",
        mine.len(),
        mine.intersection(&unix).count(),
        mine.intersection(&netlink).count()
    );
    assert!(
        serd.terminate(Duration::from_secs(30)).success(),
        "{}",
        serd.logs()
    );
}
