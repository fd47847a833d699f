//! Decoding audio files and bringing any audio to 16 kHz mono.
//!
//! There is one resampling code path, [`Resampler`]: a streaming downmixer
//! (mean of the channels) followed by a rubato sinc resampler. [`AudioReader`]
//! (and [`decode_file`], which reads one to the end) feeds it the decoded
//! packets; the daemon's pipeline thread feeds it the
//! microphone chunks. Samples are never dropped or repeated to change rate.
//!
//! Decoding uses symphonia: WAV (PCM 8/16/24/32-bit integer, 32/64-bit float,
//! any rate and channel count), FLAC, MP3 and Ogg Vorbis.
//!
//! Damaged files: packets that fail to decode are skipped and the rest is kept
//! (as players do). A truncated file (e.g. a WAV whose data chunk is shorter
//! than its header says) therefore decodes to the samples that are present,
//! without an error. A file where nothing at all decodes is [`Error::Corrupt`].

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rubato::{
    calculate_cutoff, Resampler as _, SincFixedIn, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::{Hint, Probe};
use symphonia::default::formats::{FlacReader, MpaReader, OggReader, WavReader};

use crate::error::{Error, Result};
use crate::features::SAMPLE_RATE;

/// A decoded file, as 16 kHz mono.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedAudio {
    /// Mono samples at 16 kHz, in [-1, 1].
    pub samples: Vec<f32>,
    /// The file's own sample rate in Hz.
    pub source_rate: u32,
    /// The file's own channel count.
    pub source_channels: u16,
    /// Duration of the decoded audio in seconds (source frames / source rate).
    pub duration_s: f64,
}

/// Lowest input rate the resampler accepts, in Hz.
pub const MIN_RATE: u32 = 1_000;
/// Highest input rate the resampler accepts, in Hz.
pub const MAX_RATE: u32 = 768_000;
/// Most channels the resampler accepts.
pub const MAX_CHANNELS: u16 = 256;

/// Mono frames fed to rubato at a time.
const CHUNK: usize = 1024;

/// Streaming downmix + resample of interleaved audio to 16 kHz mono.
///
/// Non-finite input samples become 0; the mono input and the 16 kHz output are
/// clamped to [-1, 1] (the filter's ringing could otherwise overshoot full scale).
/// Push chunks of any size (even a partial frame), collect the output, and
/// call [`flush`](Self::flush) at the end of the stream to get the tail. The
/// output is aligned with the input (the filter delay is removed) and, after
/// `flush`, has `round(input_frames * 16000 / in_rate)` samples.
///
/// `Send` (not `Sync`): one thread owns it.
pub struct Resampler {
    in_rate: u32,
    channels: usize,
    /// Interleaved samples of an incomplete frame carried over between pushes.
    partial: Vec<f32>,
    /// Input frames seen so far.
    frames_in: u64,
    /// Output samples handed out so far.
    frames_out: u64,
    inner: Option<Sinc>,
}

