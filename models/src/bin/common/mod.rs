//! What the data-set tools (`ser-eval`, `ser-features`) share: opening a
//! labelled data set with its worker threads, and degrading each of its
//! files the same reproducible way (`--perturb SPEC --seed N`).

use std::path::Path;

use anyhow::{Context, Result};
use ser_models::dataset::{self, LabelledFile, Listing};
use ser_models::perturb::Rng;
use ser_models::{Perturbation, Perturber};

/// How every file of a run is degraded before it is heard.
pub struct Degradation {
    perturber: Perturber,
    perturbation: Perturbation,
    seed: u64,
}

impl Degradation {
    /// `samples` (decoded from `file`) as the run hears them: unchanged when
    /// clean, else degraded with noise seeded from the file's path and the
    /// run's seed, so a rerun degrades every file the same way.
    pub fn apply(&self, file: &LabelledFile, samples: Vec<f32>) -> Result<Vec<f32>> {
        if self.perturbation == Perturbation::Clean {
            return Ok(samples);
        }
        let rng = Rng::seed_from(&file.rel_path, self.seed);
        self.perturber
            .apply(self.perturbation, &samples, rng)
            .with_context(|| format!("{}: applying {}", file.path.display(), self.perturbation))
    }
}

/// The labelled files under `data` (RAVDESS names or a CSV of path,label),
/// with `jobs` worker threads for the tools' parallel loops (all cores when
/// `None`) and the degradation: a babble bed is mixed from the data set's
/// own files when `perturbation` needs one.
pub fn open_data_set(
    data: &Path,
    jobs: Option<usize>,
    perturbation: Perturbation,
    seed: u64,
) -> Result<(Listing, Degradation)> {
    let listing = dataset::list_labelled(data)
        .with_context(|| format!("reading the data set {}", data.display()))?;
    if let Some(n) = jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("starting the worker threads")?;
    }
    let perturber = Perturber::for_files(perturbation, &listing.paths(), seed)
        .with_context(|| format!("mixing babble from {}", data.display()))?;
    Ok((
        listing,
        Degradation {
            perturber,
            perturbation,
            seed,
        },
    ))
}
