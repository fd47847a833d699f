//! Arbitrary bytes as an audio file → decode + resample (serd::fuzzing::audio_bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    serd::fuzzing::audio_bytes(data);
});
