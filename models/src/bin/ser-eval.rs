//! `ser-eval`: accuracy of a model on labelled audio.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;
use rayon::prelude::*;
use ser_models::analysis::{analyze_samples, argmax};
use ser_models::dataset::LabelledFile;
use ser_models::{decode_file, Classifier, Perturbation, SegmenterConfig, LABELS};
use serde::Serialize;

mod common;
use common::{open_data_set, Degradation};

/// Evaluate a model on labelled audio, exactly as `serctl analyze` would judge it.
///
/// DATA is a folder of RAVDESS-named files (`MM-VV-EE-II-SS-RR-AA.wav`, EE =
/// emotion 01..08) or a CSV of `path,label` rows. Each file goes through the
/// same analysis as `serctl analyze` (VAD segments, one prediction per
/// segment, duration-weighted verdict); the predicted emotion is the
/// verdict's most likely one. Files with no speech are classified whole and
/// counted as such.
///
/// Prints WA (weighted accuracy: correct / files), UA (unweighted accuracy:
/// mean of the per-class recalls), per-class recall and the confusion matrix
/// (rows = true emotion, columns = predicted). With --json, also every
/// file's verdict (`predictions`: path, true and predicted label, the eight
/// probabilities, whether it had speech), to find the files a model gets
/// wrong.
///
/// --perturb SPEC degrades every file first (white:20, babble:10, telephone,
/// gain:-20, speed:1.1; see `ser-features --help`), reproducibly, to see how
/// the model holds up on worse audio. Babble is mixed from the data set's own
/// files.
///
/// Examples:
///   ser-eval --data ../shared/data/ravdess --model models/assets/default.onnx
///   ser-eval --data my-recordings.csv --perturb telephone --json
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Folder of RAVDESS-named audio, or a CSV of `path,label` rows.
    #[arg(long, value_name = "DIR_OR_CSV")]
    data: PathBuf,
    /// Model file (default: the built-in model).
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Degrade the audio first (clean, white:SNR_DB, babble:SNR_DB,
    /// telephone, gain:DB, speed:FACTOR, pitch:SEMITONES, reverb:RT60_S).
    #[arg(long, value_name = "SPEC", default_value = "clean", value_parser = parse_perturbation)]
    perturb: Perturbation,
    /// Seed of the perturbation's randomness (mixed with each file's path).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
}

fn parse_perturbation(s: &str) -> Result<Perturbation, String> {
    match s.parse::<Perturbation>() {
        Ok(p) if p.is_random() => Err(format!(
            "{p} is for training augmentation; name one degradation"
        )),
        Ok(p) => Ok(p),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Serialize)]
struct Failure {
    path: String,
    error: String,
}

/// One file's verdict.
#[derive(Serialize)]
struct Prediction {
    /// As the data set names it (relative to the folder, or as the CSV writes it).
    path: String,
    label: &'static str,
    predicted: &'static str,
    /// The verdict's probabilities, in `labels` order.
    probabilities: [f32; 8],
    /// No speech was found: the file was classified whole.
    no_speech: bool,
}

