//! Live capture with cpal: the only module that talks to the sound system.
//!
//! * The data callback never blocks or allocates: it converts samples to f32
//!   into the SPSC ring (`push_iter`) and counts an overrun (an `AtomicU64`)
//!   when the ring is full, and stamps the time of the last callback.
//! * The error callback flags the stream dead. The supervisor
//!   ([`run`]) then reopens it with backoff (0.5 s doubling to 10 s), and does
//!   the same when no device can be opened (state `no_device` with the
//!   reason) or when a stream silently stops delivering callbacks for more
//!   than [`STALL_TIMEOUT`].
//! * The device is the configured one (`--device` / `[audio] device`) or the
//!   host's default input. 16 kHz mono is preferred when offered, else the
//!   device's native configuration. With a nonzero `buffer_frames` a fixed
//!   buffer size is asked for (the PulseAudio route can otherwise deliver 2 s
//!   callbacks); if the device refuses it, the host's default is used.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ringbuf::traits::{Observer, Producer};
use ringbuf::HeapProd;
use ser_ctl::protocol::{DaemonState, Device};

use super::{ring, PipelineMsg};
use crate::core::{AudioCommand, Core};

/// No callback for this long while listening means the stream died silently.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the supervisor looks at its commands and the stream's health.
const SUPERVISE_PERIOD: Duration = Duration::from_millis(100);

/// A device's name as `--device` takes it and `devices` lists it: the
/// host's identifier (for ALSA the PCM name: `default`, `pulse`,
/// `sysdefault:CARD=PCH`), else its description.
pub fn device_name(d: &cpal::Device) -> String {
    match d.id() {
        Ok(id) if !id.id().is_empty() => id.id().to_string(),
        _ => d.to_string(),
    }
}

/// The sound system's one-line description of a device, when it has one
/// that says more than its name.
fn device_description(d: &cpal::Device, name: &str) -> Option<String> {
    let desc = d.description().ok()?;
    let text = desc.name().trim();
    (!text.is_empty() && text != name).then(|| text.to_string())
}

/// ALSA PCMs that are plugins rather than capture sources: the null device,
/// rate converters, up/down-mixers, a DSP filter and output-only PCMs.
/// `devices` leaves them out unless asked for all; they can still be named.
pub fn is_capture_source(name: &str) -> bool {
    let base = name.split(':').next().unwrap_or(name);
    let plugin = matches!(base, "null" | "upmix" | "vdownmix" | "speex")
        || [
            "lavrate",
            "samplerate",
            "speexrate",
            "surround",
            "iec958",
            "hdmi",
            "dmix",
        ]
        .iter()
        .any(|p| base.starts_with(p));
    // ALSA's OSS plugin opens /dev/dsp, which modern systems do not have
    let dead_oss = base == "oss" && !std::path::Path::new("/dev/dsp").exists();
    !plugin && !dead_oss
}

/// The devices for the `devices` request; `in_use` is the open device's
/// name; `all` keeps the plugins [`is_capture_source`] leaves out.
pub fn list_devices(in_use: Option<&str>, all: bool) -> Vec<Device> {
    let host = cpal::default_host();
    let default_dev = host.default_input_device();
    let default = default_dev.as_ref().map(device_name);
    let mut out: Vec<Device> = Vec::new();
    match host.input_devices() {
        Ok(devs) => {
            for d in devs {
                let name = device_name(&d);
                if out.iter().any(|o| o.name == name) || !(all || is_capture_source(&name)) {
                    continue;
                }
                out.push(Device {
                    default: default.as_deref() == Some(name.as_str()),
                    in_use: in_use == Some(name.as_str()),
                    description: device_description(&d, &name),
                    name,
                });
            }
        }
        Err(e) => tracing::warn!("cannot list input devices: {e}"),
    }
    // ALSA's "default" PCM (what an empty `[audio] device` opens) is not
    // always enumerated: list it first so it can be seen, chosen and shown in use.
    if let (Some(d), Some(name)) = (default_dev, default) {
        if !out.iter().any(|o| o.name == name) {
            out.insert(
                0,
                Device {
                    default: true,
                    in_use: in_use == Some(name.as_str()),
                    description: device_description(&d, &name),
                    name,
                },
            );
        }
    }
    out
}

/// State shared between a stream's callbacks and the supervisor.
struct StreamFlags {
    base: Instant,
    /// Milliseconds since `base` of the last data callback (0: none yet).
    last_data_ms: AtomicU64,
    dead: AtomicBool,
    error: Mutex<Option<String>>,
}

struct Open {
    _stream: cpal::Stream,
    flags: Arc<StreamFlags>,
    name: String,
    opened: Instant,
}

