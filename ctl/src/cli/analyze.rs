//! `serctl analyze`: classify audio files offline, in parallel, without the daemon.
//!
//! Inputs are expanded ([`collect`]), analysed on a rayon pool (one
//! [`Engine`] shared by all threads), and reported in input order as soon
//! as each is ready. A bad input is reported on stderr and counted; the
//! others are still analysed.

mod engine;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use ser_ctl::protocol::FileReport;

pub use engine::Engine;

use super::{exit_code, output, style};

/// Extensions searched for in directories (files named explicitly are tried whatever theirs).
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "oga"];

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Audio files and directories (searched recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print one JSON report per file and per line (JSON Lines; schema in
    /// the README and PROTOCOL.md, "File report").
    #[arg(long)]
    pub json: bool,

    /// Use this ONNX model instead of the embedded one.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// Analyse this many files at once (default: one per core).
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// An input that cannot be analysed, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: PathBuf,
    pub what: String,
}

pub fn run(a: &Args) -> Result<u8> {
    let (files, problems) = collect(&a.paths);
    let mut failed = problems.len();
    for p in &problems {
        eprintln!("serctl: {}: {}", p.path.display(), p.what);
    }
    if files.is_empty() {
        return Ok(if failed > 0 {
            exit_code::SOME_INPUTS_FAILED
        } else {
            exit_code::OK
        });
    }
    let engine = Engine::load(a.model.as_deref())?;
    let mut builder = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("analyze-{i}"));
    if let Some(j) = a.jobs {
        builder = builder.num_threads(usize::from(j));
    }
    let pool = builder.build().context("starting the worker threads")?;

    let interactive = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
    let bar = if interactive {
        let b = ProgressBar::new(files.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
                .expect("a valid template"),
        );
        b
    } else {
        ProgressBar::with_draw_target(Some(files.len() as u64), ProgressDrawTarget::hidden())
    };

    let (tx, rx) = mpsc::channel::<(usize, Result<FileReport, String>)>();
    let stopped = AtomicBool::new(false);
    let result = std::thread::scope(|s| -> Result<()> {
        let (files, engine, stopped) = (&files, &engine, &stopped);
        s.spawn(move || {
            pool.install(|| {
                files
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, path)| {
                        // Once the printer is gone (stdout closed), skip the rest.
                        if !stopped.load(Ordering::Relaxed)
                            && tx.send((i, engine.analyze(path))).is_err()
                        {
                            stopped.store(true, Ordering::Relaxed);
                        }
                    })
            })
        });
        // Print in input order, each as soon as all before it are done.
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&next) {
                bar.inc(1);
                bar.set_message(files[next].display().to_string());
                match r {
                    Ok(report) => bar.suspend(|| show(&report, a.json))?,
                    Err(what) => {
                        failed += 1;
                        bar.suspend(|| eprintln!("serctl: {}: {what}", files[next].display()));
                    }
                }
                next += 1;
            }
        }
        Ok(())
    });
    bar.finish_and_clear();
    result?;
    Ok(if failed > 0 {
        exit_code::SOME_INPUTS_FAILED
    } else {
        exit_code::OK
    })
}

/// Expands the command line: files as they are, directories recursively
/// (audio extensions only, in name order). Missing or unusable paths are problems.
pub fn collect(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let before = files.len();
                walk(p, &mut files, &mut problems);
                if files.len() == before {
                    problems.push(Problem {
                        path: p.clone(),
                        what: format!(
                            "no audio files in this directory (looked for .{})",
                            AUDIO_EXTENSIONS.join(", .")
                        ),
                    });
                }
            }
            Ok(m) if m.is_file() => files.push(p.clone()),
            Ok(_) => problems.push(Problem {
                path: p.clone(),
                what: "not a regular file or directory".into(),
            }),
            Err(e) => problems.push(Problem {
                path: p.clone(),
                what: io_problem(&e),
            }),
        }
    }
    (files, problems)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            problems.push(Problem {
                path: dir.to_path_buf(),
                what: io_problem(&e),
            });
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        // Symbolic links to directories are not followed (no loops).
        let Ok(lm) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if lm.is_dir() {
            walk(&path, files, problems);
        } else if is_audio_name(&path) && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
}

/// True for the audio extensions searched in directories, in any case.
pub fn is_audio_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// An I/O error in words, without "(os error N)".
pub fn io_problem(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file or directory".into(),
        PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

fn show(r: &FileReport, json: bool) -> Result<()> {
    if json {
        return output::json(r);
    }
    output::line(format!(
        "{}  {}",
        style::bold(r.path.display()),
        style::dim(format!(
            "({:.1} s, {} Hz, {} ch)",
            r.duration_s, r.sample_rate, r.channels
        ))
    ))?;
    for s in &r.segments {
        output::line(format!(
            "  {:>16}  {} {} {:>4}",
            format!("{:.2}–{:.2} s", s.start_s, s.end_s),
            s.emotion.emoji(),
            style::emotion(s.emotion, 9),
            style::percent(s.confidence)
        ))?;
    }
    match (r.emotion, r.confidence) {
        (Some(e), Some(c)) => output::line(format!(
            "  {} {} {} {}",
            style::bold("verdict:"),
            e.emoji(),
            style::emotion(e, 0),
            style::percent(c)
        ))?,
        _ => output::line(format!(
            "  {}",
            r.note.as_deref().unwrap_or("no speech detected")
        ))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_searched_for_audio_names_only() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for f in [
            "a/x.WAV",
            "a/b/y.flac",
            "a/notes.txt",
            "z.ogg",
            "a/b/c.mp3",
            "q.oga",
        ] {
            std::fs::write(root.join(f), b"").unwrap();
        }
        std::fs::create_dir(root.join("empty")).unwrap();
        let named = root.join("a/notes.txt");
        let (files, problems) = collect(&[
            root.to_path_buf(),
            named.clone(),
            root.join("missing.wav"),
            root.join("empty"),
        ]);
        let rel: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
            .collect();
        assert_eq!(
            rel,
            vec![
                "a/b/c.mp3",
                "a/b/y.flac",
                "a/x.WAV",
                "q.oga",
                "z.ogg",
                "a/notes.txt"
            ]
        );
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].what, "no such file or directory");
        assert!(
            problems[1].what.starts_with("no audio files"),
            "{:?}",
            problems[1]
        );
    }
}
