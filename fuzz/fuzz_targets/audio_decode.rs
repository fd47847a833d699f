//! Arbitrary bytes as an audio file → decode + resample (serd::fuzzing::audio_bytes).
//!
//! A panic inside symphonia is contained: `ser_models::audio` runs every
//! decoder step under `catch_unwind` and turns the panic into an error that
//! names the file, so the daemon and `serctl analyze` survive it. libFuzzer's
//! panic hook would abort on it all the same, and every run would then stop at
//! the first of symphonia's known panics instead of searching our code. So a
//! panic whose location is in a symphonia crate is reported on stderr (the
//! line starts `contained panic in symphonia`, which packaging/fuzz.sh lists
//! at the end) and left to the `catch_unwind`; any other panic aborts as before.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

fn contain_symphonia_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_symphonia = info
                .location()
                .is_some_and(|l| l.file().contains("symphonia-"));
            if in_symphonia {
                eprintln!("contained panic in symphonia: {info}");
            } else {
                abort_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    contain_symphonia_panics();
    serd::fuzzing::audio_bytes(data);
});
