//! Decoding and resampling against real files written in a temp dir.
//!
//! Needs `sox` (writes FLAC and Ogg Vorbis through `libsox-fmt-base`, which
//! `apt-get install sox` brings) and `lame` (MP3) on PATH: Debian packages
//! `sox lame`. `mkfifo` comes with coreutils.

mod common;

use std::f32::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustfft::{num_complex::Complex32, FftPlanner};
use ser_models::audio::{decode_file, to_mono_16k, AudioReader, Resampler};
use ser_models::Error;

const FREQ: f32 = 1000.0;

fn sine(rate: u32, secs: f32, amp: f32) -> Vec<f32> {
    let n = (rate as f32 * secs).round() as usize;
    (0..n)
        .map(|i| amp * (2.0 * PI * FREQ * i as f32 / rate as f32).sin())
        .collect()
}

/// Frequency (Hz) of the strongest FFT bin of 16 kHz audio (middle 8192 samples).
fn peak_hz(x: &[f32]) -> f32 {
    let n = 8192;
    assert!(x.len() >= n, "only {} samples", x.len());
    let off = (x.len() - n) / 2;
    let mut buf: Vec<Complex32> = (0..n)
        .map(|i| {
            let w = 0.5 - 0.5 * (2.0 * PI * i as f32 / n as f32).cos();
            Complex32::new(x[off + i] * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let (bin, _) = buf[..n / 2]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.norm().total_cmp(&b.1.norm()))
        .unwrap();
    bin as f32 * 16_000.0 / n as f32
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

#[derive(Clone, Copy, Debug)]
enum Fmt {
    I8,
    I16,
    I24,
    I32,
    F32,
}

/// Write `secs` of a 1 kHz sine (amplitude 0.5) on every channel.
fn write_wav(path: &Path, rate: u32, channels: u16, fmt: Fmt, secs: f32) {
    let (bits, float) = match fmt {
        Fmt::I8 => (8, false),
        Fmt::I16 => (16, false),
        Fmt::I24 => (24, false),
        Fmt::I32 => (32, false),
        Fmt::F32 => (32, true),
    };
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for v in sine(rate, secs, 0.5) {
        for _ in 0..channels {
            match fmt {
                Fmt::F32 => w.write_sample(v).unwrap(),
                Fmt::I8 => w.write_sample((v * 127.0).round() as i8).unwrap(),
                Fmt::I16 => w.write_sample((v * 32767.0).round() as i16).unwrap(),
                Fmt::I24 => w.write_sample((v * 8_388_607.0).round() as i32).unwrap(),
                Fmt::I32 => w
                    .write_sample((v * 2_147_483_647.0).round() as i32)
                    .unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

fn check_sine(path: &Path, rate: u32, channels: u16, secs: f64, tol_s: f64) {
    let d = decode_file(path).unwrap_or_else(|e| panic!("{e}"));
    let what = path.display();
    assert_eq!(d.source_rate, rate, "{what}");
    assert_eq!(d.source_channels, channels, "{what}");
    assert!(
        (d.duration_s - secs).abs() <= tol_s,
        "{what}: {} s",
        d.duration_s
    );
    let want_len = d.duration_s * 16_000.0;
    assert!(
        (d.samples.len() as f64 - want_len).abs() <= 1.0,
        "{what}: {} samples",
        d.samples.len()
    );
    let peak = peak_hz(&d.samples);
    assert!((peak - FREQ).abs() <= 2.0, "{what}: peak at {peak} Hz");
    let mid = &d.samples[d.samples.len() / 4..d.samples.len() * 3 / 4];
    let r = rms(mid);
    assert!((r - 0.5 / 2f32.sqrt()).abs() < 0.02, "{what}: rms {r}");
    assert!(d.samples.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
}

#[test]
fn wav_every_width_rate_and_channel_count() {
    let dir = tempfile::tempdir().unwrap();
    for rate in [8_000, 16_000, 22_050, 44_100, 48_000] {
        for channels in [1u16, 2, 6] {
            for fmt in [Fmt::I16, Fmt::I24, Fmt::F32] {
                let p = dir.path().join(format!("s_{rate}_{channels}_{fmt:?}.wav"));
                write_wav(&p, rate, channels, fmt, 1.0);
                check_sine(&p, rate, channels, 1.0, 1e-6);
            }
        }
    }
    for fmt in [Fmt::I8, Fmt::I32] {
        let p = dir.path().join(format!("s_{fmt:?}.wav"));
        write_wav(&p, 44_100, 2, fmt, 1.0);
        check_sine(&p, 44_100, 2, 1.0, 1e-6);
    }
}

#[test]
fn downmix_is_the_channel_mean() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lr.wav");
    let left_right = sine(16_000, 0.5, 0.5).into_iter().flat_map(|v| [v, -v]);
    common::write_wav(&p, 16_000, 2, left_right);
    let d = decode_file(&p).unwrap();
    assert_eq!(d.samples.len(), 8000);
    assert!(d.samples.iter().all(|v| v.abs() < 1e-6));
}

fn tool(cmd: &str, args: &[&std::ffi::OsStr]) {
    let st = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{cmd}` ({e}): install the Debian package `{cmd}`"));
    assert!(st.success(), "`{cmd}` failed");
}

/// Encodes `wav` to `mp3` with lame.
fn lame(wav: &Path, mp3: &Path) {
    tool(
        "lame",
        &["--quiet".as_ref(), wav.as_os_str(), mp3.as_os_str()],
    );
}

#[test]
fn flac_ogg_and_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("src.wav");
    write_wav(&wav, 44_100, 2, Fmt::I16, 2.0);
    let flac = dir.path().join("s.flac");
    let ogg = dir.path().join("s.ogg");
    let mp3 = dir.path().join("s.mp3");
    tool("sox", &[wav.as_os_str(), flac.as_os_str()]);
    tool("sox", &[wav.as_os_str(), ogg.as_os_str()]);
    lame(&wav, &mp3);
    check_sine(&flac, 44_100, 2, 2.0, 1e-6);
    check_sine(&ogg, 44_100, 2, 2.0, 0.01);
    // MP3 frames pad the start and end (encoder delay): allow 0.1 s.
    check_sine(&mp3, 44_100, 2, 2.0, 0.1);
}

/// An ID3v2.4 tag whose extended header carries restrictions (tag size at
/// most 64 frames / 128 KiB): symphonia's own tag reader panicked on it.
/// With `footer`, the tag ends in the 10-byte footer v2.4 allows.
fn id3v24_tag(footer: bool) -> Vec<u8> {
    let ext = [0, 0, 0, 8, 0x01, 0x10, 0x01, 0x40];
    let text = b"\x03ser";
    let mut frame = b"TIT2".to_vec();
    frame.extend_from_slice(&[0, 0, 0, text.len() as u8, 0, 0]);
    frame.extend_from_slice(text);
    let padding = [0u8; 10];
    let body = ext.len() + frame.len() + if footer { 0 } else { padding.len() };
    let flags = 0x40 | if footer { 0x10 } else { 0 };
    let mut tag = b"ID3".to_vec();
    tag.extend_from_slice(&[4, 0, flags, 0, 0, 0, body as u8]);
    tag.extend_from_slice(&ext);
    tag.extend_from_slice(&frame);
    if footer {
        tag.extend_from_slice(b"3DI");
        tag.extend_from_slice(&[4, 0, flags, 0, 0, 0, body as u8]);
    } else {
        tag.extend_from_slice(&padding);
    }
    tag
}

#[test]
fn files_behind_id3v2_tags_decode_as_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("plain.wav");
    write_wav(&wav, 22_050, 1, Fmt::I16, 1.5);
    let mp3 = dir.path().join("plain.mp3");
    lame(&wav, &mp3);
    for plain in [&wav, &mp3] {
        let want = decode_file(plain).unwrap_or_else(|e| panic!("{e}"));
        for (what, tags) in [
            ("one tag", id3v24_tag(false)),
            ("a tag with a footer", id3v24_tag(true)),
            ("two tags", [id3v24_tag(true), id3v24_tag(false)].concat()),
        ] {
            let ext = plain.extension().unwrap().to_str().unwrap();
            let tagged = dir.path().join(format!("tagged.{ext}"));
            std::fs::write(&tagged, [tags, std::fs::read(plain).unwrap()].concat()).unwrap();
            let got = decode_file(&tagged)
                .unwrap_or_else(|e| panic!("{} behind {what}: {e}", plain.display()));
            assert_eq!(got, want, "{} behind {what}", plain.display());
        }
    }
    // A tag and nothing after it is no audio file, and says so.
    let only = dir.path().join("only-a-tag.mp3");
    std::fs::write(&only, id3v24_tag(false)).unwrap();
    let err = decode_file(&only).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
    assert!(err.to_string().contains("only-a-tag.mp3"), "{err}");
}

#[test]
fn streaming_resampler_ignores_chunk_sizes() {
    let rate = 44_100;
    let x: Vec<f32> = sine(rate, 1.3, 0.5)
        .into_iter()
        .flat_map(|v| [v, 0.25 * v, -0.1 * v])
        .collect();
    let whole = to_mono_16k(&x, rate, 3).unwrap();
    assert_eq!(whole.len(), (1.3f64 * 16_000.0).round() as usize);
    // Chunk sizes that split frames (not multiples of 3) and odd lengths.
    let mut seed = 7u64;
    for sizes in [vec![1usize], vec![7], vec![480], vec![4096], vec![0]] {
        let mut r = Resampler::new(rate, 3).unwrap();
        let mut out = Vec::new();
        let mut i = 0;
        while i < x.len() {
            let n = if sizes[0] == 0 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1 + (seed >> 33) as usize % 5000
            } else {
                sizes[0]
            };
            let end = (i + n).min(x.len());
            r.push(&x[i..end], &mut out);
            i = end;
        }
        r.flush(&mut out);
        assert_eq!(out, whole, "chunks {sizes:?}");
        // A flushed resampler takes a new stream and gives the same result.
        let mut again = Vec::new();
        r.push(&x, &mut again);
        r.flush(&mut again);
        assert_eq!(again, whole);
    }
}

#[test]
fn resampler_refuses_bad_streams() {
    assert!(matches!(Resampler::new(0, 1), Err(Error::InvalidStream(_))));
    assert!(matches!(
        Resampler::new(48_000, 0),
        Err(Error::InvalidStream(_))
    ));
    assert!(matches!(
        Resampler::new(10_000_000, 2),
        Err(Error::InvalidStream(_))
    ));
}

/// The error of decoding `p`, which must name the file; opening it as a
/// stream already fails the same way (serd's `--input file:` is refused at
/// start, not once it has been fed).
fn err_of(p: &Path) -> Error {
    let e = decode_file(p).expect_err("should fail");
    let msg = e.to_string();
    assert!(
        msg.contains(&p.display().to_string()),
        "message does not name the file: {msg}"
    );
    let streamed = AudioReader::open(p).expect_err("opening should fail");
    assert_eq!(streamed.to_string(), msg);
    e
}

#[test]
fn a_file_read_as_a_stream_gives_the_decoded_samples_in_any_read_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    write_wav(&wav, 44_100, 2, Fmt::I16, 1.7);
    let flac = dir.path().join("a.flac");
    tool("sox", &[wav.as_os_str(), flac.as_os_str()]);
    for path in [&wav, &flac] {
        let whole = decode_file(path).unwrap();
        assert_eq!(whole.samples.len(), (1.7f64 * 16_000.0).round() as usize);
        for max in [1usize, 160, 320, 4096, usize::MAX] {
            let mut r = AudioReader::open(path).unwrap();
            assert_eq!((r.source_rate(), r.source_channels()), (44_100, 2));
            let mut got = Vec::new();
            loop {
                let n = r.read(&mut got, max).unwrap();
                assert!(n <= max);
                if n == 0 {
                    break;
                }
            }
            assert_eq!(got, whole.samples, "{} in reads of {max}", path.display());
            assert_eq!(r.duration_s(), whole.duration_s);
            // the end stays the end
            assert_eq!(r.read(&mut got, max).unwrap(), 0);
        }
    }
}

#[test]
fn bad_files_give_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    assert!(matches!(err_of(&missing), Error::NotFound { .. }));

    assert!(matches!(
        err_of(dir.path()),
        Error::NotAFile {
            kind: "directory",
            ..
        }
    ));

    let fifo = dir.path().join("pipe.wav");
    tool("mkfifo", &[fifo.as_os_str()]);
    // Refused before opening: opening a FIFO for reading would block here.
    assert!(matches!(
        err_of(&fifo),
        Error::NotAFile { kind: "FIFO", .. }
    ));
    assert!(matches!(
        err_of(Path::new("/dev/null")),
        Error::NotAFile {
            kind: "character device",
            ..
        }
    ));

    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(err_of(&empty), Error::EmptyFile { .. }));

    // Random bytes, with and without a known extension.
    let mut seed = 42u64;
    let junk: Vec<u8> = (0..20_000)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 56) as u8
        })
        .collect();
    for name in ["junk.wav", "junk.mp3", "junk.bin", "junk"] {
        let p = dir.path().join(name);
        std::fs::write(&p, &junk).unwrap();
        let e = err_of(&p);
        assert!(
            matches!(e, Error::UnsupportedFormat { .. } | Error::Corrupt { .. }),
            "{name}: {e:?}"
        );
    }
    // A text file.
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "hello, this is not audio\n".repeat(100)).unwrap();
    assert!(matches!(err_of(&txt), Error::UnsupportedFormat { .. }));

    // A WAV cut inside its header.
    let wav = dir.path().join("ok.wav");
    write_wav(&wav, 16_000, 1, Fmt::I16, 0.5);
    let bytes = std::fs::read(&wav).unwrap();
    let cut = dir.path().join("cut_header.wav");
    std::fs::write(&cut, &bytes[..30]).unwrap();
    let e = err_of(&cut);
    assert!(
        matches!(e, Error::Corrupt { .. } | Error::UnsupportedFormat { .. }),
        "{e:?}"
    );
}

#[test]
fn truncated_wav_decodes_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("full.wav");
    write_wav(&wav, 48_000, 2, Fmt::I16, 2.0);
    let bytes = std::fs::read(&wav).unwrap();
    // Keep the header (44 bytes) and 0.75 s of the 2 s the header announces.
    let keep = 44 + 48_000 * 2 * 2 * 3 / 4;
    let cut: PathBuf = dir.path().join("truncated.wav");
    std::fs::write(&cut, &bytes[..keep]).unwrap();
    check_sine(&cut, 48_000, 2, 0.75, 0.03);
}

#[test]
fn zero_sample_wav_is_empty_audio() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("zero.wav");
    write_wav(&p, 22_050, 2, Fmt::I16, 0.0);
    let d = decode_file(&p).unwrap();
    assert!(d.samples.is_empty());
    assert_eq!(d.duration_s, 0.0);
    assert_eq!((d.source_rate, d.source_channels), (22_050, 2));
}

#[test]
fn non_finite_and_loud_float_samples_are_tamed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wild.wav");
    let wild = sine(48_000, 0.5, 0.5)
        .into_iter()
        .enumerate()
        .map(|(i, v)| match i % 1000 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => 40.0,
            _ => v,
        });
    common::write_wav(&p, 48_000, 1, wild);
    let d = decode_file(&p).unwrap();
    assert_eq!(d.samples.len(), 8000);
    assert!(d.samples.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
}

#[test]
fn resampled_full_scale_audio_stays_within_full_scale() {
    // A full-scale square wave has edges the sinc filter rings on: without
    // clamping its output overshoots 1.0 by several per cent.
    for rate in [8_000, 22_050, 44_100, 48_000] {
        let x: Vec<f32> = (0..rate)
            .map(|i| {
                if (i / (rate / 200)) % 2 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let y = to_mono_16k(&x, rate, 1).unwrap();
        let peak = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak <= 1.0, "{rate} Hz: peak {peak}");
        // still a loud square wave, not silence
        assert!(
            rms(&y[1000..15_000]) > 0.9,
            "{rate} Hz: rms {}",
            rms(&y[1000..15_000])
        );
    }
}

#[test]
fn resampling_filters_out_what_16k_cannot_hold() {
    // A 10 kHz tone at 48 kHz is above the new Nyquist (8 kHz): a proper
    // low-pass resampler removes it; dropping samples would fold it to 6 kHz.
    let x: Vec<f32> = (0..48_000)
        .map(|i| 0.5 * (2.0 * PI * 10_000.0 * i as f32 / 48_000.0).sin())
        .collect();
    let y = to_mono_16k(&x, 48_000, 1).unwrap();
    assert_eq!(y.len(), 16_000);
    let mid = &y[2000..14_000];
    assert!(rms(mid) < 0.005, "alias left at rms {}", rms(mid));
    // While a 7 kHz tone (below Nyquist) passes.
    let x: Vec<f32> = (0..48_000)
        .map(|i| 0.5 * (2.0 * PI * 7_000.0 * i as f32 / 48_000.0).sin())
        .collect();
    let y = to_mono_16k(&x, 48_000, 1).unwrap();
    let r = rms(&y[2000..14_000]);
    assert!((r - 0.5 / 2f32.sqrt()).abs() < 0.03, "7 kHz rms {r}");
}
