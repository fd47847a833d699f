//! 16 kHz mono 16-bit WAV files, as the tests read (RAVDESS clips) and write
//! (test recordings in a test's temp dir, never elsewhere).

use std::path::Path;

/// The sample rate of the RAVDESS copy and of every recording the tests write.
pub const RATE: u32 = 16_000;

/// The VAD's 30 ms frame in samples. Recordings built from clips keep every
/// clip on this grid, so the segmentation inside a long file matches the
/// clip's own.
pub const VAD_FRAME: usize = 480;

/// `seconds` of silence, rounded down to whole VAD frames.
pub fn silence(seconds: f32) -> Vec<i16> {
    vec![0i16; (seconds * RATE as f32) as usize / VAD_FRAME * VAD_FRAME]
}

/// A clip's samples ([`read_mono16`]) padded with zeros to whole VAD frames.
pub fn read_frame_padded(path: &Path) -> Vec<i16> {
    let mut x = read_mono16(path);
    x.resize(x.len().div_ceil(VAD_FRAME) * VAD_FRAME, 0);
    x
}

/// The samples of a 16 kHz mono 16-bit WAV; panics naming the file if it is
/// anything else or unreadable.
pub fn read_mono16(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (RATE, 1, 16),
        "{} is not 16 kHz mono 16-bit",
        path.display()
    );
    r.samples::<i16>()
        .map(|s| s.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// Writes `samples` as a 16 kHz mono 16-bit WAV at `path`.
pub fn write_mono16(path: &Path, samples: impl IntoIterator<Item = i16>) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let fail = |e: hound::Error| -> ! { panic!("{}: {e}", path.display()) };
    let mut w = hound::WavWriter::create(path, spec).unwrap_or_else(|e| fail(e));
    for s in samples {
        w.write_sample(s).unwrap_or_else(|e| fail(e));
    }
    w.finalize().unwrap_or_else(|e| fail(e));
}
