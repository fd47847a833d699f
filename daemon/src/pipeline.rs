//! The pipeline thread (ring → 16 kHz mono → VAD segmenter) and the
//! classifier thread (features + inference → [`Core::publish`]).
//!
//! The pipeline hands finished utterances to the classifier through a
//! bounded channel with `try_send`, so voice detection never waits for
//! inference; if the classifier falls [`JOB_QUEUE`] utterances behind, the
//! newest is dropped with a warning. A file fed at `--pace max` is the
//! exception: there the pipeline waits for the classifier (and the file
//! reader for the pipeline), so no utterance is lost.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use ringbuf::traits::{Consumer, Observer};
use ringbuf::HeapCons;

use crate::audio::PipelineMsg;
use crate::core::Core;
use crate::engine::{Resampler, Segment, Segmenter, SAMPLE_RATE};

/// Utterances waiting for the classifier before new ones are dropped.
pub const JOB_QUEUE: usize = 16;

/// How often the pipeline drains the input ring (it holds
/// [`crate::audio::RING_SECONDS`]); a VAD frame is 30 ms.
pub const DRAIN_PERIOD: Duration = Duration::from_millis(20);

/// One utterance to classify.
#[derive(Debug)]
pub struct Job {
    /// Wall-clock time of its first sample.
    pub start: DateTime<Utc>,
    /// 16 kHz mono.
    pub samples: Vec<f32>,
}

struct Active {
    ring: HeapCons<f32>,
    channels: usize,
    resampler: Resampler,
    segmenter: Segmenter,
    /// 16 kHz samples given to the segmenter so far.
    fed: u64,
    /// Wall-clock time the input was opened.
    opened: DateTime<Utc>,
    name: String,
    /// Block on a full job queue instead of dropping (see `PipelineMsg::Source`).
    lossless: bool,
}

/// Runs the pipeline until [`PipelineMsg::Shutdown`] (or the sender goes away).
pub fn run(core: Arc<Core>, rx: Receiver<PipelineMsg>, jobs: Sender<Job>) {
    let mut active: Option<Active> = None;
    let mut buf = vec![0f32; 16 * 1024];
    let mut out16 = Vec::with_capacity(16 * 1024);
    let mut segs = Vec::new();
    loop {
        let msg = crate::wait::recv_or_sleep(&rx, DRAIN_PERIOD);
        if let Some(a) = active.as_mut() {
            drain(a, &mut buf, &mut out16, &mut segs, &jobs);
        }
        match msg {
            Ok(PipelineMsg::Source {
                ring,
                rate,
                channels,
                name,
                lossless,
            }) => {
                if let Some(a) = active.take() {
                    finish(a, &mut out16, &mut segs, &jobs);
                }
                let vad = core.config().vad;
                match (Resampler::new(rate, channels), Segmenter::new(&vad)) {
                    (Ok(resampler), Ok(segmenter)) => {
                        tracing::debug!(input = %name, rate, channels, "pipeline source");
                        active = Some(Active {
                            ring,
                            channels: channels.max(1) as usize,
                            resampler,
                            segmenter,
                            fed: 0,
                            opened: Utc::now(),
                            name,
                            lossless,
                        });
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::error!(input = %name, "cannot process this input: {e}")
                    }
                }
            }
            Ok(PipelineMsg::Flush) => {
                if let Some(a) = active.take() {
                    finish(a, &mut out16, &mut segs, &jobs);
                }
            }
            Ok(PipelineMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(a) = active.take() {
                    finish(a, &mut out16, &mut segs, &jobs);
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

fn drain(
    a: &mut Active,
    buf: &mut [f32],
    out16: &mut Vec<f32>,
    segs: &mut Vec<Segment>,
    jobs: &Sender<Job>,
) {
    let whole = buf.len() / a.channels * a.channels;
    loop {
        // Whole frames only, so channels never slip.
        let n = (a.ring.occupied_len() / a.channels * a.channels).min(whole);
        if n == 0 {
            return;
        }
        let got = a.ring.pop_slice(&mut buf[..n]);
        out16.clear();
        a.resampler.push(&buf[..got], out16);
        feed(a, out16, segs, jobs);
    }
}

fn feed(a: &mut Active, out16: &[f32], segs: &mut Vec<Segment>, jobs: &Sender<Job>) {
    if out16.is_empty() {
        return;
    }
    segs.clear();
    a.segmenter.push(out16, segs);
    a.fed += out16.len() as u64;
    emit(a, segs, jobs);
}

fn emit(a: &Active, segs: &mut Vec<Segment>, jobs: &Sender<Job>) {
    let now = Utc::now();
    for s in segs.drain(..) {
        // Live audio: the last sample fed is "now", so the utterance began
        // that many samples earlier (robust to lost blocks). Audio fed faster
        // than real time (`--pace max`) would land before the input opened,
        // so it is placed on the input's own timeline instead, never later than now.
        let us = |samples: u64| {
            chrono::Duration::microseconds((samples as f64 * 1e6 / f64::from(SAMPLE_RATE)) as i64)
        };
        let from_now = now - us(a.fed.saturating_sub(s.start_sample));
        let from_open = a.opened + us(s.start_sample);
        let start = from_now.max(from_open).min(now);
        let job = Job {
            start,
            samples: s.samples,
        };
        if a.lossless {
            let _ = jobs.send(job); // Err only when the classifier has exited
            continue;
        }
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(input = %a.name, "classifier is {JOB_QUEUE} utterances behind; dropping one")
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Drains the rest of an input and emits the utterance in hand.
fn finish(mut a: Active, out16: &mut Vec<f32>, segs: &mut Vec<Segment>, jobs: &Sender<Job>) {
    let mut buf = vec![0f32; 16 * 1024];
    drain(&mut a, &mut buf, out16, segs, jobs);
    out16.clear();
    a.resampler.flush(out16);
    let tail = std::mem::take(out16);
    feed(&mut a, &tail, segs, jobs);
    *out16 = tail;
    segs.clear();
    a.segmenter.flush(segs);
    emit(&a, segs, jobs);
}

/// The classifier thread: classifies each job and publishes the result.
pub fn classify(core: Arc<Core>, jobs: Receiver<Job>) {
    for job in jobs {
        let duration_s = job.samples.len() as f64 / f64::from(SAMPLE_RATE);
        match core.engine.classify(&job.samples) {
            Ok(probs) => {
                core.publish(job.start, duration_s, probs);
            }
            Err(e) => tracing::warn!("cannot classify an utterance of {duration_s:.2} s: {e}"),
        }
    }
}
