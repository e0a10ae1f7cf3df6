//! The time by which a connection must have taken an answer, past which the server
//! closes it.
//!
//! A handler that keeps an answer in memory until its connection has taken it (the RPC's
//! slow-action answers, counted against a memory limit) lets a client that asks and then
//! reads a byte now and then hold that memory for as long as the idle timeout lets it,
//! which any byte moved renews. Such a handler arms the connection's [`AnswerDeadline`]
//! (a request extension the server adds) when it hands the answer over, and disarms it
//! (by dropping the [`ArmedDeadline`]) once the last byte has been taken; the server
//! closes a connection whose deadline passes while it is still armed, dropping the
//! unwritten rest of the answer with it.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

/// The armed deadline of one connection, if any. `id` tells a later arming from the one a
/// late-dropped guard belongs to.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    id: u64,
    by: Option<Instant>,
}

/// Request extension: the deadline of the answer to this request's connection.
#[derive(Clone, Debug)]
pub struct AnswerDeadline(Arc<watch::Sender<Slot>>);

/// An armed deadline; dropping it disarms it (the answer has been taken, or given up).
#[derive(Debug)]
pub struct ArmedDeadline {
    slot: Arc<watch::Sender<Slot>>,
    id: u64,
    by: Instant,
}

impl AnswerDeadline {
    /// A connection's deadline, and the receiver its server watches.
    pub(crate) fn new() -> (AnswerDeadline, watch::Receiver<Slot>) {
        let (tx, rx) = watch::channel(Slot::default());
        (AnswerDeadline(Arc::new(tx)), rx)
    }

    /// Closes the connection at `by` unless the guard is dropped before.
    pub fn arm(&self, by: Instant) -> ArmedDeadline {
        let mut id = 0;
        self.0.send_modify(|s| {
            s.id += 1;
            s.by = Some(by);
            id = s.id;
        });
        ArmedDeadline {
            slot: self.0.clone(),
            id,
            by,
        }
    }
}

impl ArmedDeadline {
    /// Whether its time has come: a handler dropping its answer with the connection can
    /// tell a close for lateness from the client going away.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.by
    }
}

impl Drop for ArmedDeadline {
    fn drop(&mut self) {
        self.slot.send_if_modified(|s| {
            let mine = s.id == self.id && s.by.is_some();
            if mine {
                s.by = None;
            }
            mine
        });
    }
}

/// Resolves when an armed deadline passes while still armed; never while none is.
pub(crate) async fn passed(rx: &mut watch::Receiver<Slot>) {
    loop {
        let by = rx.borrow_and_update().by;
        let changed = async {
            if rx.changed().await.is_err() {
                // The connection's service is gone; nothing can arm it any more.
                std::future::pending::<()>().await;
            }
        };
        match by {
            None => changed.await,
            Some(by) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(by) => return,
                    _ = changed => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn an_armed_deadline_passes_and_a_disarmed_one_does_not() {
        let (d, mut rx) = AnswerDeadline::new();
        let start = Instant::now();
        // Armed then disarmed: nothing passes, however long.
        let guard = d.arm(start + Duration::from_secs(1));
        assert!(!guard.passed());
        drop(guard);
        let waited = tokio::time::timeout(Duration::from_secs(5), passed(&mut rx)).await;
        assert!(waited.is_err(), "a disarmed deadline must not pass");
        // Armed and kept: passes at its time.
        let at = Instant::now() + Duration::from_secs(2);
        let guard = d.arm(at);
        passed(&mut rx).await;
        assert_eq!(Instant::now(), at);
        assert!(guard.passed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_guard_does_not_disarm_the_next_answer() {
        let (d, mut rx) = AnswerDeadline::new();
        let first = d.arm(Instant::now() + Duration::from_secs(10));
        let at = Instant::now() + Duration::from_secs(3);
        let _second = d.arm(at);
        // The first answer's guard dropped after the second was armed.
        drop(first);
        passed(&mut rx).await;
        assert_eq!(Instant::now(), at);
    }
}
