//! `ser-features`: the feature dump used for training (the only feature source).
//!
//! Decodes every labelled file, segments it with the default VAD settings
//! (the whole file when no speech is found), computes the features and writes
//! `OUTDIR/feats.npy` (float32 `[total_frames, F]`) and `OUTDIR/index.json`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use ser_models::dataset::LabelledFile;
use ser_models::{
    decode_file, segment_all, FeatureConfig, FeatureExtractor, FeatureKind, Perturbation,
    SegmenterConfig, LABELS,
};
use serde::Serialize;

mod common;
use common::{open_data_set, Degradation};

/// Dump training features from labelled audio.
///
/// DATA is a folder searched recursively for RAVDESS-named files
/// (`MM-VV-EE-II-SS-RR-AA.wav`, EE = emotion 01..08) or a CSV of `path,label`
/// rows (label = neutral, calm, happy, sad, angry, fearful, disgust, surprised
/// or 0..7; relative paths are relative to the CSV).
///
/// Each file is decoded to 16 kHz mono, cut into utterances by the same VAD
/// segmenter the daemon uses (files where it finds no speech are used whole and
/// counted), and each utterance becomes one item of features.
///
/// Output: OUTDIR/feats.npy, float32 [total_frames, F], all items stacked;
/// OUTDIR/index.json = {"feature_config": {...}, "items": [{"path", "actor",
/// "emotion", "label", "segment", "start_s", "end_s", "offset", "frames",
/// "whole_file"}], "stats": {...}}; item rows are feats[offset:offset+frames].
///
/// With --perturb SPEC every file is degraded before segmentation (the
/// same waveform code `ser-eval --perturb` uses), reproducibly: the noise of
/// each file is seeded from its path and --seed. `random` draws a different
/// degradation per file, for training augmentation (`random-room` adds a
/// simulated room half of the time, `random-pitch` shifts the pitch instead
/// of the speed); write several dirs with
/// different seeds for several augmented copies. Babble noise is mixed from
/// the data set's own files.
///
/// Examples:
///   ser-features --data ../shared/data/ravdess --out /tmp/feats --kind mfcc
///   ser-features --data ../shared/data/ravdess --out /tmp/feats-white20 --kind logmel --perturb white:20
///   ser-features --data ../shared/data/ravdess --out /tmp/feats-aug1 --kind logmel --perturb random --seed 1
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Folder of RAVDESS-named audio, or a CSV of `path,label` rows.
    #[arg(long, value_name = "DIR_OR_CSV")]
    data: PathBuf,
    /// Output folder (created if missing); feats.npy and index.json are replaced.
    #[arg(long, value_name = "OUTDIR")]
    out: PathBuf,
    /// Feature kind: mfcc (40 per frame) or logmel (64 per frame).
    #[arg(long, default_value = "mfcc", value_parser = parse_kind)]
    kind: FeatureKind,
    /// Normalise each coefficient to zero mean, unit variance per utterance.
    #[arg(long)]
    cmvn: bool,
    /// Append pitch (F0 in semitones re 100 Hz, interpolated through
    /// unvoiced frames) and voicing to every frame: F grows by 2.
    #[arg(long)]
    pitch: bool,

    /// Append the 32 bands of the pretrained speech embedding's front end
    /// (Slaney mel 60-3800 Hz, dB of int16-scaled power), for a model that
    /// carries that network (see ser_models::features)
    #[arg(long)]
    speech_embedding: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Degrade the audio first: clean, white:SNR_DB, babble:SNR_DB, telephone,
    /// gain:DB, speed:FACTOR, pitch:SEMITONES, reverb:RT60_S, random,
    /// random-room or random-pitch (see ser_models::perturb).
    #[arg(long, value_name = "SPEC", default_value = "clean", value_parser = parse_perturbation)]
    perturb: Perturbation,
    /// Seed of the perturbation's randomness (mixed with each file's path).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Segment with the plain VAD, without level normalisation of its input
    /// (`vad_agc = false`; the dumps of the models up to crnn-logmel-3 were
    /// made so, by the code of that time: see the model card).
    #[arg(long)]
    no_vad_agc: bool,
}

fn parse_perturbation(s: &str) -> Result<Perturbation, String> {
    s.parse().map_err(|e: ser_models::Error| e.to_string())
}

fn parse_kind(s: &str) -> Result<FeatureKind, String> {
    s.parse().map_err(|e: ser_models::Error| e.to_string())
}

#[derive(Serialize)]
struct Item {
    path: String,
    actor: Option<u8>,
    emotion: &'static str,
    label: usize,
    segment: usize,
    start_s: f64,
    end_s: f64,
    offset: u64,
    frames: usize,
    whole_file: bool,
}

#[derive(Serialize)]
struct Failure {
    path: String,
    error: String,
}

#[derive(Serialize)]
struct Stats {
    files: usize,
    files_used: usize,
    items: usize,
    total_frames: u64,
    no_speech_files: usize,
    failed: Vec<Failure>,
    unlabelled_files: usize,
}

#[derive(Serialize)]
struct Index<'a> {
    feature_config: &'a FeatureConfig,
    segmenter_config: &'a SegmenterConfig,
    perturbation: String,
    seed: u64,
    items: Vec<Item>,
    stats: Stats,
}

struct Segment {
    start_s: f64,
    end_s: f64,
    whole_file: bool,
    frames: usize,
    data: Vec<f32>,
}