struct Sinc {
    rubato: SincFixedIn<f32>,
    /// Mono input waiting for a full chunk.
    pending: Vec<f32>,
    out: Vec<Vec<f32>>,
    /// Output samples still to discard (the filter delay).
    skip: usize,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("in_rate", &self.in_rate)
            .field("channels", &self.channels)
            .field("frames_in", &self.frames_in)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `in_rate` Hz with `channels` interleaved channels to 16 kHz mono.
    pub fn new(in_rate: u32, channels: u16) -> Result<Self> {
        if !(MIN_RATE..=MAX_RATE).contains(&in_rate) {
            return Err(Error::InvalidStream(format!(
                "sample rate {in_rate} Hz is outside {MIN_RATE}..={MAX_RATE} Hz"
            )));
        }
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(Error::InvalidStream(format!(
                "{channels} channels is outside 1..={MAX_CHANNELS}"
            )));
        }
        let inner = if in_rate == SAMPLE_RATE {
            None
        } else {
            let window = WindowFunction::BlackmanHarris2;
            let params = SincInterpolationParameters {
                sinc_len: 256,
                f_cutoff: calculate_cutoff(256, window),
                oversampling_factor: 256,
                interpolation: SincInterpolationType::Cubic,
                window,
            };
            let ratio = f64::from(SAMPLE_RATE) / f64::from(in_rate);
            let rubato = SincFixedIn::new(ratio, 1.0, params, CHUNK, 1)
                .map_err(|e| Error::InvalidStream(format!("resampler: {e}")))?;
            let out = rubato.output_buffer_allocate(true);
            let skip = rubato.output_delay();
            Some(Sinc {
                rubato,
                pending: Vec::with_capacity(CHUNK),
                out,
                skip,
            })
        };
        Ok(Resampler {
            in_rate,
            channels: usize::from(channels),
            partial: Vec::new(),
            frames_in: 0,
            frames_out: 0,
            inner,
        })
    }

    /// The input sample rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// The input channel count.
    pub fn channels(&self) -> u16 {
        self.channels as u16
    }

    /// Push interleaved samples (any length) and append the 16 kHz mono output
    /// that is ready to `out`.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let ch = self.channels;
        let mut rest = interleaved;
        if !self.partial.is_empty() {
            let need = (ch - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
            if self.partial.len() == ch {
                let frame = std::mem::take(&mut self.partial);
                self.push_frames(&frame, out);
            }
        }
        let whole = rest.len() / ch * ch;
        self.push_frames(&rest[..whole], out);
        self.partial.extend_from_slice(&rest[whole..]);
    }

    /// End of stream: append the remaining output to `out` and reset, so the
    /// resampler can take a new stream. An incomplete last frame is dropped.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        self.partial.clear();
        let expected = (self.frames_in as f64 * f64::from(SAMPLE_RATE) / f64::from(self.in_rate))
            .round() as u64;
        if let Some(s) = &mut self.inner {
            // Zero-pad until the filter has produced every expected sample.
            let mut guard = 0;
            while self.frames_out < expected && guard < 64 {
                s.pending.resize(CHUNK, 0.0);
                let before = out.len();
                Self::run_chunk(s, out);
                self.frames_out += (out.len() - before) as u64;
                guard += 1;
            }
            if self.frames_out > expected {
                out.truncate(out.len() - (self.frames_out - expected) as usize);
            }
            s.rubato.reset();
            s.pending.clear();
            s.skip = s.rubato.output_delay();
        }
        self.frames_in = 0;
        self.frames_out = 0;
    }

    fn push_frames(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let ch = self.channels;
        let n = interleaved.len() / ch;
        self.frames_in += n as u64;
        let before = out.len();
        let mono = interleaved.chunks_exact(ch).map(|f| {
            let v = if ch == 1 {
                f[0]
            } else {
                f.iter().sum::<f32>() / ch as f32
            };
            // NaN/∞ (possible in float files) become silence; the rest is kept in [-1, 1].
            if v.is_finite() {
                v.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        });
        match &mut self.inner {
            None => out.extend(mono),
            Some(s) => {
                for v in mono {
                    s.pending.push(v);
                    if s.pending.len() == CHUNK {
                        Self::run_chunk(s, out);
                    }
                }
            }
        }
        self.frames_out += (out.len() - before) as u64;
    }

    /// Resample the full pending chunk, dropping the initial filter delay.
    fn run_chunk(s: &mut Sinc, out: &mut Vec<f32>) {
        let (_, produced) = s
            .rubato
            .process_into_buffer(&[&s.pending[..]], &mut s.out, None)
            .expect("buffers are sized by the resampler itself");
        s.pending.clear();
        let got = &s.out[0][..produced];
        let skip = s.skip.min(got.len());
        s.skip -= skip;
        // The sinc filter rings past a full-scale edge (Gibbs overshoot, up to
        // about 27 % at 8 kHz in): the output is held in [-1, 1] like the input.
        out.extend(got[skip..].iter().map(|v| v.clamp(-1.0, 1.0)));
    }
}

