//! The fuzz bodies of `fuzz/` (serd::fuzzing) on many seeded random inputs,
//! so the normal test suite exercises them without nightly or cargo-fuzz:
//! 20 000 random and mutated request lines, 2 000 mutated WAV files.

use serd::fuzzing;

/// xorshift64*: a small deterministic generator (the seed is printed on failure).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const SEEDS: &[&str] = &[
    r#"{"id":1,"cmd":"status"}"#,
    r#"{"id":2,"cmd":"history","limit":10,"since":"2024-01-01T00:00:00Z"}"#,
    r#"{"cmd":"subscribe","topics":["utterance","mood","state"]}"#,
    r#"{"id":4,"cmd":"set_notifications","enabled":true}"#,
    r#"{"id":5,"cmd":"analyze","path":"/tmp/x.wav"}"#,
    r#"{"id":18446744073709551615,"cmd":"mood"}"#,
    r#"{"id":-1,"cmd":"pause"}"#,
    r#"{"id":6,"cmd":"history","limit":99999999999999999999999}"#,
    r#"[{"cmd":"status"}]"#,
    "\u{feff}{\"cmd\":\"status\"}",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.byte();
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.byte());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            3 => {
                let i = rng.below(v.len() + 1);
                const PUNCT: &[u8] = b"{}[]\":,\\\n0e-";
                let c = PUNCT[rng.below(PUNCT.len())];
                v.insert(i, c);
            }
            4 if !v.is_empty() => {
                let (a, b) = (rng.below(v.len()), rng.below(v.len()));
                let (a, b) = (a.min(b), a.max(b));
                let piece = v[a..b].to_vec();
                let i = rng.below(v.len() + 1);
                v.splice(i..i, piece);
            }
            _ => v.truncate(rng.below(v.len() + 1)),
        }
    }
    v
}

#[test]
fn request_lines_never_panic_and_errors_are_parse_errors() {
    let mut rng = Rng(0x5e4d_0001);
    let (mut ok, mut refused) = (0, 0);
    for i in 0..20_000 {
        let data: Vec<u8> = match i % 4 {
            0 => (0..rng.below(200)).map(|_| rng.byte()).collect(),
            _ => {
                let base = SEEDS[rng.below(SEEDS.len())].as_bytes();
                let mut v = mutate(&mut rng, base);
                v.push(b'\n');
                v
            }
        };
        // A small limit too, so overlong lines are reached with small inputs.
        let (o, r) = fuzzing::request_bytes(&data);
        fuzzing::request_bytes_with_limit(&data, 1 + rng.below(64));
        ok += o;
        refused += r;
    }
    // The generator really reaches both sides.
    assert!(ok > 200 && refused > 5_000, "ok {ok}, refused {refused}");
}

#[test]
fn hostile_lines_are_refused_not_crashing() {
    let deep = "[".repeat(100_000);
    let deep_obj = "{\"a\":".repeat(50_000);
    let big_limit = r#"{"id":1,"cmd":"history","limit":1e300}"#;
    let long = "x".repeat(200_000);
    let invalid_utf8 = b"{\"cmd\":\"st\xff\xfeatus\"}".to_vec();
    for line in [
        deep.as_bytes(),
        deep_obj.as_bytes(),
        big_limit.as_bytes(),
        long.as_bytes(),
        &invalid_utf8,
    ] {
        let mut data = line.to_vec();
        data.push(b'\n');
        let (ok, refused) = fuzzing::request_bytes(&data);
        assert_eq!(
            (ok, refused),
            (0, 1),
            "{}",
            String::from_utf8_lossy(&data[..40])
        );
    }
}

fn wav(rng: &mut Rng) -> Vec<u8> {
    let rate = [8_000, 16_000, 22_050, 44_100, 48_000][rng.below(5)];
    let channels = 1 + rng.below(2) as u16;
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
    for _ in 0..(200 + rng.below(1_000)) * channels as usize {
        w.write_sample(rng.next() as i16).unwrap();
    }
    w.finalize().unwrap();
    cur.into_inner()
}

#[test]
fn mutated_wav_files_decode_or_fail_cleanly() {
    let mut rng = Rng(0x5e4d_0002);
    for i in 0..2_000 {
        let mut data = wav(&mut rng);
        match i % 4 {
            // header fields: format, channels, rate, bits, sizes
            0 | 1 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(44);
                    data[at] = rng.byte();
                }
            }
            2 => data.truncate(rng.below(data.len())),
            _ => data = mutate(&mut rng, &data),
        }
        fuzzing::audio_bytes(&data);
    }
    for data in [Vec::new(), vec![0u8; 4096], b"RIFF".to_vec()] {
        fuzzing::audio_bytes(&data);
    }
}

/// Every input a cargo-fuzz run ever crashed on (daemon/tests/fuzz_regressions/,
/// named `<target>-<what>.bin`) goes through its target's body again. For
/// audio the decoder must refuse it cleanly by itself: `decode_file` turns a
/// decoder panic into an error too, so "no panic" alone would prove nothing.
#[test]
fn inputs_the_fuzzer_crashed_on_are_handled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        if name.starts_with("audio_decode-") {
            serd::fuzzing::audio_bytes(&data);
            let tmp = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
            std::fs::write(tmp.path(), &data).unwrap();
            let err = ser_models::decode_file(tmp.path())
                .err()
                .unwrap_or_else(|| panic!("{name}: decoded"));
            assert!(
                !err.to_string().contains("the decoder failed"),
                "{name}: the decoder panicked (caught): {err}"
            );
        } else if name.starts_with("request_line-") {
            let _ = serd::fuzzing::request_bytes(&data);
        } else {
            panic!("{name}: name it <target>-<what>.bin");
        }
        seen += 1;
    }
    assert!(seen >= 1, "no regression inputs in {}", dir.display());
}
