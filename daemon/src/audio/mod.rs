//! Audio input: the live microphone ([`capture`], the only cpal code) or a
//! file fed at real-time pace ([`file`]). Both write interleaved f32 samples
//! at the input's own rate into a pre-sized lock-free SPSC ring and hand the
//! ring's consumer to the pipeline thread ([`crate::pipeline`]), so both go
//! through exactly the same resampler, segmenter and classifier.

pub mod capture;
pub mod file;

use ringbuf::traits::Split;
use ringbuf::{HeapCons, HeapProd, HeapRb};

/// Seconds of audio the ring holds before the capture side counts overruns.
pub const RING_SECONDS: usize = 4;

/// What the audio side tells the pipeline thread.
pub enum PipelineMsg {
    /// A new input: drain `ring`, which carries `channels`-interleaved f32 at `rate` Hz.
    Source {
        ring: HeapCons<f32>,
        rate: u32,
        channels: u16,
        name: String,
        /// Wait for the classifier instead of dropping utterances when it
        /// falls behind (a file at `--pace max`: its reader waits in turn).
        /// Live inputs never wait: the VAD must keep up with the device.
        lossless: bool,
    },
    /// The input ended or was closed (pause, device lost): finish the utterance in hand.
    Flush,
    /// Finish the utterance in hand and exit.
    Shutdown,
}

/// A ring sized for [`RING_SECONDS`] of this input.
pub fn ring(rate: u32, channels: u16) -> (HeapProd<f32>, HeapCons<f32>) {
    let cap = (rate as usize * channels.max(1) as usize * RING_SECONDS).max(4096);
    HeapRb::<f32>::new(cap).split()
}
