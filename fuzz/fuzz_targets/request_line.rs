//! Client bytes → request lines → requests or error replies (serd::fuzzing::request_bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    serd::fuzzing::request_bytes(data);
    // A tiny line limit reaches the overlong-line path with small inputs.
    serd::fuzzing::request_bytes_with_limit(data, 16);
});
