//! Which matrix-product kernel tract runs for a layer whose length is only
//! known at run time.
//!
//! serd runs the model with T (frames) symbolic, so a convolution's column
//! count `n` (output positions) is unknown when tract optimises the graph.
//! tract's x86 cost models then fall back on the one kernel they were
//! fitted around, `avx512_mmm_f32_64x3`, whatever the layer's row count `m`
//! (output channels). The speech embedding's 24- to 96-channel layers fill
//! a third to three quarters of its 64-row tiles, and a 3 s utterance took
//! 11.0 ms instead of the 8.1 ms of a plan built for its exact length
//! (`examples/tract_profile.rs`).
//!
//! This module registers a rung on top of tract's dispatch ladder
//! (`tract_linalg::mmm_tiers`, a registry every tier declares itself into):
//! for a query with `m` known and `n` unknown it asks the tiers below it the
//! same question with `n` = [`NOMINAL_N`], a length of the order of the
//! utterance's positions, so their cost models weigh the tile against `m`.
//! Every other query it leaves to them unchanged. It answers with a kernel
//! they chose, so it never picks one the machine cannot run.
//!
//! It only changes which kernel multiplies, not what is computed: the
//! parity tests hold with it. `SER_STOCK_KERNELS=1` in the environment (or
//! [`set_enabled`]`(false)`) turns it off for plans built afterwards, to
//! compare or to rule it out.

use std::sync::atomic::{AtomicBool, Ordering};

use tract_onnx::prelude::tract_linalg::isa::IsaSet;
use tract_onnx::prelude::tract_linalg::mmm::{suitable_named, Query, Suitable};
use tract_onnx::prelude::tract_linalg::mmm_tiers::{self, MmmTier};
use tract_onnx::prelude::tract_linalg::MmmDispatch;
use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_data::knobs::inventory;

/// The tier's name in tract's ladder.
pub const TIER_NAME: &str = "ser-symbolic-length";

/// The column count the tiers below are asked about when the real one is
/// symbolic: a second of frames at the embedding's first layers is about
/// 3,400 positions and its last layers see a few hundred, so any value in
/// the hundreds or more makes `m`'s tile fill decide, as it should.
pub const NOMINAL_N: usize = 1024;

/// Above every tier tract declares (0 to 8 today), for every architecture.
const PRECEDENCE: u8 = u8::MAX;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the rung on or off for the plans built from now on (on by default;
/// `SER_STOCK_KERNELS` set in the environment keeps it off regardless).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether plans built now get the rung's choices.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed) && std::env::var_os("SER_STOCK_KERNELS").is_none()
}

/// Whether the rung is on this machine's dispatch ladder, first. Loading a
/// model calls it (through [`dispatch`], `model.rs`), which also keeps this
/// module's registration linked into every binary that runs a model.
#[inline(never)]
pub fn registered() -> bool {
    MmmDispatch::native()
        .tiers()
        .first()
        .is_some_and(|tier| tier.name == TIER_NAME)
}

/// [`dispatch`]'s answer when ser's rung is turned off.
pub const STOCK: &str = "tract-stock";

/// [`dispatch`]'s answer when the rung is not on tract's ladder (see
/// [`registered`]).
pub const MISSING: &str = "tract-stock-missing";

/// Which kernel choice plans built now get, in a word for logs:
/// [`TIER_NAME`] (ser's), [`STOCK`] or [`MISSING`]. `Classifier` records it
/// when it builds its plan (`Classifier::kernels`).
pub fn dispatch() -> &'static str {
    if !registered() {
        MISSING
    } else if !enabled() {
        STOCK
    } else {
        TIER_NAME
    }
}

/// The tier's answer: `None` (no opinion) unless `n` alone is unknown.
fn preferred(
    isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    suitable: &[Suitable],
) -> Option<&'static str> {
    if query.n.is_some() || query.m.is_none() || query.k.is_none() || !enabled() {
        return None;
    }
    let query = Query {
        n: Some(NOMINAL_N),
        ..query.clone()
    };
    mmm_tiers::for_isa(isa)
        .into_iter()
        .filter(|tier| tier.name != TIER_NAME)
        .find_map(|tier| {
            let name = (tier.preferred)(isa, accumulator, &query, suitable)?;
            suitable_named(suitable, name).map(|_| name)
        })
}

inventory::submit! {
    MmmTier {
        arch: None,
        precedence: PRECEDENCE,
        name: TIER_NAME,
        applies: |_| true,
        preferred,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Serialises the tests that read or flip the switch.
    static SWITCH: Mutex<()> = Mutex::new(());

    #[test]
    fn the_tier_is_on_this_machines_ladder_first() {
        assert!(registered());
    }

    #[test]
    fn an_unknown_length_gets_the_kernel_of_a_long_known_one() {
        let _switch = SWITCH.lock().unwrap();
        let dispatch = MmmDispatch::native();
        for m in [8, 24, 48, 72, 96, 256] {
            let symbolic = Query::plain(DatumType::F32, Some(m), Some(216), None);
            let nominal = Query::plain(DatumType::F32, Some(m), Some(216), Some(NOMINAL_N));
            let a = dispatch.pick(&symbolic).expect("a kernel").0;
            let b = dispatch.pick(&nominal).expect("a kernel").0;
            assert_eq!(a.name(), b.name(), "m = {m}");
        }
    }

    #[test]
    fn known_lengths_are_left_alone() {
        let query = Query::plain(DatumType::F32, Some(24), Some(216), Some(7));
        let isa = tract_onnx::prelude::tract_linalg::isa::native();
        let suitable = MmmDispatch::native().suitable(&query);
        assert_eq!(preferred(&isa, DatumType::F32, &query, &suitable), None);
    }

    #[test]
    fn switched_off_it_has_no_opinion() {
        let _switch = SWITCH.lock().unwrap();
        let query = Query::plain(DatumType::F32, Some(24), Some(216), None);
        let isa = tract_onnx::prelude::tract_linalg::isa::native();
        let suitable = MmmDispatch::native().suitable(&query);
        assert!(preferred(&isa, DatumType::F32, &query, &suitable).is_some());
        set_enabled(false);
        let off = preferred(&isa, DatumType::F32, &query, &suitable);
        set_enabled(true);
        assert_eq!(off, None);
    }
}