#[derive(Serialize)]
struct Report {
    model: String,
    model_version: String,
    perturbation: String,
    labels: [&'static str; 8],
    files: usize,
    evaluated: usize,
    no_speech_files: usize,
    failed: Vec<Failure>,
    wa: f64,
    ua: f64,
    /// Per-class recall; `None` for a class with no files.
    recall: Vec<Option<f64>>,
    support: [usize; 8],
    /// `confusion[true][predicted]`
    confusion: [[usize; 8]; 8],
    /// Every evaluated file, in the data set's order.
    predictions: Vec<Prediction>,
}

/// The verdict of `serctl analyze` on `f` (degraded first as the run says):
/// (its probabilities, whether the file had no speech and was classified
/// whole).
fn predict(
    c: &Classifier,
    f: &LabelledFile,
    cfg: &SegmenterConfig,
    degrade: &Degradation,
) -> Result<([f32; 8], bool)> {
    let mut audio = decode_file(&f.path)?;
    audio.samples = degrade.apply(f, audio.samples)?;
    let a = analyze_samples(c, &audio.samples, cfg)?;
    Ok(match a.verdict {
        Some(v) => (v, false),
        None => (c.classify(&audio.samples)?, true),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let classifier = match &args.model {
        Some(p) => Classifier::from_path(p)?,
        None => Classifier::embedded()?,
    };
    let (listing, degrade) = open_data_set(&args.data, args.jobs, args.perturb, args.seed)?;
    let cfg = SegmenterConfig::default();
    let results: Vec<_> = listing
        .files
        .par_iter()
        .map(|f| predict(&classifier, f, &cfg, &degrade))
        .collect();

    let mut confusion = [[0usize; 8]; 8];
    let mut failed = Vec::new();
    let mut no_speech = 0;
    let mut predictions = Vec::new();
    for (f, r) in listing.files.iter().zip(results) {
        match r {
            Ok((probabilities, whole)) => {
                let pred = argmax(&probabilities).0;
                confusion[f.label][pred] += 1;
                no_speech += usize::from(whole);
                predictions.push(Prediction {
                    path: f.rel_path.clone(),
                    label: LABELS[f.label],
                    predicted: LABELS[pred],
                    probabilities,
                    no_speech: whole,
                });
            }
            Err(e) => failed.push(Failure {
                path: f.rel_path.clone(),
                error: format!("{e:#}"),
            }),
        }
    }
    let support: [usize; 8] = std::array::from_fn(|i| confusion[i].iter().sum());
    let evaluated: usize = support.iter().sum();
    if evaluated == 0 {
        bail!("no file could be evaluated ({} failed)", failed.len());
    }
    let correct: usize = (0..8).map(|i| confusion[i][i]).sum();
    let recall: Vec<Option<f64>> = (0..8)
        .map(|i| (support[i] > 0).then(|| confusion[i][i] as f64 / support[i] as f64))
        .collect();
    let present: Vec<f64> = recall.iter().flatten().copied().collect();
    let r = Report {
        model: classifier.info().source.clone(),
        model_version: classifier.info().version.clone(),
        perturbation: args.perturb.to_string(),
        labels: LABELS,
        files: listing.files.len(),
        evaluated,
        no_speech_files: no_speech,
        wa: correct as f64 / evaluated as f64,
        ua: present.iter().sum::<f64>() / present.len() as f64,
        recall,
        support,
        confusion,
        failed,
        predictions,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for f in &r.failed {
        eprintln!("skipped {}: {}", f.path, f.error);
    }
    println!("model {} ({})", r.model, r.model_version);
    if r.perturbation != "clean" {
        println!("audio degraded: {}", r.perturbation);
    }
    println!(
        "{} files, {} evaluated, {} without speech (classified whole), {} failed",
        r.files,
        r.evaluated,
        r.no_speech_files,
        r.failed.len()
    );
    println!("WA {:.1} %   UA {:.1} %", r.wa * 100.0, r.ua * 100.0);
    println!();
    println!("{:<10} {:>7} {:>7}", "class", "recall", "files");
    for ((label, recall), support) in LABELS.iter().zip(&r.recall).zip(r.support) {
        let rec = recall.map_or("-".to_string(), |v| format!("{:.1} %", v * 100.0));
        println!("{label:<10} {rec:>7} {support:>7}");
    }
    println!();
    println!("confusion (rows = true, columns = predicted)");
    print!("{:<10}", "");
    for l in LABELS {
        print!(" {:>5}", &l[..l.len().min(5)]);
    }
    println!();
    for (i, row) in r.confusion.iter().enumerate() {
        print!("{:<10}", LABELS[i]);
        for v in row {
            print!(" {v:>5}");
        }
        println!();
    }
    Ok(())
}
