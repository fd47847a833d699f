//! Where a model's inference time goes in tract, what ser's kernel choice
//! for symbolic lengths saves, and what a plan built for one fixed length
//! would still gain: the figures behind the model card's "Latency and size".
//!
//! ```sh
//! cargo run --release -p ser-models --example tract_profile -- \
//!     [--model models/assets/crnn-logmel-8.onnx] [--wav clip.wav] [--runs 30]
//! ```
//!
//! Builds the model the way `ser_models::Classifier` does (T symbolic, with
//! ser's kernel choice for that case, `ser_models::kernels`), with tract's
//! own kernel choice, and with T fixed to the input's length, times the
//! three on the same 3 s
//! utterance (the first 3 s of `--wav`, tiled; default: the first labelled
//! file of `$SER_RAVDESS`), and prints, for the first and the last, the
//! time per operator kind, per part of the graph and the slowest nodes. One
//! thread, like serd's classifier.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ser_models::{dataset, decode_file, Classifier};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{eval, SimpleState};

type Plan = Arc<TypedRunnableModel>;

struct Args {
    model: Option<PathBuf>,
    wav: Option<PathBuf>,
    runs: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        model: None,
        wav: None,
        runs: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--model" => args.model = Some(value()?.into()),
            "--wav" => args.wav = Some(value()?.into()),
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            other => {
                bail!("unknown argument {other:?} (see the header of examples/tract_profile.rs)")
            }
        }
    }
    Ok(args)
}

fn first_clip() -> Result<PathBuf> {
    let root =
        PathBuf::from(std::env::var("SER_RAVDESS").unwrap_or("../shared/data/ravdess".into()));
    let listing = dataset::list_labelled(&root).with_context(|| {
        format!(
            "{}: no RAVDESS here (give --wav or SER_RAVDESS)",
            root.display()
        )
    })?;
    Ok(listing.files[0].path.clone())
}

fn ms_per_run(plan: &Plan, input: &Tensor, runs: usize) -> Result<f64> {
    plan.run(tvec!(input.clone().into()))?;
    let t0 = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(plan.run(tvec!(input.clone().into()))?);
    }
    Ok(t0.elapsed().as_secs_f64() * 1e3 / runs as f64)
}

/// The sub-network a node belongs to: the first component of its name
/// (`emb`, the speech embedding; `own0`..., the ensemble's own networks).
fn part_of(name: &str) -> String {
    name.split('/').next().unwrap_or(name).to_string()
}

fn profile(label: &str, plan: &Plan, input: &Tensor, runs: usize) -> Result<()> {
    let mut by_kind: HashMap<String, (f64, usize)> = HashMap::new();
    let mut by_node: HashMap<usize, (String, f64)> = HashMap::new();
    let mut by_part: HashMap<String, f64> = HashMap::new();
    for _ in 0..runs {
        let mut state = SimpleState::new(plan)?;
        state.run_plan_with_eval(tvec!(input.clone().into()), |ctx, st, node, inputs| {
            let t0 = Instant::now();
            let out = eval(ctx, st, node, inputs);
            let ms = t0.elapsed().as_secs_f64() * 1e3 / runs as f64;
            *by_part.entry(part_of(&node.name)).or_default() += ms;
            let kind = by_kind.entry(node.op().name().to_string()).or_default();
            kind.0 += ms;
            kind.1 += 1;
            by_node
                .entry(node.id)
                .or_insert_with(|| (format!("{} {}", node.op().name(), node.name), 0.0))
                .1 += ms;
            out
        })?;
    }
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    let total: f64 = kinds.iter().map(|k| k.1 .0).sum();
    println!("\n{label}: {total:.2} ms per run in operators");
    for (kind, (ms, n)) in kinds.iter().take(10) {
        println!("  {kind:<28} {ms:7.3} ms  ({} nodes)", n / runs);
    }
    let mut parts: Vec<_> = by_part.into_iter().collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("  by part of the graph:");
    for (part, ms) in &parts {
        println!("    {ms:7.3} ms  {part}");
    }
    let mut nodes: Vec<_> = by_node.into_values().collect();
    nodes.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("  slowest nodes:");
    for (name, ms) in nodes.iter().take(8) {
        println!("    {ms:7.3} ms  {name}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let bytes = match &args.model {
        Some(p) => std::fs::read(p).with_context(|| p.display().to_string())?,
        None => ser_models::model::EMBEDDED_MODEL.to_vec(),
    };
    let classifier = Classifier::from_bytes(&bytes, "model")?;
    let wav = match args.wav {
        Some(p) => p,
        None => first_clip()?,
    };
    let audio = decode_file(&wav)?;
    let utterance: Vec<f32> = audio.samples.iter().copied().cycle().take(48_000).collect();
    let features = classifier.extractor().extract(&utterance);
    let input = Tensor::from_shape(&[1, features.frames, features.dim], &features.data)?;
    println!(
        "{} ({}): a 3 s utterance of {}, {} frames × {}",
        classifier.info().version,
        args.model
            .as_ref()
            .map_or("embedded".into(), |p| p.display().to_string()),
        wav.display(),
        features.frames,
        features.dim
    );

    let onnx = tract_onnx::onnx();
    let build = |fixed: bool| -> Result<(Plan, f64)> {
        let t0 = Instant::now();
        let mut model = onnx.model_for_read(&mut &bytes[..])?;
        if fixed {
            model =
                model.with_input_fact(0, f32::fact([1, features.frames, features.dim]).into())?;
        }
        let plan = model.into_optimized()?.into_runnable()?;
        Ok((plan, t0.elapsed().as_secs_f64() * 1e3))
    };
    ser_models::kernels::set_enabled(false);
    let (stock, build_stock) = build(false)?;
    ser_models::kernels::set_enabled(true);
    let (symbolic, build_symbolic) = build(false)?;
    let (fixed, build_fixed) = build(true)?;

    let s = ms_per_run(&stock, &input, args.runs)?;
    let a = ms_per_run(&symbolic, &input, args.runs)?;
    let b = ms_per_run(&fixed, &input, args.runs)?;
    for (label, ms, built) in [
        (
            "T symbolic, tract's own kernel choice:".to_string(),
            s,
            build_stock,
        ),
        (
            "T symbolic, as serd runs it:".to_string(),
            a,
            build_symbolic,
        ),
        (
            format!("T fixed to {} frames:", features.frames),
            b,
            build_fixed,
        ),
    ] {
        println!("{label:<39} {ms:.2} ms per run, plan built in {built:.0} ms");
    }
    profile("T symbolic", &symbolic, &input, args.runs)?;
    profile("T fixed", &fixed, &input, args.runs)?;
    Ok(())
}