/// The configured device: by name (the ALSA PCM name `devices` lists), or by
/// its description when exactly one device has it (what names were before).
fn find_device(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, String> {
    if wanted.is_empty() {
        return host
            .default_input_device()
            .ok_or_else(|| "no default input device".to_string());
    }
    if let Some(d) = host.default_input_device() {
        if device_name(&d) == wanted {
            return Ok(d);
        }
    }
    let devs: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| format!("cannot list input devices: {e}"))?
        .collect();
    if let Some(d) = devs.iter().find(|d| device_name(d) == wanted) {
        return Ok(d.clone());
    }
    let described: Vec<&cpal::Device> = devs.iter().filter(|d| d.to_string() == wanted).collect();
    if let [d] = described.as_slice() {
        return Ok((*d).clone());
    }
    let names: Vec<String> = devs
        .iter()
        .map(device_name)
        .filter(|n| is_capture_source(n))
        .collect();
    Err(format!(
        "input device {wanted:?} not found (available: {}; `serctl devices --all` lists every one)",
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    ))
}

fn choose_config(dev: &cpal::Device) -> Result<cpal::SupportedStreamConfig, String> {
    let usable = |f: SampleFormat| {
        matches!(
            f,
            SampleFormat::F32 | SampleFormat::I16 | SampleFormat::I32 | SampleFormat::U16
        )
    };
    if let Ok(ranges) = dev.supported_input_configs() {
        let mut best = None;
        for r in ranges {
            if r.channels() == 1 && usable(r.sample_format()) {
                if let Some(c) = r.try_with_sample_rate(16_000) {
                    let prefer = c.sample_format() == SampleFormat::I16;
                    if prefer || best.is_none() {
                        best = Some(c);
                    }
                }
            }
        }
        if let Some(c) = best {
            return Ok(c);
        }
    }
    let c = dev
        .default_input_config()
        .map_err(|e| format!("no usable input configuration: {e}"))?;
    if !usable(c.sample_format()) {
        return Err(format!("unsupported sample format {:?}", c.sample_format()));
    }
    Ok(c)
}

fn build<T>(
    dev: &cpal::Device,
    config: &StreamConfig,
    mut prod: HeapProd<f32>,
    flags: Arc<StreamFlags>,
    overruns: Arc<std::sync::atomic::AtomicU64>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let f2 = flags.clone();
    dev.build_input_stream::<T, _, _>(
        *config,
        move |data: &[T], _| {
            // Real-time context: no locks, no allocation.
            // All or nothing, so interleaved channels never slip.
            if prod.vacant_len() >= data.len() {
                prod.push_iter(data.iter().map(|&s| f32::from_sample_(s)));
            } else {
                overruns.fetch_add(1, Ordering::Relaxed);
            }
            let ms = flags.base.elapsed().as_millis() as u64;
            flags.last_data_ms.store(ms.max(1), Ordering::Relaxed);
        },
        move |err| {
            if let Ok(mut e) = f2.error.lock() {
                *e = Some(err.to_string());
            }
            f2.dead.store(true, Ordering::SeqCst);
        },
        Some(Duration::from_secs(5)),
    )
}

fn open(core: &Core, device: &str, pipe: &Sender<PipelineMsg>) -> Result<Open, String> {
    let host = cpal::default_host();
    let dev = find_device(&host, device)?;
    let name = device_name(&dev);
    let supported = choose_config(&dev)?;
    let frames = core.config().audio.buffer_frames;
    let mut config = supported.config();
    let sizes = if frames > 0 {
        vec![BufferSize::Fixed(frames), BufferSize::Default]
    } else {
        vec![BufferSize::Default]
    };
    let mut last_err = String::new();
    for size in sizes {
        config.buffer_size = size;
        let (prod, cons) = ring(config.sample_rate, config.channels);
        let flags = Arc::new(StreamFlags {
            base: Instant::now(),
            last_data_ms: AtomicU64::new(0),
            dead: AtomicBool::new(false),
            error: Mutex::new(None),
        });
        let overruns = core.overruns.clone();
        let built = match supported.sample_format() {
            SampleFormat::I16 => build::<i16>(&dev, &config, prod, flags.clone(), overruns),
            SampleFormat::I32 => build::<i32>(&dev, &config, prod, flags.clone(), overruns),
            SampleFormat::U16 => build::<u16>(&dev, &config, prod, flags.clone(), overruns),
            _ => build::<f32>(&dev, &config, prod, flags.clone(), overruns),
        };
        match built {
            Ok(stream) => {
                stream
                    .play()
                    .map_err(|e| format!("cannot start capture on {name}: {e}"))?;
                tracing::info!(
                    device = %name,
                    rate = config.sample_rate,
                    channels = config.channels,
                    format = ?supported.sample_format(),
                    buffer = ?config.buffer_size,
                    "capture opened"
                );
                let _ = pipe.send(PipelineMsg::Source {
                    ring: cons,
                    rate: config.sample_rate,
                    channels: config.channels,
                    name: name.clone(),
                    lossless: false,
                });
                return Ok(Open {
                    _stream: stream,
                    flags,
                    name,
                    opened: Instant::now(),
                });
            }
            Err(e) => {
                tracing::debug!(device = %name, buffer = ?config.buffer_size, "cannot open: {e}");
                last_err = format!("cannot open {name}: {e}");
            }
        }
    }
    Err(last_err)
}

