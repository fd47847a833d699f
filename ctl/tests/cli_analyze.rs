//! `serctl analyze` as a user runs it: the real binary on RAVDESS clips, on
//! a directory, on generated bad and silent files; the JSON read back with
//! the protocol's `FileReport`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ser_ctl::protocol::FileReport;

fn ravdess() -> PathBuf {
    let dir = match std::env::var_os("SER_RAVDESS").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ravdess"),
    };
    assert!(
        dir.join("Actor_01").is_dir(),
        "RAVDESS not found at {} (set SER_RAVDESS)",
        dir.display()
    );
    dir
}

/// `Actor_AA/03-01-EE-02-01-01-AA.wav` (strong intensity, statement 1, repetition 1).
fn clip(actor: u8, emotion: u8) -> PathBuf {
    ravdess().join(format!(
        "Actor_{actor:02}/03-01-{emotion:02}-02-01-01-{actor:02}.wav"
    ))
}

fn serctl(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_serctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn analyze(extra: &[&str], paths: &[&Path]) -> Output {
    let mut args: Vec<&Path> = vec![Path::new("analyze")];
    args.extend(extra.iter().map(Path::new));
    args.extend_from_slice(paths);
    serctl(&args)
}

fn reports(out: &Output) -> Vec<FileReport> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a FileReport: {e}\n{l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_sums_to_one(p: &ser_ctl::Probs, what: &str) {
    let sum: f32 = p.0.iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "{what}: probs sum to {sum}");
    assert!(p.0.iter().all(|v| (0.0..=1.0).contains(v)), "{what}: {p:?}");
}

/// Samples per channel and the spec of a WAV, read independently of serctl.
fn wav_info(p: &Path) -> (u32, hound::WavSpec) {
    let r = hound::WavReader::open(p).unwrap();
    (r.duration(), r.spec())
}

fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn check_report(r: &FileReport, file: &Path) {
    let (frames, spec) = wav_info(file);
    assert_eq!(r.path, file);
    assert_eq!(r.sample_rate, spec.sample_rate);
    assert_eq!(r.channels, spec.channels);
    let expect = f64::from(frames) / f64::from(spec.sample_rate);
    assert!(
        (r.duration_s - expect).abs() < 0.01,
        "{} vs {expect}",
        r.duration_s
    );
    assert!(!r.model.is_empty());
    assert!(
        !r.segments.is_empty(),
        "{}: RAVDESS clips are speech",
        file.display()
    );
    let mut last_start = -1.0;
    for s in &r.segments {
        assert!(s.start_s >= 0.0 && s.start_s < s.end_s && s.end_s <= r.duration_s + 0.01);
        assert!(s.start_s >= last_start, "segments in time order");
        last_start = s.start_s;
        assert_sums_to_one(&s.probs, "segment");
        assert_eq!((s.emotion, s.confidence), s.probs.top());
        assert_eq!(s.emoji, s.emotion.emoji());
    }
    let probs = r.probs.expect("a verdict for speech");
    assert_sums_to_one(&probs, "verdict");
    assert_eq!(r.emotion, Some(probs.top().0));
    assert_eq!(r.confidence, Some(probs.top().1));
    assert_eq!(r.emoji.as_deref(), Some(probs.top().0.emoji()));
    assert_eq!(r.note, None);
}

#[test]
fn clips_give_one_json_report_each_in_order() {
    let files = [clip(1, 5), clip(2, 3), clip(3, 4)];
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = analyze(&["--json"], &paths);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let rs = reports(&out);
    assert_eq!(rs.len(), 3);
    for (r, f) in rs.iter().zip(&files) {
        check_report(r, f);
    }
}

#[test]
fn the_human_output_has_segments_and_a_verdict() {
    let f = clip(4, 6);
    let out = analyze(&[], &[&f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with(&f.display().to_string()), "{head}");
    assert!(head.contains("16000 Hz, 1 ch"), "{head}");
    let rest: Vec<&str> = lines.collect();
    assert!(rest.len() >= 2, "{text}");
    assert!(rest[0].contains("–") && rest[0].contains(" s "), "{text}");
    assert!(
        rest.last().unwrap().trim_start().starts_with("verdict: "),
        "{text}"
    );
    assert!(rest.last().unwrap().ends_with('%'), "{text}");
}

#[test]
fn a_directory_is_searched_recursively_and_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    // Links, not copies: no audio is duplicated.
    let one = dir.path().join("a/one.wav");
    let two = nested.join("two.WAV");
    std::os::unix::fs::symlink(clip(5, 2), &one).unwrap();
    std::os::unix::fs::symlink(clip(6, 7), &two).unwrap();
    std::os::unix::fs::symlink(clip(7, 8), nested.join("skipped.dat")).unwrap();
    std::fs::write(dir.path().join("a/readme.txt"), "not audio").unwrap();

    let out = analyze(&["--json", "--jobs", "2"], &[dir.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rs = reports(&out);
    let got: Vec<&Path> = rs.iter().map(|r| r.path.as_path()).collect();
    assert_eq!(
        got,
        vec![two.as_path(), one.as_path()],
        "name order, audio names only"
    );
    check_report(&rs[0], &two);
    check_report(&rs[1], &one);

    // A file named explicitly is tried whatever its extension.
    let dat = nested.join("skipped.dat");
    let out = analyze(&["--json"], &[&dat]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(reports(&out)[0].path, dat);
}

#[test]
fn a_whole_actor_directory() {
    let dir = ravdess().join("Actor_01");
    let expected = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wav")
        })
        .count();
    let out = analyze(&["--json"], &[&dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rs = reports(&out);
    assert_eq!(rs.len(), expected);
    let mut sorted: Vec<_> = rs.iter().map(|r| r.path.clone()).collect();
    sorted.sort();
    assert_eq!(
        sorted,
        rs.iter().map(|r| r.path.clone()).collect::<Vec<_>>()
    );
    for r in &rs {
        check_report(r, &r.path);
    }
}

#[test]
fn bad_files_are_reported_and_the_others_still_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = clip(8, 5);
    let bytes = std::fs::read(&good).unwrap();

    let empty = d.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let text = d.join("text.wav");
    std::fs::write(&text, "this is not audio, only a text file\n").unwrap();
    let corrupt = d.join("corrupt.wav");
    let mut junk = b"RIFF\xff\xff\xff\xffWAVEfmt ".to_vec();
    junk.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&corrupt, junk).unwrap();
    let cut_header = d.join("cut-header.wav");
    std::fs::write(&cut_header, &bytes[..30]).unwrap();
    let missing = d.join("missing.wav");
    let bad = [&empty, &text, &corrupt, &cut_header, &missing];

    let mut args: Vec<&Path> = bad.iter().map(|p| p.as_path()).collect();
    args.insert(2, &good);
    let out = analyze(&["--json"], &args);
    assert_eq!(out.status.code(), Some(1), "some inputs failed");
    let rs = reports(&out);
    assert_eq!(rs.len(), 1, "only the good file on stdout");
    check_report(&rs[0], &good);

    let err = stderr(&out);
    assert_eq!(
        err.lines().count(),
        bad.len(),
        "one line per bad file:\n{err}"
    );
    for p in bad {
        let prefix = format!("serctl: {}: ", p.display());
        let line = err
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {}:\n{err}", p.display()));
        assert!(line.len() > prefix.len() + 3, "says what is wrong: {line}");
        assert!(!line.contains("os error"), "{line}");
        assert!(!line.contains("panicked"), "{line}");
    }
    assert!(
        err.contains(&format!("{}: the file is empty", empty.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}: no such file", missing.display())),
        "{err}"
    );
}

#[test]
fn a_file_cut_in_its_audio_gives_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let good = clip(9, 3);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = analyze(&["--json"], &[&cut]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &reports(&out)[0];
    let (frames, spec) = wav_info(&good);
    let full = f64::from(frames) / f64::from(spec.sample_rate);
    assert!(
        r.duration_s > 0.3 * full && r.duration_s < 0.6 * full,
        "{}",
        r.duration_s
    );
}

#[test]
fn silence_gets_no_emotion() {
    let dir = tempfile::tempdir().unwrap();
    // Digital silence at another rate and channel count than the model's.
    let silent = dir.path().join("silence.wav");
    write_wav(&silent, 44_100, 2, &vec![0i16; 44_100 * 2 * 3]);
    let out = analyze(&["--json"], &[&silent]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &reports(&out)[0];
    assert_eq!((r.sample_rate, r.channels), (44_100, 2));
    assert!((r.duration_s - 3.0).abs() < 0.01);
    assert!(r.segments.is_empty());
    assert_eq!(r.emotion, None);
    assert_eq!(r.emoji, None);
    assert_eq!(r.confidence, None);
    assert_eq!(r.probs, None);
    assert_eq!(r.note.as_deref(), Some("no speech detected"));

    let out = analyze(&[], &[&silent]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().last().unwrap().trim() == "no speech detected",
        "{text}"
    );
}

#[test]
fn usage_and_model_errors_exit_2() {
    let out = serctl(&[Path::new("analyze")]);
    assert_eq!(out.status.code(), Some(2), "no path is a usage error");
    let out = analyze(&["--model", "/nonexistent/model.onnx"], &[&clip(1, 5)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("serctl: "), "{err}");
    assert!(err.contains("/nonexistent/model.onnx"), "{err}");
    let out = analyze(&["--jobs", "0"], &[&clip(1, 5)]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `serctl analyze --json DIR | head -1`: stdout closes early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_serctl"))
        .args(["analyze", "--json"])
        .arg(ravdess().join("Actor_02"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

/// `serctl analyze --json path`, with the peak resident memory (`VmHWM`, KiB)
/// serctl reached, read from /proc while it ran.
fn analyze_watching_memory(path: &Path) -> (Output, u64) {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_serctl"))
        .args([Path::new("analyze"), Path::new("--json"), path])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        });
        peak = peak.max(hwm.unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), peak)
}

#[test]
fn a_long_recording_is_analysed_as_it_is_read() {
    // 30 min of silence, then a clip: 110 MiB as decoded f32 samples, well
    // above what serctl needs (about 35 MiB) when it streams the file.
    let dir = tempfile::tempdir().unwrap();
    let speech = clip(1, 5);
    let mut samples = vec![0i16; 1800 * 16_000];
    let mut r = hound::WavReader::open(&speech).unwrap();
    samples.extend(r.samples::<i16>().map(Result::unwrap));
    let long = dir.path().join("long.wav");
    write_wav(&long, 16_000, 1, &samples);

    let (out, peak) = analyze_watching_memory(&long);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &reports(&out)[0];
    assert!((r.duration_s - samples.len() as f64 / 16_000.0).abs() < 1e-3);
    // the clip at the very end was found, and nothing before it
    assert_eq!(r.segments.len(), 1, "{:?}", r.segments);
    assert!(r.segments[0].start_s > 1799.0, "{:?}", r.segments[0]);
    assert!(r.emotion.is_some());
    assert!(peak > 0, "serctl's memory was never read");
    assert!(
        peak < 100 * 1024,
        "serctl peaked at {peak} KiB resident for a 30 min file"
    );
}