/// Resample a whole interleaved buffer to 16 kHz mono (one [`Resampler`] pass).
pub fn to_mono_16k(interleaved: &[f32], rate: u32, channels: u16) -> Result<Vec<f32>> {
    let mut r = Resampler::new(rate, channels)?;
    let mut out = Vec::with_capacity(
        (interleaved.len() as f64 / f64::from(channels.max(1)) * f64::from(SAMPLE_RATE)
            / f64::from(rate.max(1))) as usize
            + 16,
    );
    r.push(interleaved, &mut out);
    r.flush(&mut out);
    Ok(out)
}

/// Refuse paths that are missing, not regular files, or empty, before opening them.
pub(crate) fn check_regular_file(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::NotFound {
            path: path.to_path_buf(),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else {
            special_kind(&ft)
        };
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    if meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn special_kind(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_ft: &fs::FileType) -> &'static str {
    "special file"
}

/// Decode an audio file to 16 kHz mono (an [`AudioReader`] read to its end).
///
/// Errors name the file: [`Error::NotFound`], [`Error::NotAFile`] (directory,
/// FIFO, device, socket: refused before opening), [`Error::EmptyFile`],
/// [`Error::UnsupportedFormat`], [`Error::NoAudioTrack`], [`Error::Corrupt`],
/// [`Error::Io`]. A valid file with no samples gives empty `samples`.
pub fn decode_file(path: impl AsRef<Path>) -> Result<DecodedAudio> {
    let mut reader = AudioReader::open(path)?;
    let mut samples = Vec::new();
    while reader.read(&mut samples, usize::MAX)? > 0 {}
    Ok(DecodedAudio {
        samples,
        source_rate: reader.source_rate(),
        source_channels: reader.source_channels(),
        duration_s: reader.duration_s(),
    })
}

/// An audio file decoded as it is read: 16 kHz mono samples a packet at a
/// time, so a long recording never sits in memory whole (`serd --input
/// file:` streams through it). [`decode_file`] is this, read to the end.
///
/// [`open`](Self::open) decodes up to the first audio frame, so a file in
/// which nothing decodes fails there; errors later in the file (an I/O error,
/// a decoder panic on malformed data) come from [`read`](Self::read), after
/// which the reader is at its end. Packets that fail to decode are skipped.
pub struct AudioReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    /// The track's own rate and channel count (from its header until the
    /// first packet says otherwise).
    rate: Option<u32>,
    channels: Option<u16>,
    resampler: Option<Resampler>,
    sample_buf: Option<SampleBuffer<f32>>,
    /// Source frames decoded so far.
    source_frames: u64,
    decode_errors: usize,
    last_error: String,
    /// 16 kHz output not handed out yet, from `taken` on.
    pending: Vec<f32>,
    taken: usize,
    finished: bool,
}

impl std::fmt::Debug for AudioReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioReader")
            .field("path", &self.path)
            .field("source_rate", &self.rate)
            .field("source_channels", &self.channels)
            .field("source_frames", &self.source_frames)
            .finish_non_exhaustive()
    }
}

/// The container formats we read. symphonia's default probe also registers
/// its ID3v2 tag reader, which panics on some valid ID3v2.4 tags (a tag-size
/// restriction in the extended header hits an `unreachable!`, found by
/// fuzzing); we need no tag metadata, so leading ID3v2 tags are skipped by
/// [`SkipLeadingTags`] instead and that reader is left out.
fn probe_formats() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let mut probe = Probe::default();
        probe.register_all::<WavReader>();
        probe.register_all::<FlacReader>();
        probe.register_all::<MpaReader>();
        probe.register_all::<OggReader>();
        probe
    })
}

/// Most ID3v2 tags skipped in front of the audio (taggers sometimes stack a
/// few; a file that is nothing but tags is refused as having no format).
const MAX_LEADING_TAGS: usize = 8;