/// Why an open stream should be dropped, if it should.
fn health(o: &Open) -> Option<String> {
    if o.flags.dead.load(Ordering::SeqCst) {
        let e = o.flags.error.lock().ok().and_then(|e| e.clone());
        return Some(format!(
            "input stream failed: {}",
            e.unwrap_or_else(|| "unknown error".into())
        ));
    }
    let last = o.flags.last_data_ms.load(Ordering::Relaxed);
    let since = if last == 0 {
        o.opened.elapsed()
    } else {
        o.flags
            .base
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    };
    // Opening can take a few seconds before the first callback (TEST-RIG §2).
    let limit = if last == 0 {
        STALL_TIMEOUT * 3
    } else {
        STALL_TIMEOUT
    };
    (since > limit).then(|| format!("no audio from {} for {:.1} s", o.name, since.as_secs_f32()))
}

/// The capture supervisor: owns the stream, obeys [`AudioCommand`]s, reopens with backoff.
pub fn run(
    core: Arc<Core>,
    device: String,
    commands: Receiver<AudioCommand>,
    pipe: Sender<PipelineMsg>,
) {
    let mut stream: Option<Open> = None;
    let mut paused = false;
    let mut backoff = MIN_BACKOFF;
    let mut next_try = Instant::now();
    let mut device = device;
    loop {
        match crate::wait::recv_or_sleep(&commands, SUPERVISE_PERIOD) {
            Ok(AudioCommand::Pause(ack)) => {
                if stream.take().is_some() {
                    let _ = pipe.send(PipelineMsg::Flush);
                }
                paused = true;
                core.set_state(DaemonState::Paused, None, None);
                let _ = ack.send(DaemonState::Paused);
            }
            Ok(AudioCommand::Resume(ack)) => {
                if paused {
                    paused = false;
                    backoff = MIN_BACKOFF;
                    next_try = Instant::now();
                    try_open(
                        &core,
                        &device,
                        &pipe,
                        &mut stream,
                        &mut backoff,
                        &mut next_try,
                    );
                }
                let _ = ack.send(core.state());
            }
            Ok(AudioCommand::Reconfigure) => {
                let cfg_dev = core.config().audio.device;
                if !cfg_dev.is_empty() {
                    device = cfg_dev;
                }
                if !paused {
                    if stream.take().is_some() {
                        let _ = pipe.send(PipelineMsg::Flush);
                    }
                    next_try = Instant::now();
                }
            }
            Ok(AudioCommand::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                drop(stream.take());
                let _ = pipe.send(PipelineMsg::Shutdown);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if paused {
            continue;
        }
        if let Some(reason) = stream.as_ref().and_then(health) {
            tracing::warn!("{reason}; reopening");
            stream = None;
            let _ = pipe.send(PipelineMsg::Flush);
            core.set_state(DaemonState::NoDevice, None, Some(reason));
            next_try = Instant::now() + backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        if let Some(o) = &stream {
            if o.flags.last_data_ms.load(Ordering::Relaxed) > 0 {
                backoff = MIN_BACKOFF;
                core.set_state(DaemonState::Listening, Some(o.name.clone()), None);
            }
        } else if Instant::now() >= next_try {
            try_open(
                &core,
                &device,
                &pipe,
                &mut stream,
                &mut backoff,
                &mut next_try,
            );
        }
    }
}

fn try_open(
    core: &Core,
    device: &str,
    pipe: &Sender<PipelineMsg>,
    stream: &mut Option<Open>,
    backoff: &mut Duration,
    next_try: &mut Instant,
) {
    match open(core, device, pipe) {
        Ok(o) => *stream = Some(o),
        Err(reason) => {
            tracing::warn!("{reason}; retrying in {:.1} s", backoff.as_secs_f32());
            core.set_state(DaemonState::NoDevice, None, Some(reason));
            *next_try = Instant::now() + *backoff;
            *backoff = (*backoff * 2).min(MAX_BACKOFF);
        }
    }
}
