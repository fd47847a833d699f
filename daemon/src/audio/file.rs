//! File input (`--input file:PATH`): the file is decoded as it is fed (20 ms
//! at a time, so a long recording never sits in memory whole) into the same
//! kind of ring the microphone fills, at real-time pace (20 ms blocks on a
//! fixed schedule) or as fast as the pipeline drains it (`--pace max`), so it
//! goes through exactly the live pipeline. When the file ends the daemon
//! stays up, `listening` with the reason "input exhausted", unless asked to
//! exit after the input.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ringbuf::traits::{Observer, Producer};
use ser_ctl::protocol::DaemonState;

use super::{ring, PipelineMsg};
use crate::core::{AudioCommand, Core, StopReason};
use crate::engine::{InputFile, SAMPLE_RATE};

/// How a file is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pace {
    /// As fast as a microphone would deliver it.
    Realtime,
    /// As fast as the pipeline takes it (never drops).
    Max,
}

const BLOCK: Duration = Duration::from_millis(20);

/// Feeds `input` (opened from `path`) into the pipeline, obeying commands.
pub fn run(
    core: Arc<Core>,
    path: PathBuf,
    mut input: InputFile,
    pace: Pace,
    exit_after: bool,
    commands: Receiver<AudioCommand>,
    pipe: Sender<PipelineMsg>,
) {
    let name = format!("file:{}", path.display());
    let block = (SAMPLE_RATE as usize * BLOCK.as_millis() as usize / 1000).max(1);
    // The block read from the file and not yet in the ring.
    let mut buf: Vec<f32> = Vec::with_capacity(block);
    let mut paused = false;
    let mut done = false;
    let mut prod = None;
    let mut schedule = Instant::now();
    let open = |prod: &mut Option<ringbuf::HeapProd<f32>>| {
        let (p, c) = ring(SAMPLE_RATE, 1);
        let _ = pipe.send(PipelineMsg::Source {
            ring: c,
            rate: SAMPLE_RATE,
            channels: 1,
            name: name.clone(),
            lossless: matches!(pace, Pace::Max),
        });
        *prod = Some(p);
        core.set_state(DaemonState::Listening, Some(name.clone()), None);
    };
    open(&mut prod);
    let mut exhausted = "input exhausted".to_string();
    loop {
        let command = if paused || done {
            // Nothing to feed and nothing timed: block on the commands (no
            // wake-ups while idle), so a resume is answered at once.
            commands.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            let wait = match pace {
                Pace::Realtime => schedule.saturating_duration_since(Instant::now()),
                Pace::Max => Duration::ZERO,
            };
            crate::wait::recv_or_sleep(&commands, wait)
        };
        match command {
            Ok(AudioCommand::Pause(ack)) => {
                if !paused && prod.take().is_some() {
                    let _ = pipe.send(PipelineMsg::Flush);
                }
                paused = true;
                core.set_state(DaemonState::Paused, None, None);
                let _ = ack.send(DaemonState::Paused);
                continue;
            }
            Ok(AudioCommand::Resume(ack)) => {
                if paused {
                    paused = false;
                    open(&mut prod);
                    if done {
                        core.set_state(
                            DaemonState::Listening,
                            Some(name.clone()),
                            Some(exhausted.clone()),
                        );
                    }
                    schedule = Instant::now();
                }
                let _ = ack.send(core.state());
                continue;
            }
            Ok(AudioCommand::Reconfigure) => continue,
            Ok(AudioCommand::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                let _ = pipe.send(PipelineMsg::Shutdown);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if paused || done {
            continue;
        }
        let Some(p) = prod.as_mut() else { continue };
        let mut end = false;
        // A whole block (decoded packets need not fall on block boundaries),
        // unless the file ends first.
        while buf.len() < block && !end {
            let want = block - buf.len();
            match input.read(&mut buf, want) {
                Ok(0) => end = true,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("{e}; the input ends here");
                    exhausted = format!("input exhausted early: {e}");
                    end = true;
                }
            }
        }
        if !buf.is_empty() {
            match pace {
                Pace::Realtime => {
                    let pushed = p.push_slice(&buf);
                    if pushed < buf.len() {
                        core.overruns
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    schedule += Duration::from_secs_f64(buf.len() as f64 / f64::from(SAMPLE_RATE));
                    buf.clear();
                }
                Pace::Max => {
                    if p.vacant_len() < buf.len() {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    p.push_slice(&buf);
                    buf.clear();
                }
            }
        }
        if end {
            done = true;
            // Drop the producer: the pipeline drains what is left, then flushes.
            prod = None;
            let _ = pipe.send(PipelineMsg::Flush);
            tracing::info!(file = %path.display(), "input exhausted");
            core.set_state(
                DaemonState::Listening,
                Some(name.clone()),
                Some(exhausted.clone()),
            );
            if exit_after {
                core.request_stop(StopReason::InputDone);
            }
        }
    }
}
