//! Fuzz bodies: what the cargo-fuzz targets in `fuzz/` run on each input,
//! and what `daemon/tests/fuzz_props.rs` runs on seeded random inputs in the
//! normal test suite. Each one panics only when an invariant breaks.

use std::io::Cursor;

use ser_ctl::protocol::{ErrorCode, MAX_LINE_BYTES};

use crate::server::conn::{read_line, LineRead};
use crate::server::handlers::parse_line;

/// Splits arbitrary client bytes into request lines exactly as a connection
/// does (64 KiB limit) and parses each one. Invariants: no panic, no line
/// held past the limit, and every error carries one of the parse error codes.
/// Returns how many lines parsed into requests and how many were refused.
pub fn request_bytes(data: &[u8]) -> (usize, usize) {
    request_bytes_with_limit(data, MAX_LINE_BYTES)
}

/// [`request_bytes`] with another line limit (small limits reach the
/// overlong-line path with small inputs).
pub fn request_bytes_with_limit(data: &[u8], max: usize) -> (usize, usize) {
    let mut r = std::io::BufReader::with_capacity(1 + data.len() % 97, Cursor::new(data));
    let mut buf = Vec::new();
    let (mut ok, mut refused) = (0, 0);
    loop {
        match read_line(&mut r, &mut buf, max).expect("reading from memory cannot fail") {
            LineRead::Eof => return (ok, refused),
            LineRead::TooLong => {
                assert!(buf.len() <= max, "an overlong line was buffered");
                refused += 1;
            }
            LineRead::Line => {
                assert!(buf.len() <= max, "line over the limit: {}", buf.len());
                assert!(!buf.contains(&b'\n'), "a line holds a newline");
                match parse_line(&buf) {
                    (_, Ok(_)) => ok += 1,
                    (_, Err(e)) => {
                        assert!(
                            matches!(
                                e.code,
                                ErrorCode::Malformed
                                    | ErrorCode::UnknownCommand
                                    | ErrorCode::InvalidArgument
                            ),
                            "unexpected error code {:?} for a parse error",
                            e.code
                        );
                        assert!(!e.message.is_empty());
                        refused += 1;
                    }
                }
            }
        }
    }
}

/// Writes arbitrary bytes to a temporary file and decodes it with
/// `ser_models::decode_file` (the `--input file:` and `analyze` path), then
/// streams a result through the resampler. Invariants: no panic; decoded
/// samples are finite and in [-1, 1]; the duration is finite and not negative.
pub fn audio_bytes(data: &[u8]) {
    let mut f = tempfile::Builder::new()
        .prefix("serd-fuzz-")
        .suffix(".wav")
        .tempfile()
        .expect("a temporary file");
    std::io::Write::write_all(&mut f, data).expect("writing the temporary file");
    let Ok(audio) = ser_models::decode_file(f.path()) else {
        return;
    };
    assert!(audio.duration_s.is_finite() && audio.duration_s >= 0.0);
    // Without resampling the samples stay in [-1, 1]; the sinc resampler can
    // overshoot full-scale noise a little (seen: 1.12 from 8 kHz), never wildly.
    let peak = audio.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    let bound = if audio.source_rate == 16_000 {
        1.0
    } else {
        2.0
    };
    assert!(
        peak.is_finite() && peak <= bound,
        "decoded samples out of [-1, 1]: peak {peak} (rate {}, {} ch)",
        audio.source_rate,
        audio.source_channels
    );
    // The streaming resampler as the pipeline uses it, at a rate/channel
    // count chosen by the input.
    let rate = 8_000 + u32::from(data.first().copied().unwrap_or(0)) * 100;
    let channels = 1 + u16::from(data.get(1).copied().unwrap_or(0) % 3);
    let mut rs = ser_models::Resampler::new(rate, channels).expect("a valid rate");
    let mut out = Vec::new();
    let n = audio.samples.len() / usize::from(channels) * usize::from(channels);
    for chunk in audio.samples[..n].chunks(480 * usize::from(channels)) {
        rs.push(chunk, &mut out);
    }
    rs.flush(&mut out);
    assert!(
        out.iter().all(|s| s.is_finite()),
        "resampler output not finite"
    );
}