/// A file seen from the end of its leading ID3v2 tags (as MP3 files carry
/// them): positions are relative to the first byte after the tags.
struct SkipLeadingTags {
    file: fs::File,
    start: u64,
}

impl SkipLeadingTags {
    fn new(mut file: fs::File) -> std::io::Result<SkipLeadingTags> {
        let mut start = 0u64;
        for _ in 0..MAX_LEADING_TAGS {
            file.seek(SeekFrom::Start(start))?;
            let mut header = [0u8; 10];
            match file.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            match id3v2_tag_len(&header) {
                Some(len) => start += len,
                None => break,
            }
        }
        file.seek(SeekFrom::Start(start))?;
        Ok(SkipLeadingTags { file, start })
    }
}

/// The whole length in bytes of the ID3v2 tag whose 10-byte header is
/// `header` (header, body and footer), or `None` when it is not one.
fn id3v2_tag_len(header: &[u8; 10]) -> Option<u64> {
    let syncsafe = header[6..10].iter().all(|b| b & 0x80 == 0);
    if &header[..3] != b"ID3" || header[3] == 0xff || header[4] == 0xff || !syncsafe {
        return None;
    }
    let body = header[6..10]
        .iter()
        .fold(0u64, |n, &b| (n << 7) | u64::from(b));
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + body + footer)
}

impl Read for SkipLeadingTags {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for SkipLeadingTags {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let pos = match pos {
            SeekFrom::Start(p) => SeekFrom::Start(p.saturating_add(self.start)),
            other => other,
        };
        let abs = self.file.seek(pos)?;
        if abs < self.start {
            self.file.seek(SeekFrom::Start(self.start))?;
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "seek before the start of the audio",
            ));
        }
        Ok(abs - self.start)
    }
}

impl MediaSource for SkipLeadingTags {
    fn is_seekable(&self) -> bool {
        self.file.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        self.file
            .byte_len()
            .map(|len| len.saturating_sub(self.start))
    }
}

/// The error for a panic in symphonia (it has had some on malformed input):
/// decoder steps run under `catch_unwind`, since bad input must not panic us.
fn decoder_panicked(path: &Path) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: "the decoder failed on malformed data".into(),
    }
}

