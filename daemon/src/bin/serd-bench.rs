//! `serd-bench`: CPU, memory and latency of a real `serd` process.
//!
//! It starts the `serd` binary (next to this one, or `--serd PATH`) in a
//! private temp environment with `--input file:... --pace realtime`, so the
//! daemon runs its live pipeline at the speed of a microphone, and measures:
//!
//! * CPU: utime+stime of the daemon (from `/proc/<pid>/stat`) over the wall
//!   time of a steady window, in percent of one core;
//! * memory: VmRSS (and VmHWM, the peak) from `/proc/<pid>/status`;
//! * latency: for every `utterance` event, the time it arrived on the socket
//!   minus the end of the utterance (`start + duration_s`, which the daemon
//!   stamps from the wall clock as the audio is drained). This includes the
//!   VAD's hangover (400 ms by default), the classification and the publish.
//!
//! Two scenarios: 30 s of digital silence, and 30 s of RAVDESS speech clips
//! back to back (`$SER_RAVDESS`, else `<workspace>/../shared/data/ravdess`).
//! Example: `cargo build --release -p serd && target/release/serd-bench`;
//! `--model other.onnx` measures the same daemon with another model (passed to
//! serd as its `--model`), so two models compare on one build and machine.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "serd-bench",
    about = "Measure serd's CPU use, memory and event latency on file input at real-time pace."
)]
struct Args {
    /// The serd binary to measure (default: the one next to serd-bench).
    #[arg(long)]
    serd: Option<PathBuf>,
    /// Directory of RAVDESS 16 kHz WAVs (Actor_XX/...).
    #[arg(long, env = "SER_RAVDESS")]
    ravdess: Option<PathBuf>,
    /// Seconds of audio per scenario.
    #[arg(long, default_value_t = 30)]
    seconds: u32,
    /// An ONNX model for serd to load instead of its embedded one (serd's own
    /// `--model`); the first lines of the report name the model measured.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
}

/// The measured daemon's input: 16-bit PCM, 16 kHz mono.
fn write_wav(path: &Path, samples: &[f32]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)?;
    }
    w.finalize()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn ravdess_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ravdess")
    })
}

/// Speech: clips of actor 1..24 back to back until `seconds` are filled.
fn speech(dir: &Path, seconds: u32) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    let want = seconds as usize * 16_000;
    'outer: for actor in 1..=24 {
        let adir = dir.join(format!("Actor_{actor:02}"));
        let mut files: Vec<_> = std::fs::read_dir(&adir)
            .with_context(|| format!("cannot read {}", adir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            let d = ser_models::decode_file(&f)?;
            if d.source_rate != 16_000 || d.source_channels != 1 {
                bail!("{} is not 16 kHz mono", f.display());
            }
            out.extend_from_slice(&d.samples);
            if out.len() >= want {
                break 'outer;
            }
        }
    }
    out.truncate(want);
    Ok(out)
}

fn proc_cpu_s(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command: state is field 3; utime 14, stime 15.
    let rest = &stat[stat.rfind(')').context("bad /proc stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

fn proc_mem_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

struct Outcome {
    cpu_pct: f64,
    rss_kib: u64,
    hwm_kib: u64,
    latencies_ms: Vec<f64>,
}

fn scenario(serd: &Path, model: Option<&Path>, wav: &Path, seconds: u32) -> Result<Outcome> {
    let tmp = tempfile::tempdir()?;
    let sock = tmp.path().join("run/serd.sock");
    let mut cmd = Command::new(serd);
    for (var, sub) in [
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_RUNTIME_DIR", "run"),
    ] {
        let p = tmp.path().join(sub);
        std::fs::create_dir_all(&p)?;
        cmd.env(var, p);
    }
    cmd.env("SER_SOCKET", &sock)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("RUST_LOG", "warn")
        .args(["--no-tray", "--no-notify", "--pace", "realtime", "--input"])
        .arg(format!("file:{}", wav.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(m) = model {
        cmd.arg("--model").arg(m);
    }
    let mut child: Child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", serd.display()))?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stream = loop {
        if let Ok(s) = UnixStream::connect(&sock) {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("serd did not open its socket");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut w = stream.try_clone()?;
    w.write_all(b"{\"id\":1,\"cmd\":\"subscribe\",\"topics\":[\"utterance\"]}\n")?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut r = BufReader::new(stream);
    // Skip the start-up (model load) before measuring CPU.
    let t0 = Instant::now();
    let cpu0 = proc_cpu_s(pid)?;
    let mut latencies = Vec::new();
    let end = t0 + Duration::from_secs(u64::from(seconds));
    let mut line = String::new();
    while Instant::now() < end {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                let now = chrono::Utc::now();
                let v: serde_json::Value = serde_json::from_str(&line)?;
                if v["type"] == "utterance" {
                    let start: chrono::DateTime<chrono::Utc> =
                        v["data"]["start"].as_str().context("start")?.parse()?;
                    let dur = v["data"]["duration_s"].as_f64().context("duration")?;
                    let end_t = start + chrono::Duration::microseconds((dur * 1e6) as i64);
                    latencies.push((now - end_t).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let cpu1 = proc_cpu_s(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    let rss = proc_mem_kib(pid, "VmRSS:")?;
    let hwm = proc_mem_kib(pid, "VmHWM:")?;
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait();
    Ok(Outcome {
        cpu_pct: 100.0 * (cpu1 - cpu0) / wall,
        rss_kib: rss,
        hwm_kib: hwm,
        latencies_ms: latencies,
    })
}

fn report(name: &str, o: &Outcome) {
    let mut l = o.latencies_ms.clone();
    l.sort_by(f64::total_cmp);
    // "-" when there is no utterance to measure (silence).
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
    let pct = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    println!(
        "| {name} | {:.1} % | {:.1} MiB | {:.1} MiB | {} | {} | {} | {} |",
        o.cpu_pct,
        o.rss_kib as f64 / 1024.0,
        o.hwm_kib as f64 / 1024.0,
        l.len(),
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(l.last().copied())
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let serd = match args.serd {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("serd"),
    };
    let model = args.model.as_deref();
    // The model serd will load, read here first: its name goes in the report,
    // and a file that would not load fails before any scenario starts.
    let classifier = match model {
        Some(m) => ser_models::Classifier::from_path(m)?,
        None => ser_models::Classifier::embedded()?,
    };
    println!(
        "serd: {}; model: {} ({})\n",
        serd.display(),
        classifier.info().version,
        classifier.info().source
    );
    drop(classifier);
    let tmp = tempfile::tempdir()?;
    let silence_wav = tmp.path().join("silence.wav");
    write_wav(
        &silence_wav,
        &vec![0.0; args.seconds as usize * 16_000 + 16_000 * 5],
    )?;
    let speech_wav = tmp.path().join("speech.wav");
    let mut sp = speech(&ravdess_dir(args.ravdess), args.seconds + 5)?;
    sp.extend(std::iter::repeat_n(0.0, 16_000));
    write_wav(&speech_wav, &sp)?;
    println!(
        "| input | CPU (one core) | VmRSS | VmHWM | utterances | latency p50 (ms) | p95 | max |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    report(
        "silence",
        &scenario(&serd, model, &silence_wav, args.seconds)?,
    );
    report(
        "continuous speech",
        &scenario(&serd, model, &speech_wav, args.seconds)?,
    );
    Ok(())
}