struct Job<'a> {
    ex: &'a FeatureExtractor,
    seg_cfg: &'a SegmenterConfig,
    degrade: &'a Degradation,
}

fn process(file: &LabelledFile, job: &Job) -> Result<Vec<Segment>, String> {
    let (ex, seg_cfg) = (job.ex, job.seg_cfg);
    let mut audio = decode_file(&file.path).map_err(|e| e.to_string())?;
    if audio.samples.is_empty() {
        return Err(format!("{}: no audio samples", file.path.display()));
    }
    audio.samples = job
        .degrade
        .apply(file, audio.samples)
        .map_err(|e| format!("{e:#}"))?;
    let utts = segment_all(&audio.samples, seg_cfg).map_err(|e| e.to_string())?;
    let segs = if utts.is_empty() {
        let f = ex.extract(&audio.samples);
        vec![Segment {
            start_s: 0.0,
            end_s: audio.samples.len() as f64 / 16_000.0,
            whole_file: true,
            frames: f.frames,
            data: f.data,
        }]
    } else {
        utts.iter()
            .map(|u| {
                let f = ex.extract(&u.samples);
                Segment {
                    start_s: u.start_s(),
                    end_s: u.end_s(),
                    whole_file: false,
                    frames: f.frames,
                    data: f.data,
                }
            })
            .collect()
    };
    Ok(segs)
}

/// Write a 2-D little-endian float32 array in .npy format version 1.0.
fn write_npy(path: &Path, rows: u64, cols: usize, chunks: &[&[f32]]) -> Result<()> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + header length (2) + header + '\n', padded to 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let tmp = path.with_extension("npy.tmp");
    let f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::new(f);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for chunk in chunks {
        for v in *chunk {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let feature_config = FeatureConfig {
        kind: args.kind,
        cmvn: args.cmvn,
        pitch: args.pitch,
        speech_embedding: args.speech_embedding,
        ..FeatureConfig::default()
    };
    let ex = FeatureExtractor::new(&feature_config)?;
    let seg_cfg = SegmenterConfig {
        vad_agc: !args.no_vad_agc,
        ..SegmenterConfig::default()
    };
    let (listing, degrade) = open_data_set(&args.data, args.jobs, args.perturb, args.seed)?;
    let job = Job {
        ex: &ex,
        seg_cfg: &seg_cfg,
        degrade: &degrade,
    };
    tracing::info!(
        files = listing.files.len(),
        features = %feature_config.to_json(),
        perturbation = %args.perturb,
        seed = args.seed,
        "extracting"
    );
    let done = AtomicUsize::new(0);
    let total = listing.files.len();
    let results: Vec<Result<Vec<Segment>, String>> = listing
        .files
        .par_iter()
        .map(|f| {
            let r = process(f, &job);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 100 == 0 || n == total {
                tracing::info!("{n}/{total} files");
            }
            r
        })
        .collect();

    let mut items = Vec::new();
    let mut chunks: Vec<&[f32]> = Vec::new();
    let mut failed = Vec::new();
    let (mut offset, mut no_speech, mut used) = (0u64, 0usize, 0usize);
    for (file, result) in listing.files.iter().zip(&results) {
        match result {
            Err(e) => {
                tracing::warn!("skipped: {e}");
                failed.push(Failure {
                    path: file.rel_path.clone(),
                    error: e.clone(),
                });
            }
            Ok(segs) => {
                used += 1;
                if segs.iter().any(|s| s.whole_file) {
                    no_speech += 1;
                }
                for (i, s) in segs.iter().enumerate() {
                    items.push(Item {
                        path: file.rel_path.clone(),
                        actor: file.actor,
                        emotion: LABELS[file.label],
                        label: file.label,
                        segment: i,
                        start_s: (s.start_s * 1e4).round() / 1e4,
                        end_s: (s.end_s * 1e4).round() / 1e4,
                        offset,
                        frames: s.frames,
                        whole_file: s.whole_file,
                    });
                    offset += s.frames as u64;
                    chunks.push(&s.data);
                }
            }
        }
    }
    if items.is_empty() {
        bail!("no file could be used ({} failed)", failed.len());
    }
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_npy(
        &args.out.join("feats.npy"),
        offset,
        feature_config.dim(),
        &chunks,
    )?;
    let stats = Stats {
        files: total,
        files_used: used,
        items: items.len(),
        total_frames: offset,
        no_speech_files: no_speech,
        failed,
        unlabelled_files: listing.unlabelled.len(),
    };
    tracing::info!(
        files = stats.files,
        used = stats.files_used,
        items = stats.items,
        frames = stats.total_frames,
        no_speech = stats.no_speech_files,
        failed = stats.failed.len(),
        "done"
    );
    let index = Index {
        feature_config: &feature_config,
        segmenter_config: &seg_cfg,
        perturbation: args.perturb.to_string(),
        seed: args.seed,
        items,
        stats,
    };
    let index_path = args.out.join("index.json");
    let tmp = args.out.join("index.json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(&index)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &index_path)
        .with_context(|| format!("renaming to {}", index_path.display()))?;
    println!(
        "wrote {} ({} rows × {}) and {}",
        args.out.join("feats.npy").display(),
        offset,
        feature_config.dim(),
        index_path.display()
    );
    Ok(())
}