impl AudioReader {
    /// Opens `path` and decodes up to its first audio frame; errors as
    /// [`decode_file`]'s.
    pub fn open(path: impl AsRef<Path>) -> Result<AudioReader> {
        let path = path.as_ref();
        check_regular_file(path)?;
        let file = fs::File::open(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut reader = catch_unwind(AssertUnwindSafe(|| Self::probe(path, file)))
            .unwrap_or_else(|_| Err(decoder_panicked(path)))?;
        while reader.source_frames == 0 && reader.next_packet()? {}
        Ok(reader)
    }

    fn probe(path: &Path, file: fs::File) -> Result<AudioReader> {
        let p = || path.to_path_buf();
        let source = SkipLeadingTags::new(file).map_err(|e| Error::Io {
            path: p(),
            source: e,
        })?;
        let mss = MediaSourceStream::new(Box::new(source), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = probe_formats()
            .format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => Error::Corrupt {
                    path: p(),
                    reason: "the file ends inside its header".into(),
                },
                SymError::IoError(io) => Error::Io {
                    path: p(),
                    source: io,
                },
                SymError::DecodeError(m) => Error::Corrupt {
                    path: p(),
                    reason: m.to_string(),
                },
                other => Error::UnsupportedFormat {
                    path: p(),
                    reason: other.to_string(),
                },
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| Error::NoAudioTrack { path: p() })?;
        let decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .map_err(|e| Error::UnsupportedFormat {
                path: p(),
                reason: e.to_string(),
            })?;
        Ok(AudioReader {
            path: p(),
            track_id: track.id,
            rate: track.codec_params.sample_rate,
            channels: track.codec_params.channels.map(|c| c.count() as u16),
            format,
            decoder,
            resampler: None,
            sample_buf: None,
            source_frames: 0,
            decode_errors: 0,
            last_error: String::new(),
            pending: Vec::new(),
            taken: 0,
            finished: false,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's own sample rate in Hz (before resampling to 16 kHz).
    pub fn source_rate(&self) -> u32 {
        self.rate.unwrap_or(SAMPLE_RATE)
    }

    /// The file's own channel count (before downmixing to mono).
    pub fn source_channels(&self) -> u16 {
        self.channels.unwrap_or(1)
    }

    /// Seconds of audio decoded so far (the whole file's once read to the end).
    pub fn duration_s(&self) -> f64 {
        self.source_frames as f64 / f64::from(self.source_rate().max(1))
    }

    /// Appends up to `max` 16 kHz mono samples to `out` and returns how many;
    /// 0 means the end of the file (and so does every later call).
    pub fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize> {
        while self.taken == self.pending.len() {
            self.pending.clear();
            self.taken = 0;
            if !self.next_packet()? {
                if self.pending.is_empty() {
                    return Ok(0);
                }
                break;
            }
        }
        let n = (self.pending.len() - self.taken).min(max);
        out.extend_from_slice(&self.pending[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }

    /// Decodes the next packet of the track into `pending` (which may stay
    /// empty: the resampler fills its window first). False at the end of the
    /// file, after the resampler's tail has been added. An error ends the
    /// stream.
    fn next_packet(&mut self) -> Result<bool> {
        if self.finished {
            return Ok(false);
        }
        let step = catch_unwind(AssertUnwindSafe(|| self.decode_packet()))
            .unwrap_or_else(|_| Err(decoder_panicked(&self.path)));
        match step {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.finished = true;
                if let Some(r) = &mut self.resampler {
                    r.flush(&mut self.pending);
                }
                if self.source_frames == 0 && self.decode_errors > 0 {
                    return Err(Error::Corrupt {
                        path: self.path.clone(),
                        reason: format!("no packet could be decoded ({})", self.last_error),
                    });
                }
                Ok(false)
            }
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    /// One packet of the track decoded and resampled into `pending`; false at
    /// the end of the stream (or at a demuxer error after which nothing more
    /// can be read, counted as a decode error).
    fn decode_packet(&mut self) -> Result<bool> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(SymError::ResetRequired) => return Ok(false),
                Err(SymError::DecodeError(m)) => {
                    self.decode_errors += 1;
                    self.last_error = m.to_string();
                    return Ok(false);
                }
                Err(SymError::IoError(e)) => {
                    return Err(Error::Io {
                        path: self.path.clone(),
                        source: e,
                    })
                }
                Err(e) => {
                    return Err(Error::Corrupt {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    })
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(m)) => {
                    self.decode_errors += 1;
                    self.last_error = m.to_string();
                    continue;
                }
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(e) => {
                    return Err(Error::Corrupt {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    })
                }
            };
            let spec = *decoded.spec();
            let (r, c) = (spec.rate, spec.channels.count() as u16);
            let resampler = match &mut self.resampler {
                Some(res) => {
                    if res.in_rate() != r || res.channels() != c {
                        return Err(Error::Corrupt {
                            path: self.path.clone(),
                            reason: format!(
                                "the stream changes from {} Hz × {} channels to {r} Hz × {c} channels",
                                res.in_rate(),
                                res.channels()
                            ),
                        });
                    }
                    res
                }
                None => {
                    self.rate = Some(r);
                    self.channels = Some(c);
                    self.resampler.insert(Resampler::new(r, c).map_err(|e| {
                        Error::UnsupportedFormat {
                            path: self.path.clone(),
                            reason: e.to_string(),
                        }
                    })?)
                }
            };
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let buf = match &mut self.sample_buf {
                Some(b) if b.capacity() >= decoded.capacity() * usize::from(c) => b,
                _ => self
                    .sample_buf
                    .insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            self.source_frames += frames as u64;
            resampler.push(buf.samples(), &mut self.pending);
            return Ok(true);
        }
    }
}
