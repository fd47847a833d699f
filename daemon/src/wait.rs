//! Timed waits that cost (almost) nothing while the daemon idles.
//!
//! crossbeam's `recv_timeout` spins, then calls `sched_yield` several times,
//! before it parks the thread. For a loop that wakes 50–100 times a second to
//! look at an audio ring, that spinning was most of the daemon's CPU on a
//! silent microphone (strace of `serd` on silence: about 900 `sched_yield`
//! a second between the pipeline and the file input, 1.1 % of a core). The
//! polling loops instead sleep for their period and then look at their
//! command channel without blocking: one `clock_nanosleep` per wake-up. A
//! command that arrives during the sleep waits at most one period.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

/// The next message on `rx` if one is already queued; otherwise sleep `period`
/// and take one if it came meanwhile (`Timeout` if none did).
pub fn recv_or_sleep<T>(rx: &Receiver<T>, period: Duration) -> Result<T, RecvTimeoutError> {
    match rx.try_recv() {
        Ok(m) => return Ok(m),
        Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
        Err(TryRecvError::Empty) => {}
    }
    if period.is_zero() {
        return Err(RecvTimeoutError::Timeout);
    }
    std::thread::sleep(period);
    rx.try_recv().map_err(|e| match e {
        TryRecvError::Empty => RecvTimeoutError::Timeout,
        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_queued_message_comes_back_without_sleeping() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(7).unwrap();
        let t = Instant::now();
        assert_eq!(recv_or_sleep(&rx, Duration::from_secs(5)), Ok(7));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn an_empty_channel_times_out_after_the_period() {
        let (_tx, rx) = crossbeam_channel::unbounded::<u8>();
        let t = Instant::now();
        assert_eq!(
            recv_or_sleep(&rx, Duration::from_millis(30)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_message_sent_during_the_sleep_is_taken() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            tx.send("stop").unwrap();
            tx // keep the channel open until the receiver looked
        });
        let got = recv_or_sleep(&rx, Duration::from_millis(200));
        let _tx = sender.join().unwrap();
        assert_eq!(got, Ok("stop"));
    }

    #[test]
    fn a_closed_channel_is_reported() {
        let (tx, rx) = crossbeam_channel::unbounded::<u8>();
        drop(tx);
        assert_eq!(
            recv_or_sleep(&rx, Duration::from_millis(10)),
            Err(RecvTimeoutError::Disconnected)
        );
    }
}
