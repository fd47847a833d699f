//! `ser-bench`: single-threaded speed of every recognizer stage.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use ser_models::{dataset, decode_file, segment_all, Classifier, SegmenterConfig};
use serde::Serialize;

/// Measure how fast the recognizer runs, one stage at a time, on one core.
///
/// For every labelled file in DATA (RAVDESS-named folder or `path,label` CSV):
/// decode + resample to 16 kHz, VAD segmentation, features of each utterance,
/// inference of each utterance. Prints the model load time, tract's matrix
/// kernel choice, and, per stage, the total time and the speed as "× real
/// time" (seconds of audio processed per second of one core), then the
/// latency of one 3 s utterance (features + inference, median and 95th
/// percentile of 50 runs). No thresholds: these are figures to read, not a
/// test.
///
/// The kernel choice is ser's for layers of symbolic length
/// (`ser-symbolic-length`); SER_STOCK_KERNELS=1 in the environment measures
/// with tract's own (`tract-stock`) instead.
///
/// Example: ser-bench --data ../shared/data/ravdess --limit 200 --json
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Folder of RAVDESS-named audio, or a CSV of `path,label` rows.
    #[arg(long, env = "SER_RAVDESS", value_name = "DIR_OR_CSV")]
    data: PathBuf,
    /// Model file (default: the built-in model).
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Use at most N files (spread evenly over the set).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Default)]
struct Stage {
    seconds: f64,
    x_realtime: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    model_version: String,
    model_load_s: f64,
    /// tract's matrix-kernel choice the model's plan got (`Classifier::kernels`).
    kernels: &'static str,
    files: usize,
    failed: usize,
    utterances: usize,
    audio_s: f64,
    speech_s: f64,
    decode: Stage,
    segment: Stage,
    features: Stage,
    inference: Stage,
    total: Stage,
    utterance_3s: Latency,
}

/// Time to classify one 3 s utterance (features + inference), in milliseconds.
#[derive(Serialize)]
struct Latency {
    runs: usize,
    features_ms_median: f64,
    inference_ms_median: f64,
    total_ms_median: f64,
    total_ms_p95: f64,
}

/// Features + inference of a 3 s utterance cut from the first file's speech
/// (tiled if shorter), `runs` times after one warm-up.
fn latency_3s(classifier: &Classifier, speech: &[f32], runs: usize) -> Result<Latency> {
    let n = 48_000;
    let utt: Vec<f32> = speech.iter().copied().cycle().take(n).collect();
    if utt.len() < n {
        bail!("no speech to time a 3 s utterance with");
    }
    std::hint::black_box(classifier.classify(&utt)?);
    let (mut feat, mut inf, mut tot) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t0 = Instant::now();
        let f = classifier.extractor().extract(&utt);
        let t1 = Instant::now();
        std::hint::black_box(classifier.classify_features(&f)?);
        let t2 = Instant::now();
        feat.push((t1 - t0).as_secs_f64() * 1e3);
        inf.push((t2 - t1).as_secs_f64() * 1e3);
        tot.push((t2 - t0).as_secs_f64() * 1e3);
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    Ok(Latency {
        runs,
        features_ms_median: q(&mut feat, 0.5),
        inference_ms_median: q(&mut inf, 0.5),
        total_ms_median: q(&mut tot, 0.5),
        total_ms_p95: q(&mut tot, 0.95),
    })
}

fn stage(d: Duration, audio_s: f64) -> Stage {
    let seconds = d.as_secs_f64();
    Stage {
        seconds,
        x_realtime: if seconds > 0.0 {
            audio_s / seconds
        } else {
            0.0
        },
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let t = Instant::now();
    let classifier = match &args.model {
        Some(p) => Classifier::from_path(p)?,
        None => Classifier::embedded()?,
    };
    let load = t.elapsed();
    let mut files = dataset::list_labelled(&args.data)
        .with_context(|| format!("reading the data set {}", args.data.display()))?
        .files;
    if let Some(n) = args.limit {
        let step = (files.len() as f64 / n.max(1) as f64).max(1.0);
        files = (0..n.min(files.len()))
            .map(|i| files[(i as f64 * step) as usize].clone())
            .collect();
    }
    let seg_cfg = SegmenterConfig::default();
    let (mut t_dec, mut t_seg, mut t_feat, mut t_inf) = Default::default();
    let (mut audio_s, mut speech_s, mut utterances, mut failed) = (0.0, 0.0, 0, 0);
    let mut first_speech: Vec<f32> = Vec::new();
    for f in &files {
        let t0 = Instant::now();
        let audio = match decode_file(&f.path) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("skipped: {e}");
                failed += 1;
                continue;
            }
        };
        let t1 = Instant::now();
        let utts = segment_all(&audio.samples, &seg_cfg)?;
        let t2 = Instant::now();
        t_dec += t1 - t0;
        t_seg += t2 - t1;
        audio_s += audio.samples.len() as f64 / 16_000.0;
        for u in &utts {
            if first_speech.is_empty() {
                first_speech = u.samples.clone();
            }
            let t3 = Instant::now();
            let feats = classifier.extractor().extract(&u.samples);
            let t4 = Instant::now();
            std::hint::black_box(classifier.classify_features(&feats)?);
            t_inf += t4.elapsed();
            t_feat += t4 - t3;
            speech_s += u.duration_s();
            utterances += 1;
        }
    }
    let total: Duration = t_dec + t_seg + t_feat + t_inf;
    let utterance_3s = latency_3s(&classifier, &first_speech, 50)?;
    let r = Report {
        model: classifier.info().source.clone(),
        model_version: classifier.info().version.clone(),
        model_load_s: load.as_secs_f64(),
        kernels: classifier.kernels(),
        files: files.len(),
        failed,
        utterances,
        audio_s,
        speech_s,
        decode: stage(t_dec, audio_s),
        segment: stage(t_seg, audio_s),
        features: stage(t_feat, audio_s),
        inference: stage(t_inf, audio_s),
        total: stage(total, audio_s),
        utterance_3s,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "model {} ({}) loaded in {:.3} s; matrix kernels: {}",
        r.model, r.model_version, r.model_load_s, r.kernels
    );
    println!(
        "{} files ({} failed), {:.1} s of audio, {} utterances with {:.1} s of speech; one thread",
        r.files, r.failed, r.audio_s, r.utterances, r.speech_s
    );
    println!("{:<10} {:>10} {:>14}", "stage", "seconds", "× real time");
    for (name, s) in [
        ("decode", &r.decode),
        ("segment", &r.segment),
        ("features", &r.features),
        ("inference", &r.inference),
        ("total", &r.total),
    ] {
        println!("{name:<10} {:>10.3} {:>14.1}", s.seconds, s.x_realtime);
    }
    println!("(× real time = seconds of audio per second of one core, over all audio)");
    let l = &r.utterance_3s;
    println!(
        "one 3 s utterance: features {:.2} ms + inference {:.2} ms = {:.2} ms median, {:.2} ms p95 ({} runs)",
        l.features_ms_median, l.inference_ms_median, l.total_ms_median, l.total_ms_p95, l.runs
    );
    Ok(())
}
